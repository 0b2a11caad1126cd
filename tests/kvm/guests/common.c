#include "guest.h"

void* memset(void* d, int c, unsigned long n) {
    volatile uint8_t* p = d;
    while (n--) *p++ = (uint8_t)c;
    return d;
}

void* memcpy(void* d, const void* s, unsigned long n) {
    volatile uint8_t* dp = d;
    const volatile uint8_t* sp = s;
    while (n--) *dp++ = *sp++;
    return d;
}

uint32_t virtio_start(uint64_t base, uint64_t features, struct virtq* queues, int count,
                      uint8_t* ring_memory) {
    mmio_write32(base + 0x70, 0);
    mmio_write32(base + 0x70, 1);
    mmio_write32(base + 0x70, 3);
    features |= 1ull << 32;
    mmio_write32(base + 0x24, 0);
    mmio_write32(base + 0x20, (uint32_t)features);
    mmio_write32(base + 0x24, 1);
    mmio_write32(base + 0x20, (uint32_t)(features >> 32));
    mmio_write32(base + 0x70, 11);
    if (!(mmio_read32(base + 0x70) & 8)) return mmio_read32(base + 0x70);
    for (int i = 0; i < count; ++i) {
        struct virtq* q = &queues[i];
        uint8_t* ring = ring_memory + i * 4096;
        memset(ring, 0, 4096);
        q->base = base;
        q->index = (uint16_t)i;
        q->desc = (volatile struct virtq_desc*)ring;
        q->avail = (volatile struct virtq_avail*)(ring + 16 * QUEUE_SIZE);
        q->used = (volatile struct virtq_used*)(ring + 2048);
        q->next_desc = q->avail_idx = q->last_used = 0;
        mmio_write32(base + 0x30, (uint32_t)i);
        mmio_write32(base + 0x38, QUEUE_SIZE);
        mmio_write32(base + 0x80, (uint32_t)(uint64_t)q->desc);
        mmio_write32(base + 0x84, 0);
        mmio_write32(base + 0x90, (uint32_t)(uint64_t)q->avail);
        mmio_write32(base + 0x94, 0);
        mmio_write32(base + 0xa0, (uint32_t)(uint64_t)q->used);
        mmio_write32(base + 0xa4, 0);
        mmio_write32(base + 0x44, 1);
    }
    mmio_write32(base + 0x70, 15);
    return mmio_read32(base + 0x70);
}

uint16_t virtq_submit(struct virtq* q, const struct buf* bufs, int n) {
    uint16_t head = q->next_desc;
    for (int i = 0; i < n; ++i) {
        uint16_t d = (uint16_t)((head + i) % QUEUE_SIZE);
        q->desc[d].addr = bufs[i].addr;
        q->desc[d].len = bufs[i].len;
        q->desc[d].flags = (uint16_t)((i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
                                      (bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0));
        q->desc[d].next = (uint16_t)((head + i + 1) % QUEUE_SIZE);
    }
    q->next_desc = (uint16_t)((head + n) % QUEUE_SIZE);
    q->avail->ring[q->avail_idx % QUEUE_SIZE] = head;
    barrier();
    q->avail_idx++;
    q->avail->idx = q->avail_idx;
    barrier();
    return head;
}

void virtq_notify(struct virtq* q) {
    mmio_write32(q->base + 0x50, q->index);
}

uint32_t virtq_wait(struct virtq* q, uint32_t* id) {
    while (q->used->idx == q->last_used) pause();
    barrier();
    volatile struct virtq_used_elem* e = &q->used->ring[q->last_used % QUEUE_SIZE];
    if (id) *id = e->id;
    uint32_t len = e->len;
    q->last_used++;
    return len;
}

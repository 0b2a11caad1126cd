/* A hostile driver for the virtio-blk device in slot 0: buffers outside RAM, a looping chain,
   a chain pointing past the table, an oversized request; each must come back used with
   length 0 while a good request still works; then an available index that runs ahead, which
   must make the device ask for a reset. */
#include "guest.h"

static uint8_t rings[4096] __attribute__((aligned(4096)));
static uint8_t header[16] __attribute__((aligned(16)));
static uint8_t data[512] __attribute__((aligned(512)));
static uint8_t status;

static void desc(struct virtq* q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next) {
    q->desc[i].addr = addr;
    q->desc[i].len = len;
    q->desc[i].flags = flags;
    q->desc[i].next = next;
}

static void publish(struct virtq* q, uint16_t head) {
    q->avail->ring[q->avail_idx % QUEUE_SIZE] = head;
    barrier();
    q->avail_idx++;
    q->avail->idx = q->avail_idx;
    barrier();
    virtq_notify(q);
}

int main(void) {
    struct virtq q;
    report(virtio_start(VIRTIO_BASE(0), 0, &q, 1, rings));
    memset(header, 0, sizeof header); /* a read of sector 0 */

    /* Data buffer far outside guest RAM. */
    desc(&q, 0, (uint64_t)header, 16, VIRTQ_DESC_F_NEXT, 1);
    desc(&q, 1, 0xfff00000ull, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    desc(&q, 2, (uint64_t)&status, 1, VIRTQ_DESC_F_WRITE, 0);
    publish(&q, 0);
    report(virtq_wait(&q, 0));

    /* A chain that loops: 3 -> 4 -> 3. */
    desc(&q, 3, (uint64_t)header, 16, VIRTQ_DESC_F_NEXT, 4);
    desc(&q, 4, (uint64_t)data, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
    publish(&q, 3);
    report(virtq_wait(&q, 0));

    /* A next index past the table. */
    desc(&q, 5, (uint64_t)header, 16, VIRTQ_DESC_F_NEXT, 200);
    publish(&q, 5);
    report(virtq_wait(&q, 0));

    /* 10 x 2 MiB of writable buffers: more than any request may be. */
    desc(&q, 6, (uint64_t)header, 16, VIRTQ_DESC_F_NEXT, 7);
    for (uint16_t i = 7; i < 15; ++i)
        desc(&q, i, 0x200000, 2u << 20, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(i + 1));
    desc(&q, 15, (uint64_t)&status, 1, VIRTQ_DESC_F_WRITE, 0);
    publish(&q, 6);
    report(virtq_wait(&q, 0));

    /* A good request still works. */
    desc(&q, 0, (uint64_t)header, 16, VIRTQ_DESC_F_NEXT, 1);
    desc(&q, 1, (uint64_t)data, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    desc(&q, 2, (uint64_t)&status, 1, VIRTQ_DESC_F_WRITE, 0);
    status = 0xee;
    publish(&q, 0);
    report(virtq_wait(&q, 0));
    report(status);

    /* The available index jumps far ahead: the ring is corrupt. */
    q.avail->idx = (uint16_t)(q.avail_idx + 100);
    virtq_notify(&q);
    uint32_t s = 0;
    for (int i = 0; i < 10000000 && !(s & 0x40); ++i) s = mmio_read32(VIRTIO_BASE(0) + 0x70);
    report(s & 0x40);
    return 0;
}

/* What the freestanding test guests share: port and MMIO access, the result port the tests
   read, and a minimal virtio-mmio driver (split rings). */
#pragma once

#include <stdint.h>

#define RESULT_PORT 0x500  /* 32-bit writes are recorded by the test */
#define CONTROL_PORT 0x504 /* test-specific actions on the host side */

static inline void outb(uint16_t port, uint8_t v) {
    __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline void outl(uint16_t port, uint32_t v) {
    __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline void mmio_write32(uint64_t a, uint32_t v) {
    *(volatile uint32_t*)a = v;
}
static inline uint32_t mmio_read32(uint64_t a) {
    return *(volatile uint32_t*)a;
}
static inline void barrier(void) {
    __asm__ volatile("" ::: "memory");
}
static inline void pause(void) {
    __asm__ volatile("pause");
}
static inline void report(uint32_t v) {
    outl(RESULT_PORT, v);
}

void* memset(void* d, int c, unsigned long n);
void* memcpy(void* d, const void* s, unsigned long n);

/* virtio-mmio */
#define VIRTIO_BASE(slot) (0xc0001000ull + (uint64_t)(slot)*0x1000)
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];
};
struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};
struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[];
};

#define QUEUE_SIZE 16
struct virtq {
    uint64_t base; /* transport */
    uint16_t index;
    volatile struct virtq_desc* desc;
    volatile struct virtq_avail* avail;
    volatile struct virtq_used* used;
    uint16_t next_desc;
    uint16_t avail_idx;
    uint16_t last_used;
};

/* Negotiates VERSION_1 plus `features`, sets up `count` queues in `ring_memory` (4 KiB each),
   sets DRIVER_OK. Returns the status register. */
uint32_t virtio_start(uint64_t base, uint64_t features, struct virtq* queues, int count,
                      uint8_t* ring_memory);
/* Adds a chain; returns its head. `lens` of 0 mark the end. */
struct buf {
    uint64_t addr;
    uint32_t len;
    int writable;
};
uint16_t virtq_submit(struct virtq* q, const struct buf* bufs, int n);
void virtq_notify(struct virtq* q);
/* Spins until the device returns a chain; returns its written length. */
uint32_t virtq_wait(struct virtq* q, uint32_t* id);

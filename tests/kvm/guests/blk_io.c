/* Drives the virtio-blk device in slot 0 through a real virtqueue: reads sector 2, writes
   sector 5, flushes, and reports what it saw. */
#include "guest.h"

static uint8_t rings[4096] __attribute__((aligned(4096)));
static uint8_t header[16] __attribute__((aligned(16)));
static uint8_t data[512] __attribute__((aligned(512)));
static uint8_t status;

static uint32_t request(struct virtq* q, uint32_t type, uint64_t sector, int data_len,
                        int device_writes) {
    memset(header, 0, sizeof header);
    memcpy(header, &type, 4);
    memcpy(header + 8, &sector, 8);
    status = 0xee;
    struct buf bufs[3] = {{(uint64_t)header, 16, 0},
                          {(uint64_t)data, (uint32_t)data_len, device_writes},
                          {(uint64_t)&status, 1, 1}};
    if (data_len) {
        virtq_submit(q, bufs, 3);
    } else {
        bufs[1] = bufs[2];
        virtq_submit(q, bufs, 2);
    }
    virtq_notify(q);
    return virtq_wait(q, 0);
}

int main(void) {
    struct virtq q;
    report(virtio_start(VIRTIO_BASE(0), 1ull << 9, &q, 1, rings)); /* FLUSH */
    report(request(&q, 0, 2, 512, 1));
    report(status);
    report(data[0] | (uint32_t)data[511] << 8);
    memset(data, 0xa5, sizeof data);
    request(&q, 1, 5, 512, 0);
    report(status);
    request(&q, 4, 0, 0, 0);
    report(status);
    return 0;
}

/* Bulk data through the virtio-console port in slot 0. Out: 2 MiB, one 16 KiB buffer sent 128
   times. Echo: every buffer received is sent back as it is, until 1 MiB went round. The guest
   touches no byte itself (on an emulating backend that would dominate the time); the host checks
   everything. */
#include "guest.h"

#define OUT_TOTAL (2u << 20)
#define ECHO_TOTAL (1u << 20)
#define RX_BUFS 4

static uint8_t rings[2 * 4096] __attribute__((aligned(4096)));
static uint8_t out[16384];
static uint8_t in[RX_BUFS][4096];

int main(void) {
    struct virtq q[2];
    report(virtio_start(VIRTIO_BASE(0), 0, q, 2, rings));
    for (uint32_t i = 0; i < sizeof out; ++i) out[i] = (uint8_t)(i * 7);
    for (uint32_t sent = 0; sent < OUT_TOTAL; sent += sizeof out) {
        struct buf b = {(uint64_t)out, sizeof out, 0};
        virtq_submit(&q[1], &b, 1);
        virtq_notify(&q[1]);
        virtq_wait(&q[1], 0);
    }
    report(1);

    /* One descriptor per receive chain, reposted in order: used id d is buffer d % RX_BUFS. */
    for (int i = 0; i < RX_BUFS; ++i) {
        struct buf b = {(uint64_t)in[i], sizeof in[i], 1};
        virtq_submit(&q[0], &b, 1);
    }
    virtq_notify(&q[0]);
    uint32_t echoed = 0;
    while (echoed < ECHO_TOTAL) {
        uint32_t id;
        uint32_t len = virtq_wait(&q[0], &id);
        uint8_t* data = in[id % RX_BUFS];
        struct buf back = {(uint64_t)data, len, 0};
        virtq_submit(&q[1], &back, 1);
        virtq_notify(&q[1]);
        virtq_wait(&q[1], 0);
        echoed += len;
        struct buf again = {(uint64_t)data, sizeof in[0], 1};
        virtq_submit(&q[0], &again, 1);
        virtq_notify(&q[0]);
    }
    report(echoed);
    return 0;
}

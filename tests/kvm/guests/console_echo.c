/* virtio-console in slot 0 (one plain port): sends "ping", waits for the host's answer, sends it
   back upper-cased. */
#include "guest.h"

static uint8_t rings[2 * 4096] __attribute__((aligned(4096)));
static char rx[64], tx[64];

int main(void) {
    struct virtq q[2];
    report(virtio_start(VIRTIO_BASE(0), 0, q, 2, rings));
    struct buf in = {(uint64_t)rx, sizeof rx, 1};
    virtq_submit(&q[0], &in, 1);
    virtq_notify(&q[0]);

    memcpy(tx, "ping", 4);
    struct buf out = {(uint64_t)tx, 4, 0};
    virtq_submit(&q[1], &out, 1);
    virtq_notify(&q[1]);
    virtq_wait(&q[1], 0);

    uint32_t n = virtq_wait(&q[0], 0);
    report(n);
    for (uint32_t i = 0; i < n && i < sizeof tx; ++i)
        tx[i] = (rx[i] >= 'a' && rx[i] <= 'z') ? (char)(rx[i] - 32) : rx[i];
    out.len = n;
    virtq_submit(&q[1], &out, 1);
    virtq_notify(&q[1]);
    virtq_wait(&q[1], 0);
    return 0;
}

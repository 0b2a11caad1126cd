/* virtio-net in slot 0: sends one frame of ethertype 0x88b5 and waits for a frame of the same
   type from the host, skipping any other traffic; reports the reply's length and first bytes. */
#include "guest.h"

static uint8_t rings[2 * 4096] __attribute__((aligned(4096)));
static uint8_t rx[2048], tx[128];

int main(void) {
    struct virtq q[2];
    report(virtio_start(VIRTIO_BASE(0), 1ull << 5, q, 2, rings)); /* MAC */
    uint8_t mac[6];
    for (int i = 0; i < 6; ++i) mac[i] = *(volatile uint8_t*)(VIRTIO_BASE(0) + 0x100 + i);

    struct buf in = {(uint64_t)rx, sizeof rx, 1};
    virtq_submit(&q[0], &in, 1);
    virtq_notify(&q[0]);

    memset(tx, 0, sizeof tx); /* virtio-net header: no offloads */
    memset(tx + 12, 0xff, 6); /* broadcast */
    memcpy(tx + 18, mac, 6);
    tx[24] = 0x88;
    tx[25] = 0xb5;
    memcpy(tx + 26, "rkt-net-test", 12);
    struct buf out = {(uint64_t)tx, 12 + 14 + 46, 0};
    virtq_submit(&q[1], &out, 1);
    virtq_notify(&q[1]);
    virtq_wait(&q[1], 0);

    for (int frames = 0; frames < 64; ++frames) {
        uint32_t len = virtq_wait(&q[0], 0);
        if (len >= 12 + 14 && rx[24] == 0x88 && rx[25] == 0xb5) {
            report(len);
            report((uint32_t)rx[26] | (uint32_t)rx[27] << 8 | (uint32_t)rx[28] << 16 |
                   (uint32_t)rx[29] << 24);
            return 0;
        }
        virtq_submit(&q[0], &in, 1); /* someone else's frame: take the next one */
        virtq_notify(&q[0]);
    }
    report(0xdead);
    return 0;
}

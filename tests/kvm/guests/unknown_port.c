/* Touches a port and an MMIO address no device claims: reads float high, writes vanish, and
   the guest carries on. */
#include "guest.h"

int main(void) {
    report(inb(0x1234));
    outl(0x4321, 5);
    report(mmio_read32(0xd0000000ull));
    mmio_write32(0xd0000000ull, 7);
    report(0xd0e);
    return 0;
}

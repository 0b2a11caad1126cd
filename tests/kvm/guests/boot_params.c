/* Started by the builder as if it were a Linux kernel (64-bit entry): checks the zero page it
   was handed, prints the command line on the serial port, reports the memory map size. */
#include "guest.h"

static void serial_print(const char* s) {
    for (; *s; ++s) {
        while (!(inb(0x3f8 + 5) & 0x20)) pause();
        outb(0x3f8, (uint8_t)*s);
    }
}

int main(uint64_t boot_params) {
    const uint8_t* bp = (const uint8_t*)boot_params;
    report(*(const uint16_t*)(bp + 0x1fe)); /* boot flag 0xaa55 */
    report(bp[0x1e8]);                      /* e820 entries */
    const char* cmdline = (const char*)(uint64_t) * (const uint32_t*)(bp + 0x228);
    serial_print(cmdline);
    serial_print("\n");
    return 0;
}

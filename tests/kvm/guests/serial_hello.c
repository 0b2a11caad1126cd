/* Prints a line on the 8250 at 0x3f8 and returns (entry.S then resets the machine). */
#include "guest.h"

int main(void) {
    const char* msg = "hello from the guest\n";
    for (const char* p = msg; *p; ++p) {
        while (!(inb(0x3f8 + 5) & 0x20)) pause();
        outb(0x3f8, (uint8_t)*p);
    }
    return 0;
}

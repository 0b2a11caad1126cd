/* The boot CPU wakes the second one the way Linux does (INIT, then STARTUP to a real-mode
   trampoline at 0x8000); each reports 0x100 + its APIC id from CPUID. */
#include "guest.h"

#define LAPIC 0xfee00000ull
#define AP_FLAG ((volatile uint32_t*)0x7f00)

extern const uint8_t ap_start[], ap_end[];
__asm__(
    ".text\n"
    ".globl ap_start, ap_end\n"
    ".code16\n"
    "ap_start:\n"
    "  movl $1, %eax\n"
    "  cpuid\n"
    "  shrl $24, %ebx\n"
    "  movl %ebx, %eax\n"
    "  addl $0x100, %eax\n"
    "  movw $0x500, %dx\n"
    "  outl %eax, %dx\n"
    "  movl $0x600d, %eax\n"
    "  movl %eax, 0x7f00\n"
    "1: hlt\n"
    "  jmp 1b\n"
    "ap_end:\n"
    ".code64\n");

static uint32_t apic_id(void) {
    uint32_t a = 1, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return b >> 24;
}

static void send_ipi(uint32_t dest, uint32_t command) {
    mmio_write32(LAPIC + 0x310, dest << 24);
    mmio_write32(LAPIC + 0x300, command);
    while (mmio_read32(LAPIC + 0x300) & (1u << 12)) pause(); /* delivery pending */
}

int main(void) {
    report(0x100 + apic_id());
    memcpy((void*)0x8000, ap_start, (unsigned long)(ap_end - ap_start));
    *AP_FLAG = 0;
    mmio_write32(LAPIC + 0xf0, 0x1ff);
    send_ipi(1, 0x4500);        /* INIT */
    send_ipi(1, 0x4600 | 0x08); /* STARTUP at 0x8000 */
    for (uint32_t spins = 0; *AP_FLAG != 0x600d; ++spins) {
        if (spins == 100000) send_ipi(1, 0x4600 | 0x08); /* a second STARTUP, as the spec says */
        pause();
    }
    return 0;
}

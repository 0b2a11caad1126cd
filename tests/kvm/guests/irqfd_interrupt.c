/* Routes IOAPIC pin 5 to vector 0x40, asks the host (control port) to raise GSI 5 through its
   irqfd, and waits for the interrupt, twice. */
#include "guest.h"

#define LAPIC 0xfee00000ull
#define IOAPIC 0xfec00000ull
#define VECTOR 0x40

volatile uint32_t irq_count;

void irq_entry(void);
__asm__(
    ".text\n"
    ".globl irq_entry\n"
    "irq_entry:\n"
    "  push %rax\n"
    "  incl irq_count(%rip)\n"
    "  movabs $0xfee000b0, %rax\n" /* LAPIC EOI */
    "  movl $0, (%rax)\n"
    "  pop %rax\n"
    "  iretq\n");

static uint8_t idt[256 * 16] __attribute__((aligned(16)));

static void set_gate(int vector, void (*handler)(void)) {
    uint64_t a = (uint64_t)handler;
    uint8_t* e = idt + vector * 16;
    e[0] = (uint8_t)a;
    e[1] = (uint8_t)(a >> 8);
    e[2] = 0x10; /* code selector of the boot GDT */
    e[3] = 0;
    e[4] = 0;
    e[5] = 0x8e; /* present, interrupt gate */
    e[6] = (uint8_t)(a >> 16);
    e[7] = (uint8_t)(a >> 24);
    e[8] = (uint8_t)(a >> 32);
    e[9] = (uint8_t)(a >> 40);
    e[10] = (uint8_t)(a >> 48);
    e[11] = (uint8_t)(a >> 56);
}

static void ioapic_write(uint32_t reg, uint32_t value) {
    mmio_write32(IOAPIC, reg);
    mmio_write32(IOAPIC + 0x10, value);
}

static void wait_for(uint32_t count) {
    for (;;) {
        __asm__ volatile("cli");
        if (irq_count >= count) break;
        __asm__ volatile("sti; hlt"); /* sti's shadow: no interrupt is lost before hlt */
    }
    __asm__ volatile("sti");
}

int main(void) {
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) idtr = {sizeof idt - 1, (uint64_t)idt};
    set_gate(VECTOR, irq_entry);
    __asm__ volatile("lidt %0" ::"m"(idtr));
    outb(0x21, 0xff); /* mask the PICs: the IOAPIC delivers */
    outb(0xa1, 0xff);
    mmio_write32(LAPIC + 0x80, 0);      /* task priority */
    mmio_write32(LAPIC + 0xf0, 0x1ff);  /* software enable, spurious vector 0xff */
    ioapic_write(0x10 + 2 * 5 + 1, 0);  /* destination APIC 0 */
    ioapic_write(0x10 + 2 * 5, VECTOR); /* fixed, edge, active high, unmasked */

    outl(CONTROL_PORT, 1);
    wait_for(1);
    report(irq_count);
    outl(CONTROL_PORT, 1);
    wait_for(2);
    report(irq_count);
    return 0;
}

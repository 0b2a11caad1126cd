/* Loads an empty IDT and executes an undefined instruction: #UD cannot be delivered, nor the
   double fault after it, so the CPU shuts down (a triple fault). */
#include "guest.h"

int main(void) {
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) idt = {0, 0};
    report(1);
    __asm__ volatile("lidt %0\n\tud2" ::"m"(idt));
    report(2); /* never reached */
    return 0;
}

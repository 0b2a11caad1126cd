/* 64-bit entry of every test guest: own stack, main(), then a CPU reset through the i8042.
   %rsi (the zero page under the Linux 64-bit entry) is passed on as main's argument. */
    .section .text.entry, "ax"
    .code64
    .globl _start
_start:
    lea stack_top(%rip), %rsp
    mov %rsi, %rdi          /* main(boot_params) under the Linux entry */
    call main
    movb $0xfe, %al
    outb %al, $0x64
1:  hlt
    jmp 1b

    .bss
    .balign 16
    .space 16384
stack_top:

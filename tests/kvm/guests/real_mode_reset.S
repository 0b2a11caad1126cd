/* 16-bit real mode: report 0x1616, then reset through the i8042 (position independent). */
    .code16
    .globl _start
_start:
    movw $0x500, %dx
    movl $0x1616, %eax
    outl %eax, %dx
    movb $0xfe, %al
    outb %al, $0x64
1:  hlt
    jmp 1b

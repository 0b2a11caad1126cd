/* A "kernel" with only a PVH entry (XEN_ELFNOTE_PHYS32_ENTRY): started in 32-bit protected mode
   with paging off and %ebx at hvm_start_info, it reports the start info's magic, its memory-map
   entry count and the first four bytes of the command line, then resets through the i8042. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4           /* name size */
    .long 4           /* descriptor size */
    .long 18          /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_start

    .text
    .code32
    .globl _start
_start:
pvh_start:
    movw $0x500, %dx
    movl 0(%ebx), %eax      /* magic */
    outl %eax, %dx
    movl 48(%ebx), %eax     /* memmap_entries */
    outl %eax, %dx
    movl 24(%ebx), %esi     /* cmdline_paddr (low half) */
    movl (%esi), %eax
    outl %eax, %dx
    movb $0xfe, %al
    outb %al, $0x64
1:  hlt
    jmp 1b

/* triple.S - a multiboot guest that triple-faults: it loads an empty IDT and executes ud2.
 * The #UD cannot be delivered (#GP), nor can the #GP (#DF), nor the #DF: the CPU shuts down.
 * (ud2 rather than int3: kvm_pvm cannot emulate INT3/INT n in protected mode, docs/guests.md.)
 * guest: 32 asm
 */
        .set    MB_MAGIC, 0x1badb002
        .set    MB_FLAGS, 0
        .section .multiboot, "a"
        .p2align 2
        .long   MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .code32
        .text
        .globl  _start
_start:
        movb    $'3', %al
        outb    %al, $0xe9
        movb    $'\n', %al
        outb    %al, $0xe9
        lidt    empty_idt
        ud2
        hlt                             /* not reached */

        .section .rodata
empty_idt:
        .word   0                       /* limit 0: no vectors */
        .long   0

/* start32.S - entry for 32-bit guests: a multiboot (v1) header, then _start, which a multiboot
 * loader (vmtrace --mode protected, GRUB, QEMU -kernel) enters in flat 32-bit protected mode with
 * EAX = 0x2BADB002 and EBX = the information block. */
        .set    MB_MAGIC, 0x1badb002
        .set    MB_FLAGS, 0x00000002            /* bit 1: memory information wanted */

        .section .multiboot, "a"
        .p2align 2
        .long   MB_MAGIC
        .long   MB_FLAGS
        .long   -(MB_MAGIC + MB_FLAGS)

        .code32
        .text
        .globl  _start
_start:
        movl    $stack_top, %esp                /* the loader's ESP is undefined by the spec */
        movl    %eax, rt_boot_magic
        movl    %ebx, rt_boot_info
        call    main
        call    halt

        .section .bss.stack, "aw", @nobits
        .p2align 4
        .space  16384
stack_top:

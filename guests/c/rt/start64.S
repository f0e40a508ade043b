/* start64.S - entry for 64-bit guests: vmtrace --mode long starts _start in 64-bit mode with
 * identity-mapped paging; the runtime switches to its own stack and calls main(). */
        .code64
        .text
        .globl  _start
_start:
        movq    $stack_top, %rsp
        movl    %eax, rt_boot_magic(%rip)
        movl    %ebx, rt_boot_info(%rip)
        call    main
        call    halt

        .section .bss.stack, "aw", @nobits
        .p2align 4
        .space  16384
stack_top:

/* isr64.S - exception entry stubs for long mode: push a dummy error code where the CPU pushes
 * none, then the vector, save the general registers and call trap_dispatch(frame). */
        .code64
        .text

.macro stub vector, has_error
isr_\vector:
        .if \has_error == 0
        pushq   $0
        .endif
        pushq   $\vector
        jmp     isr_common
.endm

.irp v, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
        stub    \v, 0
.endr
.irp v, 8,10,11,12,13,14,17,21,29,30
        stub    \v, 1
.endr

isr_common:
        pushq   %rax
        pushq   %rbx
        pushq   %rcx
        pushq   %rdx
        pushq   %rsi
        pushq   %rdi
        pushq   %rbp
        pushq   %r8
        pushq   %r9
        pushq   %r10
        pushq   %r11
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        cld
        movq    %rsp, %rdi              /* struct trap_frame * */
        call    trap_dispatch
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %r11
        popq    %r10
        popq    %r9
        popq    %r8
        popq    %rbp
        popq    %rdi
        popq    %rsi
        popq    %rdx
        popq    %rcx
        popq    %rbx
        popq    %rax
        addq    $16, %rsp               /* vector, error code */
        iretq

        .section .rodata
        .globl  isr_stubs
        .p2align 3
isr_stubs:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .quad   isr_\v
.endr

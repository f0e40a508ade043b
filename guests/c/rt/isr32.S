/* isr32.S - exception entry stubs for 32-bit protected mode: push a dummy error code where the
 * CPU pushes none, then the vector, save the registers (pusha) and call trap_dispatch(frame).
 * Handlers return without IRET, which kvm_pvm cannot emulate in 32-bit protected mode: EFLAGS is
 * restored with POPF and EIP with a near RET (the handler runs in the same code segment and
 * privilege level as the code it interrupted, so that is all IRET would do here). */
        .code32
        .text

.macro stub vector, has_error
isr_\vector:
        .if \has_error == 0
        pushl   $0
        .endif
        pushl   $\vector
        jmp     isr_common
.endm

.irp v, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
        stub    \v, 0
.endr
.irp v, 8,10,11,12,13,14,17,21,29,30
        stub    \v, 1
.endr

isr_common:
        pusha
        cld
        pushl   %esp                    /* struct trap_frame * */
        call    trap_dispatch
        addl    $4, %esp
        popa
        addl    $8, %esp                /* vector, error code: now EIP, CS, EFLAGS */
        pushl   8(%esp)                 /* EFLAGS */
        popfl
        ret     $8                      /* EIP; drop CS and EFLAGS */

        .section .rodata
        .globl  isr_stubs
        .p2align 2
isr_stubs:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .long   isr_\v
.endr

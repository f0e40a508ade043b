// exception.S - synchronous exceptions at EL1 through the guest's own vector table (VBAR_EL1):
// an svc #0x42, a brk #1 and an undefined instruction. For each the handler prints
// "ec=EC iss=ISS\n" (ESR_EL1's exception class and the low 16 bits of its syndrome), steps ELR_EL1
// past the instruction and returns with eret; then the guest prints "ok\n" and powers off.
// guest: elf
        .text
        .globl  _start
_start:
        adr     x0, vectors
        msr     vbar_el1, x0
        isb
        ldr     x0, =stack_top
        mov     sp, x0
        svc     #0x42                   // EC 0x15
        brk     #1                      // EC 0x3c
        .inst   0x00000000              // UDF #0: EC 0x00 (unknown reason)
        adr     x0, ok
        bl      uart_puts
        movz    x0, #0x0008
        movk    x0, #0x8400, lsl #16    // PSCI SYSTEM_OFF 0x84000008
        hvc     #0
1:      b       1b

sync:                                   // the handler: x19-x21 and x30 are its own scratch
        stp     x19, x30, [sp, #-16]!
        mrs     x19, esr_el1
        adr     x0, ec
        bl      uart_puts
        ubfx    x0, x19, #26, #6        // ESR_EL1.EC
        mov     x1, #2
        bl      uart_puthex
        adr     x0, iss
        bl      uart_puts
        and     x0, x19, #0xffff        // the svc/brk immediate
        mov     x1, #4
        bl      uart_puthex
        mov     w0, #'\n'
        movz    x1, #0x0900, lsl #16
        strb    w0, [x1]
        mrs     x0, elr_el1             // svc's ELR is already past it; brk's and udf's are not
        ubfx    x19, x19, #26, #6
        cmp     x19, #0x15
        b.eq    2f
        add     x0, x0, #4
        msr     elr_el1, x0
2:      ldp     x19, x30, [sp], #16
        eret

#include "uart.inc"

ec:     .asciz  "ec="
iss:    .asciz  " iss="
ok:     .asciz  "ok\n"

#include "vectors.inc"

        .bss
        .balign 16
        .space  1024
stack_top:

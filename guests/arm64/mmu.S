// mmu.S - stage-1 translation at EL1: builds an identity map (4 KiB granule, T0SZ=25: 39-bit VAs,
// a 3-level walk from level 1), turns the MMU on with the caches left off (SCTLR_EL1.C and .I stay
// 0, so RAM is mapped Normal Non-cacheable to match), then
//   - prints "mmu on\n" through the PL011 page, mapped Device-nGnRnE,
//   - reads a string through VA 0x80000000, a non-identity page mapped onto the `window` buffer,
//     and prints it with the buffer's PA: "80000000 -> 4000X000\n",
//   - writes through the VA and reads the PA back: "write ok\n",
//   - loads from the unmapped VA 0x80001000: a level-3 translation fault, whose handler prints
//     "far=80001000 fsc=07\n" and steps over the load,
// then prints "ok\n" and powers off.
// guest: elf
// Map (VA = PA unless said): 0x00000000-0x3fffffff: only the 2 MiB block at 0x09000000 (PL011 and
// the exit register), Device-nGnRnE, never executable; 0x40000000-0x7fffffff: one 1 GiB block of
// RAM, Normal Non-cacheable; 0x80000000: one 4 KiB page -> `window`.
        .equ    DESC_TABLE, 3           // level 1/2 table descriptor
        .equ    DESC_BLOCK, 1           // level 1/2 block
        .equ    DESC_PAGE, 3            // level 3 page
        .equ    AF, 1 << 10             // access flag: set, or the first access faults
        .equ    SH_INNER, 3 << 8
        .equ    ATTR_DEVICE, 0 << 2     // MAIR attr 0: 0x00 Device-nGnRnE
        .equ    ATTR_NORMAL_NC, 1 << 2  // MAIR attr 1: 0x44 Normal, inner and outer non-cacheable
        .equ    WINDOW_VA, 0x80000000

        .text
        .globl  _start
_start:
        adr     x0, vectors
        msr     vbar_el1, x0
        isb
        ldr     x0, =stack_top
        mov     sp, x0
        ldr     x0, =l1                 // zero the four tables (contiguous in .bss)
        add     x1, x0, #0x4000
1:      stp     xzr, xzr, [x0], #16
        cmp     x0, x1
        b.lo    1b

        ldr     x0, =l1
        ldr     x1, =l2_low + DESC_TABLE
        str     x1, [x0, #0 * 8]        // VA 0-1 GiB
        ldr     x1, =0x40000000 + AF + SH_INNER + ATTR_NORMAL_NC + DESC_BLOCK
        str     x1, [x0, #1 * 8]        // VA 1-2 GiB: RAM
        ldr     x1, =l2_window + DESC_TABLE
        str     x1, [x0, #2 * 8]        // VA 2-3 GiB
        ldr     x0, =l2_low
        ldr     x1, =(3 << 53) + 0x09000000 + AF + ATTR_DEVICE + DESC_BLOCK  // UXN, PXN
        str     x1, [x0, #(0x09000000 >> 21) * 8]
        ldr     x0, =l2_window
        ldr     x1, =l3_window + DESC_TABLE
        str     x1, [x0]
        ldr     x0, =l3_window
        ldr     x1, =window + AF + SH_INNER + ATTR_NORMAL_NC + DESC_PAGE
        str     x1, [x0]                // VA 0x80000000 only; 0x80001000 stays unmapped
        dsb     sy                      // the tables are in memory before the walker reads them

        ldr     x0, =0x4400
        msr     mair_el1, x0
        // T0SZ=25, TG0=4K, walks non-cacheable (IRGN0=ORGN0=SH0=0), IPS=32 bits; TTBR1 off (EPD1)
        ldr     x0, =(25 << 0) | (25 << 16) | (1 << 23) | (2 << 30)
        msr     tcr_el1, x0
        ldr     x0, =l1
        msr     ttbr0_el1, x0
        tlbi    vmalle1
        dsb     sy
        isb
        mrs     x0, sctlr_el1
        orr     x0, x0, #1              // M; C and I stay off
        msr     sctlr_el1, x0
        isb

        adr     x0, mmu_on
        bl      uart_puts
        mov     x0, #WINDOW_VA          // the string in `window`, read through the other VA
        bl      uart_puts
        ldr     x0, =window
        mov     x1, #8
        bl      uart_puthex
        mov     w0, #'\n'
        movz    x1, #0x0900, lsl #16
        strb    w0, [x1]

        mov     x1, #WINDOW_VA
        ldr     w2, =0xc0ffee
        str     w2, [x1, #64]
        ldr     x3, =window
        ldr     w4, [x3, #64]
        adr     x0, write_ok
        cmp     w2, w4
        b.eq    2f
        adr     x0, write_bad
2:      bl      uart_puts

        ldr     x1, =WINDOW_VA + 0x1000
        ldr     x0, [x1]                // translation fault, level 3

        adr     x0, ok
        bl      uart_puts
        movz    x0, #0x0008
        movk    x0, #0x8400, lsl #16    // PSCI SYSTEM_OFF 0x84000008
        hvc     #0
3:      b       3b

sync:                                   // data aborts: print FAR and the fault status, skip
        stp     x19, x30, [sp, #-16]!
        mrs     x19, esr_el1
        lsr     x0, x19, #26
        cmp     x0, #0x25               // data abort at the same EL
        b.ne    unexpected
        adr     x0, far
        bl      uart_puts
        mrs     x0, far_el1
        mov     x1, #8
        bl      uart_puthex
        adr     x0, fsc
        bl      uart_puts
        and     x0, x19, #0x3f          // DFSC: 0x07 = translation fault, level 3
        mov     x1, #2
        bl      uart_puthex
        mov     w0, #'\n'
        movz    x1, #0x0900, lsl #16
        strb    w0, [x1]
        mrs     x0, elr_el1
        add     x0, x0, #4
        msr     elr_el1, x0
        ldp     x19, x30, [sp], #16
        eret

#include "uart.inc"

mmu_on:    .asciz "mmu on\n"
write_ok:  .asciz "write ok\n"
write_bad: .asciz "write BAD\n"
far:       .asciz "far="
fsc:       .asciz " fsc="
ok:        .asciz "ok\n"

#include "vectors.inc"

        .data
        .balign 4096
window: .asciz  "80000000 -> "
        .balign 4096

        .bss
        .balign 4096
l1:        .space 4096
l2_low:    .space 4096
l2_window: .space 4096
l3_window: .space 4096
        .space  1024
stack_top:

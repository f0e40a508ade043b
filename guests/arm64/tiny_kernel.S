// tiny_kernel.S - the classic KVM demo for AArch64: print "Hello,world\n" on the PL011, then power off.
// guest: bin
// No stack, no data: one `mov w1, #ch` / `strb w1, [x0]` pair per character, each store one MMIO
// exit (a plain strb without writeback, so KVM can decode it), then PSCI SYSTEM_OFF via hvc.
        .text
        .globl  _start
_start:
        movz    x0, #0x0900, lsl #16    // PL011 data register 0x09000000
        mov     w1, #'H'
        strb    w1, [x0]
        mov     w1, #'e'
        strb    w1, [x0]
        mov     w1, #'l'
        strb    w1, [x0]
        mov     w1, #'l'
        strb    w1, [x0]
        mov     w1, #'o'
        strb    w1, [x0]
        mov     w1, #','
        strb    w1, [x0]
        mov     w1, #'w'
        strb    w1, [x0]
        mov     w1, #'o'
        strb    w1, [x0]
        mov     w1, #'r'
        strb    w1, [x0]
        mov     w1, #'l'
        strb    w1, [x0]
        mov     w1, #'d'
        strb    w1, [x0]
        mov     w1, #'\n'
        strb    w1, [x0]
        movz    x0, #0x0008
        movk    x0, #0x8400, lsl #16    // PSCI SYSTEM_OFF 0x84000008
        hvc     #0
1:      b       1b                      // not reached

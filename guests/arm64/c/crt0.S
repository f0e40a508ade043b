// crt0.S - start-up for the AArch64 C guests: stack, .bss, main, then main's return value to
// vmtrace's exit-status register and PSCI SYSTEM_OFF.
        .section .text.boot, "ax"
        .globl  _start
_start:
        // QEMU has no device at the exit register: the store there is a synchronous external
        // abort, so a vector table lets the guest go on to SYSTEM_OFF on QEMU too.
        adr     x0, vectors
        msr     vbar_el1, x0
        isb
        ldr     x0, =__stack_top
        mov     sp, x0
        ldr     x0, =__bss_start        // both 16-byte aligned by link.ld
        ldr     x1, =__bss_end
1:      cmp     x0, x1
        b.hs    2f
        stp     xzr, xzr, [x0], #16
        b       1b
2:      bl      main
        movz    x1, #0x0910, lsl #16    // exit-status register 0x09100000: vmtrace ends the run here
        str     w0, [x1]
poweroff:
        movz    x0, #0x0008
        movk    x0, #0x8400, lsl #16    // PSCI SYSTEM_OFF 0x84000008
        hvc     #0
3:      b       3b

// Any exception powers off: silently for the exit register's abort (QEMU), with a '!' otherwise.
        .balign 2048
vectors:
        .rept   16
        b       exception
        .balign 0x80
        .endr
exception:
        mrs     x1, far_el1
        movz    x2, #0x0910, lsl #16
        cmp     x1, x2
        b.eq    poweroff
        movz    x1, #0x0900, lsl #16
        mov     w2, #'!'
        strb    w2, [x1]
        b       poweroff

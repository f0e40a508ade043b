// echo.S - copy the input to the console, upper-cased (so the output proves the bytes went through
// the guest), then power off. The input ends when the PL011's receive FIFO is empty (UARTFR.RXFE).
// guest: bin
// Per input byte: one UARTFR read, one UARTDR read, one UARTDR write (3 MMIO exits).
        .text
        .globl  _start
_start:
        movz    x0, #0x0900, lsl #16    // PL011 base 0x09000000
1:      ldr     w1, [x0, #0x18]         // UARTFR
        tbnz    w1, #4, 2f              // RXFE: no more input
        ldr     w1, [x0]                // UARTDR: the byte in bits 7:0, error flags above
        and     w1, w1, #0xff
        sub     w2, w1, #'a'
        cmp     w2, #'z' - 'a'
        b.hi    3f
        sub     w1, w1, #'a' - 'A'      // a..z -> A..Z
3:      strb    w1, [x0]
        b       1b
2:      movz    x0, #0x0008
        movk    x0, #0x8400, lsl #16    // PSCI SYSTEM_OFF 0x84000008
        hvc     #0
4:      b       4b                      // not reached

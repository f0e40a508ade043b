# mmio.S - touch memory above the end of RAM (1 MiB): a byte write of 0x5a to
# physical 0x100000 and a 16-bit read from physical 0x100004, both of which
# leave the guest as MMIO exits. Prints "mmio\n", then the low byte read back
# as two hex digits and a newline.
        .include "lib16.inc"
        .globl  start
start:
        INIT
        P       "mmio\n"
        mov     $0xffff, %ax
        mov     %ax, %es                # ES base 0xffff0: offset 0x10 = 0x100000
        movb    $0x5a, %es:0x10         # MMIO write, 1 byte
        mov     %es:0x14, %ax           # MMIO read, 2 bytes at 0x100004
        mov     %al, %dl
        HEXB    %dl                     # two hex digits of the low byte
        NL
        hlt

# enter_bound.S - enter with nesting levels 1 and 2, and bound (in range, and
# out of range -> #BR, vector 5, caught by our own handler).
# Kept apart from grp_mov/grp_misc because the development host cannot
# emulate either in real mode: the run ends with an emulation failure at the
# first nested enter. Elsewhere it prints the frames and the bound results.
#
# Layout: the IVT occupies physical 0..0x3ff, where this image is loaded, so
# `start` jumps over a 0x400-byte hole; vectors are set at run time.
        .include "lib16.inc"
        .globl  start
start:
        jmp     main
        .org    0x400                   # 0..0x3ff: interrupt vector table
main:
        INIT
        SETVEC  5, br_handler

        P       "enter"
        mov     %sp, %di                # 8000
        mov     $0x1111, %bp
        enter   $4, $0                  # bp=7ffe sp=7ffa
        enter   $8, $1                  # c8 0800 01: also pushes the new frame pointer
        mov     %sp, %ax
        H16     %bp                     # 7ff8
        H16     %ax                     # 7ff4 - 8 = 7fee
        H16     -2(%bp)                 # 7ff8
        enter   $6, $2                  # c8 0600 02: copies the outer frame pointer
        mov     %sp, %ax
        H16     %bp                     # 7fec
        H16     %ax                     # 7fe8 - 6 = 7fe2
        H16     -2(%bp)                 # 7ff8, copied from the outer frame
        H16     -4(%bp)                 # 7fec
        leave                           # c9
        leave
        leave
        mov     %sp, %ax
        sub     %di, %ax                # 0: back where we started
        H16     %ax
        H16     %bp                     # 1111
        NL

        P       "bound"
        mov     $5, %ax
        bound   %ax, bounds             # 62: 0 <= 5 <= 10, no trap
        PC      ' '
        PC      'y'
        mov     $1f, %cs:expect_ip
        mov     $2f, %cs:resume
        mov     $11, %ax
1:      bound   %ax, bounds             # 11 > 10: #BR (a fault)
2:      mov     $-1, %eax
        mov     $1f, %cs:expect_ip
        mov     $2f, %cs:resume
1:      boundl  %eax, bounds32          # 66 62: -1 < 0: #BR
2:      H8      %cs:nfaults             # 02
        NL
        hlt

# #BR handler: a fault, so the pushed IP is the bound itself. Print and check
# it, then resume at the address the test left in `resume`.
br_handler:
        push    %bp
        mov     %sp, %bp
        push    %ax
        P       " #BR ip="
        mov     2(%bp), %ax
        call    hexw
        cmp     %cs:expect_ip, %ax
        je      1f
        P       " BAD"
1:      mov     %cs:resume, %ax
        mov     %ax, 2(%bp)
        incb    %cs:nfaults
        pop     %ax
        pop     %bp
        iret

# data
expect_ip: .word 0
resume: .word   0
nfaults: .byte  0
        .balign 4
bounds: .word   0, 10
bounds32: .long 0, 10

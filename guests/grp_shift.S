# grp_shift.S - shl/sal shr sar rol ror rcl rcr and shld/shrd: counts 0, 1, 3,
# 8, 17, 31 and 32 (masked to 0), in the by-1, imm8 and CL forms, on 8/16/32-
# bit registers and memory. Each case prints " result f=flags" with only the
# flags the architecture defines for that count:
#   count 0 (or 32, masked to 0): nothing changes, so all flags are shown;
#   shl/shr/sar: CF (not for shl/shr when count >= width), OF only for
#     count 1, SF ZF PF; AF never;
#   rol/ror/rcl/rcr: CF (not for a 16-bit rcl/rcr by 17 = a rotation by 0),
#     OF only for count 1; SF ZF AF PF are left alone, so they are shown;
#   shld/shrd: like shl/shr; 16-bit counts stay <= 16 (larger is undefined).
# Before every case FLAGS = FL0, so "unchanged" is visible and rcl/rcr see CF=1.
        .include "lib16.inc"
        .set    FL0, 0x0891             # OF SF AF CF set; ZF PF clear
        .set    M1, 0x8c5               # shift by 1: OF SF ZF PF CF
        .set    MN, 0x0c5               # shift by n > 1: SF ZF PF CF
        .set    MW, 0x0c4               # shl/shr by >= width: SF ZF PF
        .set    RM1, 0x8d5              # rotate by 1: OF CF + untouched SZAP
        .set    RMN, 0x0d5              # rotate by n > 1: CF + untouched SZAP
        .set    RMZ, 0x0d4              # rcl/rcr by a multiple of width+1

# SHX op, dst, R8|R16|R32, value, src, mask[, mov[, x]]: dst = value,
# FLAGS = FL0, `op src, dst` (`op dst` when src is blank: the by-1 form;
# `op src, x, dst` for shld/shrd), then print dst and the masked flags.
.macro SHX op, dst, r, val, src, mask, mv=mov, x
        \mv     $\val, \dst
        SETF    FL0
        .ifb    \src
        \op     \dst
        .else
        .ifb    \x
        \op     \src, \dst
        .else
        \op     \src, \x, \dst
        .endif
        .endif
        \r      \dst, \mask
.endm
.macro SH1 op, dst, r, val, mask, mv=mov           # d0/d1: by 1
        SHX     \op, \dst, \r, \val, , \mask, \mv
.endm
.macro SHI op, dst, r, val, n, mask, mv=mov, x     # c0/c1 (0f a4/ac): by imm8
        SHX     \op, \dst, \r, \val, $\n, \mask, \mv, \x
.endm
.macro SHC op, dst, r, val, n, mask, mv=mov, x     # d2/d3 (0f a5/ad): by CL
        mov     $\n, %cl
        SHX     \op, \dst, \r, \val, %cl, \mask, \mv, \x
.endm

        .globl  start
start:
        INIT

        P       "shl"
        SH1     shl, %al, R8, 0x96, M1
        SHI     shl, %al, R8, 0x96, 3, MN
        SHC     shl, %al, R8, 0x96, 8, MW
        SHC     shl, %bx, R16, 0x8421, 0, FMASK
        SHI     shlw, w1, R16, 0x8421, 17, MW, movw
        SHI     sal, %edx, R32, 0x87654321, 31, MN
        SHC     sal, %edx, R32, 0x87654321, 32, FMASK
        NL

        P       "shr"
        SH1     shr, %al, R8, 0x96, M1
        SHI     shr, %al, R8, 0x96, 3, MN
        SHC     shrb, b1, R8, 0x96, 8, MW, movb
        SHC     shr, %bx, R16, 0x8421, 0, FMASK
        SHI     shr, %bx, R16, 0x8421, 17, MW
        SHI     shr, %edx, R32, 0x87654321, 31, MN
        SHC     shrl, l1, R32, 0x87654321, 32, FMASK, movl
        NL

        P       "sar"
        SH1     sar, %al, R8, 0x96, M1
        SHI     sarb, b1, R8, 0x96, 3, MN, movb
        SHC     sar, %al, R8, 0x96, 8, MN      # CF = the sign: defined
        SHC     sar, %bx, R16, 0x8421, 0, FMASK
        SHI     sar, %bx, R16, 0x8421, 17, MN
        SHI     sar, %edx, R32, 0x87654321, 31, MN
        SHC     sar, %edx, R32, 0x87654321, 32, FMASK
        NL

        P       "rol"
        SH1     rol, %al, R8, 0x96, RM1
        SHI     rol, %al, R8, 0x96, 3, RMN
        SHC     rol, %al, R8, 0x96, 8, RMN     # full turn: CF = bit 0
        SHC     rolw, w1, R16, 0x8421, 0, FMASK, movw
        SHI     rol, %bx, R16, 0x8421, 17, RMN
        SHI     rol, %edx, R32, 0x87654321, 31, RMN
        SHC     rol, %edx, R32, 0x87654321, 32, FMASK
        NL

        P       "ror"
        SH1     ror, %al, R8, 0x96, RM1
        SHI     ror, %al, R8, 0x96, 3, RMN
        SHC     ror, %al, R8, 0x96, 8, RMN
        SHC     ror, %bx, R16, 0x8421, 0, FMASK
        SHI     ror, %bx, R16, 0x8421, 17, RMN
        SHI     rorl, l1, R32, 0x87654321, 31, RMN, movl
        SHC     ror, %edx, R32, 0x87654321, 32, FMASK
        NL

        P       "rcl"
        SH1     rcl, %al, R8, 0x96, RM1
        SHI     rcl, %al, R8, 0x96, 3, RMN
        SHC     rcl, %al, R8, 0x96, 8, RMN
        SHC     rcl, %bx, R16, 0x8421, 0, FMASK
        SHI     rcl, %bx, R16, 0x8421, 17, RMZ # 17 mod 17 = 0
        SHI     rcl, %edx, R32, 0x87654321, 31, RMN
        SHC     rcl, %edx, R32, 0x87654321, 32, FMASK
        NL

        P       "rcr"
        SH1     rcrb, b1, R8, 0x96, RM1, movb
        SHI     rcr, %al, R8, 0x96, 3, RMN
        SHC     rcr, %al, R8, 0x96, 8, RMN
        SHC     rcr, %bx, R16, 0x8421, 0, FMASK
        SHI     rcr, %bx, R16, 0x8421, 17, RMZ
        SHI     rcr, %edx, R32, 0x87654321, 31, RMN
        SHC     rcr, %edx, R32, 0x87654321, 32, FMASK
        NL

        # shld/shrd dst = dst:src shifted; src (AX/EAX here) is unchanged.
        mov     $0x3c5a, %ax
        mov     $0x0f1e2d3c, %esi
        P       "shld"
        SHI     shld, %bx, R16, 0x8421, 1, M1, , %ax
        SHC     shld, %bx, R16, 0x8421, 8, MN, , %ax
        SHI     shld, %edx, R32, 0x87654321, 0, FMASK, , %esi
        SHC     shld, %edx, R32, 0x87654321, 17, MN, , %esi
        SHI     shldl, l1, R32, 0x87654321, 31, MN, movl, %esi
        SHC     shld, %edx, R32, 0x87654321, 32, FMASK, , %esi
        NL

        P       "shrd"
        SHI     shrd, %bx, R16, 0x8421, 1, M1, , %ax
        SHC     shrdw, w1, R16, 0x8421, 16, MN, movw, %ax
        SHI     shrd, %edx, R32, 0x87654321, 3, MN, , %esi
        SHC     shrd, %edx, R32, 0x87654321, 17, MN, , %esi
        SHI     shrd, %edx, R32, 0x87654321, 31, MN, , %esi
        SHC     shrd, %edx, R32, 0x87654321, 32, FMASK, , %esi
        NL
        hlt

b1:     .byte   0
        .balign 2
w1:     .word   0
        .balign 4
l1:     .long   0

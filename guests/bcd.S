# bcd.S - the BCD adjustments: aam (incl. base 16), aad (incl. base 16), das,
# aaa, aas, daa, with their results and defined flags.
# Kept apart because some hosts cannot emulate them in real mode: on the
# development host daa, aaa and aas end the run with an emulation failure
# (das, aam and aad work), so the ones that work come first and daa is last.
# Defined flags: aam/aad SF ZF PF; das/daa CF AF SF ZF PF; aaa/aas AF CF.
        .include "lib16.inc"
        .set    FAAM, FL_SF | FL_ZF | FL_PF
        .set    FDAA, FL_CF | FL_AF | FL_SF | FL_ZF | FL_PF
        .set    FAAA, FL_CF | FL_AF
        .globl  start
start:
        INIT

        P       "aam"
        mov     $79, %ax
        aam                             # d4 0a: AH = 7, AL = 9
        R16     %ax, FAAM
        mov     $0x4f, %ax
        aam     $16                     # d4 10: AH = 4, AL = f
        R16     %ax, FAAM
        mov     $0x100, %ax
        aam                             # AL = 0: ZF
        R16     %ax, FAAM
        NL

        P       "aad"
        mov     $0x0709, %ax
        aad                             # d5 0a: AL = 7*10 + 9 = 4f, AH = 0
        R16     %ax, FAAM
        mov     $0x040f, %ax
        aad     $16                     # d5 10: AL = 4*16 + 15 = 4f
        R16     %ax, FAAM
        mov     $0x0d0c, %ax
        aad                             # 13*10 + 12 = 142 = 8e: SF
        R16     %ax, FAAM
        NL

        P       "das"
        mov     $0x23, %al
        sub     $0x05, %al              # 1e
        das                             # 2f: 23 - 05 = 18 in BCD
        R8      %al, FDAA
        xor     %al, %al
        sub     $0x01, %al              # ff, CF AF
        das                             # 00 - 01 = 99, borrow
        R8      %al, FDAA
        NL

        P       "aaa"
        mov     $0x0009, %ax
        add     $0x03, %al              # 0c
        aaa                             # 37: 9 + 3 = 1:2 unpacked
        R16     %ax, FAAA
        mov     $0x0005, %ax
        add     $0x02, %al
        aaa                             # 5 + 2 = 0:7, no carry
        R16     %ax, FAAA
        NL

        P       "aas"
        mov     $0x0102, %ax
        sub     $0x03, %al              # ff
        aas                             # 3f: 1:2 - 3 = 0:9, borrow
        R16     %ax, FAAA
        NL

        P       "daa"
        mov     $0x38, %al
        add     $0x45, %al              # 7d
        daa                             # 27: 38 + 45 = 83 in BCD
        R8      %al, FDAA
        mov     $0x99, %al
        add     $0x01, %al              # 9a
        daa                             # 99 + 01 = 00, carry
        R8      %al, FDAA
        NL
        hlt

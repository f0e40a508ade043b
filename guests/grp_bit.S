# grp_bit.S - bit tests bt/bts/btr/btc (imm and register bit offsets, register
# and memory operands, incl. register offsets outside the addressed word,
# which select another word of memory), bsf/bsr (incl. a zero source), setcc
# for all 16 conditions, and the flag instructions cmc clc stc cld std cli sti.
# Flags printed: CF only for bt*; ZF only for bsf/bsr (the rest is undefined).
        .include "lib16.inc"
        .globl  start
start:
        INIT

        P       "bt reg"
        mov     $0x8421, %ax
        bt      $0, %ax                 # 0f ba /4 ib: bit 0 = 1
        F       FL_CF
        mov     $0x80000000, %edx
        mov     $31, %ecx
        bts     %ecx, %edx              # 66 0f ab: already set
        R32     %edx, FL_CF
        mov     $0x8421, %bx
        btr     $15, %bx                # 0f ba /6: clears bit 15
        R16     %bx, FL_CF
        mov     $20, %cx
        btc     %cx, %bx                # 0f bb: offset 20 mod 16 = bit 4
        R16     %bx, FL_CF
        mov     $33, %ecx
        btc     %ecx, %edx              # offset 33 mod 32 = bit 1
        R32     %edx, FL_CF
        NL

        P       "bt mem"
        btw     $3, bits                # 0f ba /4 on memory: bit 3 of 0x00f8
        F       FL_CF
        btsl    $8, bits                # 66 0f ba /5: bit 8
        R32     bits, FL_CF
        mov     $35, %ax
        btr     %ax, bits               # 0f b3: bit 35 = bit 3 of the word at bits+4
        R16     bits+4, FL_CF
        mov     $-1, %ax
        btc     %ax, bits               # bit -1 = bit 15 of the word at bits-2
        R16     bits-2, FL_CF
        mov     $70, %ecx
        bt      %ecx, bits              # 66 0f a3: bit 70 = bit 6 of the dword at bits+8
        F       FL_CF
        NL

        P       "bsf/bsr"
        mov     $0x0180, %ax
        bsf     %ax, %bx                # 0f bc: lowest set bit = 7
        R16     %bx, FL_ZF
        bsr     %ax, %bx                # 0f bd: highest set bit = 8
        R16     %bx, FL_ZF
        mov     $0x00010000, %eax
        bsf     %eax, %edx              # 66 0f bc: 16
        R32     %edx, FL_ZF
        bsrl    bits, %ecx              # 66 0f bd from memory
        R32     %ecx, FL_ZF
        xor     %ax, %ax
        bsf     %ax, %bx                # zero source: ZF=1, BX undefined
        F       FL_ZF
        bsrl    zero, %edx
        F       FL_ZF
        NL

        # setcc o no b ae e ne be a s ns p np l ge le g, as '0'/'1' characters
        P       "setcc 0000"
        SETF    0
        call    setall
        P       "setcc 08d5"
        SETF    0x08d5
        call    setall
        P       "setcc 0880"            # SF=OF: ge, not l
        SETF    0x0880
        call    setall
        P       "setcc 0044"
        SETF    0x0044
        call    setall

        P       "flags"
        SETF    0
        stc                             # f9
        F       0x601                   # CF DF IF
        cmc                             # f5
        F       0x601
        cmc
        F       0x601
        clc                             # f8
        F       0x601
        std                             # fd
        F       0x601
        cld                             # fc
        F       0x601
        sti                             # fb (nothing can interrupt us)
        F       0x601
        cli                             # fa
        F       0x601
        NL
        hlt

# setall: run setcc for all 16 conditions on the current FLAGS (memory and
# register destinations), then print them as 0/1 and a newline.
setall:
        seto    cc+0                    # 0f 90 /0 to memory
        setno   cc+1
        setb    cc+2
        setae   cc+3
        sete    cc+4
        setne   cc+5
        setbe   cc+6
        seta    cc+7
        sets    %al                     # 0f 98 to a register
        setns   %ah
        setp    %bl
        setnp   %bh
        setl    %cl
        setge   %ch
        setle   %dl
        setg    %dh
        mov     %ax, cc+8
        mov     %bx, cc+10
        mov     %cx, cc+12
        mov     %dx, cc+14
        PC      ' '
        mov     $cc, %si
        mov     $16, %cx
1:      lodsb
        add     $'0', %al
        outb    %al, $CON
        loop    1b
        NL
        ret

# data
cc:     .space  16
        .balign 4
        .word   0x1234                  # bits-2
bits:   .long   0x000000f8              # bits+0
        .long   0x0000ffff              # bits+4
        .long   0x00000040              # bits+8
zero:   .long   0

# grp_alu.S - integer ALU instructions in 8/16/32-bit forms: add adc sub sbb
# cmp and or xor test inc dec neg not, register/memory/immediate operands
# (incl. the sign-extended imm8 group 0x83 and the AL/AX/EAX short forms),
# at the carry/overflow boundaries, plus LOCK on memory operands.
# Each case prints " result f=flags"; flags are masked to the defined ones.
        .include "lib16.inc"
        .set    FLOG, 0x8c5             # and/or/xor/test: AF is undefined
        .globl  start
start:
        INIT

        P       "add.b"
        mov     $0x7f, %al
        add     $1, %al                 # 04 ib: 7f+01 signed overflow
        R8      %al
        mov     $0xff, %bl
        add     $1, %bl                 # 80 /0: ff+01 carry, zero
        R8      %bl
        mov     $0x80, %cl
        mov     $0x80, %dl
        add     %dl, %cl                # 00 /r: 80+80 carry and overflow
        R8      %cl
        mov     $0x0f, %ah
        add     b1, %ah                 # 02 /r from memory: 0f+01 aux carry
        R8      %ah
        NL

        P       "add.w"
        mov     $0x7fff, %ax
        add     $1, %ax                 # 83 /0 ib: 7fff+1 overflow
        R16     %ax
        mov     $0x8000, %bx
        add     $-1, %bx                # 83 /0 ib sign-extended: 8000+ffff
        R16     %bx
        mov     $0x1234, %ax
        add     $0x8765, %ax            # 05 iw
        R16     %ax
        mov     $0xf000, %cx
        add     %cx, w1                 # 01 /r to memory: 1000+f000
        R16     w1
        NL

        P       "add.l"
        mov     $1, %eax
        add     $-1, %eax               # 66 83 /0: 1+ffffffff = 0, carry
        R32     %eax
        mov     $0x80000000, %ebx
        add     $0x80000000, %ebx       # 66 81 /0: carry, overflow, zero
        R32     %ebx
        mov     $0x7fffffff, %ecx
        add     l1, %ecx                # 66 03 /r: 7fffffff+1
        R32     %ecx
        NL

        P       "adc"
        stc
        mov     $0xff, %al
        adc     $0, %al                 # 14 ib: ff+0+CF
        R8      %al
        mov     $0x7fff, %ax
        xor     %bx, %bx                # (clears CF)
        stc
        adc     %bx, %ax                # 11 /r: 7fff+0+CF overflow
        R16     %ax
        clc
        mov     $0xffffffff, %edx
        adcl    $1, %edx                # 66 83 /2, CF=0
        R32     %edx
        stc
        adcw    $0x100, w2              # 81 /2 on memory: 00ff+0100+1
        R16     w2
        NL

        P       "sub"
        xor     %al, %al
        sub     $1, %al                 # 2c ib: 00-01 borrow
        R8      %al
        mov     $0x80, %bl
        sub     $1, %bl                 # 80 /5: 80-01 overflow
        R8      %bl
        xor     %ax, %ax
        sub     $0x8000, %ax            # 2d iw: 0-8000
        R16     %ax
        mov     $0x80000000, %ecx
        sub     $1, %ecx                # 66 83 /5
        R32     %ecx
        mov     $5, %si
        sub     %si, w3                 # 29 /r to memory: 5-5 = 0
        R16     w3
        NL

        P       "sbb"
        xor     %al, %al
        stc
        sbb     $0, %al                 # 1c ib: 0-0-CF
        R8      %al
        stc
        mov     $0x8000, %ax
        sbb     $0, %ax                 # 83 /3: 8000-0-1 overflow
        R16     %ax
        clc
        xor     %edx, %edx
        sbb     l1, %edx                # 66 1b /r: 0-1-0
        R32     %edx
        NL

        P       "cmp"
        mov     $1, %al
        cmp     $2, %al                 # 3c ib: 1 < 2
        F
        mov     $0x8000, %ax
        mov     $1, %bx
        cmp     %bx, %ax                # 39 /r: signed overflow
        F
        mov     $0x1234, %cx
        cmp     %cx, w4                 # 39 /r memory: equal
        F
        mov     $-1, %edx
        cmp     $-1, %edx               # 66 83 /7: equal
        F
        cmpl    $0, l1                  # 66 83 /7 memory: 1 > 0
        F
        NL

        P       "and/or/xor"
        mov     $0xf0, %al
        and     $0x3c, %al              # 24 ib
        R8      %al, FLOG
        mov     $0x8000, %bx
        or      $0x0001, %bx            # 83 /1
        R16     %bx, FLOG
        mov     $0xffff0000, %ecx
        xor     $0xffff0000, %ecx       # 66 81 /6: zero
        R32     %ecx, FLOG
        mov     $0x0f, %dl
        xor     %dl, b2                 # 30 /r memory: 5a^0f
        R8      b2, FLOG
        mov     $0x00ff, %si
        and     w4, %si                 # 23 /r: 00ff & 1234
        R16     %si, FLOG
        xor     %eax, %eax              # the zeroing idiom
        R32     %eax, FLOG
        NL

        P       "test"
        mov     $0x80, %al
        test    $0x80, %al              # a8 ib: sign
        F       FLOG
        mov     $0x00f0, %bx
        mov     $0x0f00, %cx
        test    %bx, %cx                # 85 /r: zero
        F       FLOG
        testl   $0x80000001, l1         # 66 f7 /0 memory
        F       FLOG
        NL

        P       "inc/dec"
        stc                             # CF must survive inc/dec
        mov     $0xff, %al
        inc     %al                     # fe /0
        R8      %al
        mov     $0x7fff, %ax
        inc     %ax                     # 40: short form, overflow
        R16     %ax
        clc
        xor     %ebx, %ebx
        dec     %ebx                    # 66 4b
        R32     %ebx
        decb    b3                      # fe /1 memory: 80-1 overflow
        R8      b3
        incl    l2                      # 66 ff /0 memory: 7fffffff+1
        R32     l2
        NL

        P       "neg/not"
        xor     %al, %al
        neg     %al                     # f6 /3: neg 0 -> CF=0
        R8      %al
        mov     $0x80, %bl
        neg     %bl                     # neg 80: overflow
        R8      %bl
        mov     $1, %cx
        neg     %cx                     # f7 /3
        R16     %cx
        negl    l3                      # 66 f7 /3 memory
        R32     l3
        SETF    0x8d5                   # NOT leaves all flags alone
        mov     $0x5a, %dl
        not     %dl                     # f6 /2
        R8      %dl
        notw    w4                      # f7 /2 memory
        R16     w4
        mov     $0x0000ffff, %esi
        not     %esi                    # 66 f7 /2
        R32     %esi
        NL

        P       "lock"
        movw    $0xfffe, w5
        lock addw $1, w5                # f0 83 /0 memory
        R16     w5
        mov     $0x1111, %ax
        lock xchg %ax, w5               # f0 87 /r (xchg is locked anyway)
        H16     %ax
        H16     w5
        lock incl l2                    # 66 f0 ff /0
        R32     l2
        lock notb b1                    # f0 f6 /2
        H8      b1
        NL
        hlt

# data (in the image)
b1:     .byte   0x01
b2:     .byte   0x5a
b3:     .byte   0x80
        .balign 2
w1:     .word   0x1000
w2:     .word   0x00ff
w3:     .word   5
w4:     .word   0x1234
w5:     .word   0
        .balign 4
l1:     .long   1
l2:     .long   0x7fffffff
l3:     .long   0x00000001

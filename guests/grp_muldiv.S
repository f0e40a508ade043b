# grp_muldiv.S - mul, imul (1-, 2- and 3-operand), div and idiv in 8/16/32-bit
# forms incl. signed edge cases, and the divide error (#DE, vector 0) for a
# zero divisor and for quotient overflow, caught by our own handler.
# Flags: only CF/OF are defined after mul/imul; none after div/idiv.
#
# Layout: the IVT occupies physical 0..0x3ff, which is where this image is
# loaded, so `start` jumps over a 0x400-byte hole; vectors are set at run time.
        .include "lib16.inc"
        .set    FMUL, FL_CF | FL_OF
        .globl  start
start:
        jmp     main
        .org    0x400                   # 0..0x3ff: interrupt vector table
main:
        INIT
        SETVEC  0, de_handler

        P       "mul"
        mov     $0x80, %al
        mov     $2, %bl
        mul     %bl                     # f6 /4: AX = 80*2 = 0100, CF=OF=1
        R16     %ax, FMUL
        mov     $3, %al
        mulb    b7                      # f6 /4 memory: 3*7 = 0015, CF=OF=0
        R16     %ax, FMUL
        mov     $0xffff, %ax
        mulw    wffff                   # f7 /4: DX:AX = fffe:0001
        R16     %dx, FMUL
        H16     %ax
        mov     $0x10000, %eax
        mov     $0x10000, %ecx
        mul     %ecx                    # 66 f7 /4: EDX:EAX = 1:00000000
        R32     %edx, FMUL
        H32     %eax
        NL

        P       "imul1"
        mov     $0x80, %al
        mov     $0xff, %bl
        imul    %bl                     # f6 /5: -128 * -1 = +128 = 0080, CF=OF=1
        R16     %ax, FMUL
        mov     $-2, %ax
        mov     $3, %cx
        imul    %cx                     # f7 /5: DX:AX = ffff:fffa, fits: CF=OF=0
        R16     %dx, FMUL
        H16     %ax
        mov     $0x40000000, %eax
        imull   l2                      # 66 f7 /5 memory: 0x40000000*2 overflows
        R32     %edx, FMUL
        H32     %eax
        NL

        P       "imul2/3"
        mov     $0x100, %ax
        mov     $0x100, %bx
        imul    %bx, %ax                # 0f af: 16-bit product truncated, CF=OF=1
        R16     %ax, FMUL
        mov     $-3, %ecx
        imul    l2, %ecx                # 66 0f af memory: -6
        R32     %ecx, FMUL
        mov     $7, %bx
        imul    $-3, %bx, %dx           # 6b ib: -21 = ffeb
        R16     %dx, FMUL
        imul    $0x1234, %bx, %si       # 69 iw: 7f6c
        R16     %si, FMUL
        mov     $0x10000, %ebx
        imul    $0x10000, %ebx, %edi    # 66 69 id: overflows to 0
        R32     %edi, FMUL
        imulw   $100, wffff, %bp        # 6b ib from memory: -1 * 100
        R16     %bp, FMUL
        NL

        P       "div"
        mov     $0x0107, %ax
        mov     $0x10, %bl
        div     %bl                     # f6 /6: 0107/10 -> AL=10 AH=07
        H16     %ax
        xor     %dx, %dx
        inc     %dx                     # DX:AX = 0001:0000
        xor     %ax, %ax
        divw    w2                      # f7 /6 memory: /2 -> 8000 r 0
        H16     %ax
        H16     %dx
        mov     $1, %edx
        mov     $5, %eax                # EDX:EAX = 1:00000005
        mov     $0x10, %ecx
        div     %ecx                    # 66 f7 /6: 10000000 r 5
        H32     %eax
        H32     %edx
        NL

        P       "idiv"
        mov     $-7, %ax
        mov     $2, %bl
        idiv    %bl                     # f6 /7: -7/2 = -3 r -1 (truncates to 0)
        H16     %ax
        mov     $-0x8000, %ax
        cwd
        mov     $-1, %cx
        inc     %ax                     # -32767 / -1 = 32767: fits
        idiv    %cx                     # f7 /7
        H16     %ax
        H16     %dx
        mov     $-0x80, %ax
        mov     $1, %bl
        idiv    %bl                     # -128/1 = -128: the most negative quotient
        H16     %ax
        mov     $-100, %eax
        cdq
        idivl   l7                      # 66 f7 /7 memory: -100/7 = -14 r -2
        H32     %eax
        H32     %edx
        NL

        # Divide errors: the handler prints the pushed CS:IP, checks that IP
        # points at the faulting instruction, and resumes at `resume`.
        P       "#DE div0"
        mov     $1f, %cs:fault_ip
        mov     $2f, %cs:resume
        mov     $0x1234, %ax
        xor     %cl, %cl
1:      div     %cl                     # divide by zero
2:      H16     %ax                     # AX untouched
        NL

        P       "#DE ovf"
        mov     $1f, %cs:fault_ip
        mov     $2f, %cs:resume
        mov     $0x1000, %ax
        mov     $1, %bl
1:      div     %bl                     # quotient 1000 does not fit in AL
2:      NL

        P       "#DE idiv"
        mov     $1f, %cs:fault_ip
        mov     $2f, %cs:resume
        mov     $-0x80, %ax
        mov     $-1, %bl
1:      idiv    %bl                     # -128 / -1 = +128 does not fit in AL
2:      NL

        P       "#DE div32"
        mov     $1f, %cs:fault_ip
        mov     $2f, %cs:resume
        xor     %edx, %edx
        mov     $1, %eax
        xor     %ecx, %ecx
1:      divl    %ecx                    # 66 f7 /6 by zero
2:      P       " ndiv="
        mov     %cs:de_count, %al
        call    hex8
        NL
        hlt

# #DE handler: fault semantics, so the pushed CS:IP is the div itself; return to
# the test's `resume` address instead of re-executing it.
de_handler:
        push    %bp
        mov     %sp, %bp                # 2(%bp)=IP 4(%bp)=CS 6(%bp)=FLAGS
        push    %ax
        incb    %cs:de_count
        P       " at "
        mov     4(%bp), %ax
        call    hexw                    # CS
        PC      ':'
        mov     2(%bp), %ax
        call    hexw                    # IP
        cmp     %cs:fault_ip, %ax
        jne     1f
        P       " ok"
        jmp     2f
1:      P       " BAD"
2:      mov     %cs:resume, %ax
        mov     %ax, 2(%bp)
        pop     %ax
        pop     %bp
        iret

# data
fault_ip: .word 0
resume:   .word 0
de_count: .byte 0
b7:     .byte   7
        .balign 2
w2:     .word   2
wffff:  .word   0xffff
        .balign 4
l2:     .long   2
l7:     .long   7

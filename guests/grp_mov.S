# grp_mov.S - data movement: mov in all forms (incl. moffs and segment
# registers), movzx/movsx, xchg, xlat, lea (16- and 32-bit addressing),
# lds/les/lfs/lgs/lss, push/pop in all forms, pusha(d)/popa(d), pushf(d)/
# popf(d), enter (level 0; nested levels are in enter_nest.S)/leave, cbw/cwde/cwd/cdq, lahf/sahf, the 0x66/0x67 prefixes
# and the es/cs/ss/ds/fs/gs segment overrides. Prints the values moved.
        .include "lib16.inc"
        .globl  start
start:
        INIT

        P       "mov"
        mov     $0x1234, %ax            # b8 iw
        mov     %ax, %bx                # 89 /r
        mov     $0x9a, %cl              # b1 ib
        mov     %cl, %ch                # 88 /r
        mov     %bx, w1                 # 89 /r to memory
        mov     w1, %dx                 # 8b /r from memory
        movw    $0xbeef, w2             # c7 /0
        movb    $0x77, b1               # c6 /0
        mov     b1, %al                 # a0: moffs8 -> AL
        mov     %ax, w3                 # a3: AX -> moffs16
        H16     %bx
        H16     %cx
        H16     %dx
        H16     w2
        H16     w3
        mov     $0x12345678, %esi       # 66 be id
        mov     %esi, %edi              # 66 89 /r
        movl    $0x89abcdef, l1         # 66 c7 /0
        mov     l1, %eax                # 66 a1: moffs32 -> EAX
        H32     %edi
        H32     %eax
        NL

        P       "mov sreg"
        mov     $0x1000, %ax
        mov     %ax, %es                # 8e /r from a register
        mov     w4, %fs                 # 8e /r from memory
        mov     %es, %bx                # 8c /r to a register
        mov     %fs, w5                 # 8c /r to memory
        mov     %cs, %cx
        mov     %ss, %dx
        H16     %bx
        H16     w5
        H16     %cx
        H16     %dx
        xor     %ax, %ax
        mov     %ax, %es
        mov     %ax, %fs
        NL

        P       "movzx/sx"
        mov     $0x85, %al
        movzbw  %al, %bx                # 0f b6
        movsbw  %al, %cx                # 0f be
        movzbl  %al, %edx               # 66 0f b6
        movsbl  %al, %esi               # 66 0f be
        mov     $0x8001, %ax
        movzwl  %ax, %edi               # 66 0f b7
        movswl  w6, %ebp                # 66 0f bf from memory
        H16     %bx
        H16     %cx
        H32     %edx
        H32     %esi
        H32     %edi
        H32     %ebp
        NL

        P       "xchg"
        mov     $0x1111, %ax
        mov     $0x2222, %bx
        xchg    %bx, %ax                # 93: short form with AX
        mov     $0x33, %cl
        mov     $0x44, %dh
        xchg    %cl, %dh                # 86 /r
        mov     $0x5555, %si
        xchg    %si, w1                 # 87 /r with memory (w1 was 1234)
        mov     $0x66666666, %eax
        mov     $0x77777777, %edx
        xchg    %eax, %edx              # 66 92
        H16     %bx
        H8      %cl
        H16     %si
        H16     w1
        H32     %eax
        NL

        P       "xlat"
        mov     $xtab, %bx
        mov     $3, %al
        xlat                            # d7: AL = DS:[BX+AL]
        H8      %al
        mov     $1, %cx
        mov     %cx, %es                # ES base 0x10
        mov     $3, %al
        xlat    %es:(%bx)               # 26 d7: reads xtab+0x10+3
        H8      %al
        xor     %cx, %cx
        mov     %cx, %es
        NL

        P       "lea"
        mov     $0x100, %bx
        mov     $0x20, %si
        lea     4(%bx,%si), %ax         # 8d /r, 16-bit addressing
        H16     %ax
        mov     $0x0ff0, %bp
        lea     -0x10(%bp), %dx         # [bp+disp8]
        mov     $0x1000, %eax
        mov     $3, %ebx
        lea     0x10(%eax,%ebx,4), %ecx # 67 66 8d with SIB: 0x101c
        lea     -8(,%ebx,8), %esi       # SIB without base: 0x10
        mov     $0xfffff, %eax
        lea     2(%eax), %di            # 67 8d: a 32-bit address truncated to 16 bits
        H16     %dx
        H32     %ecx
        H32     %esi
        H16     %di
        NL

        P       "lds.."
        lds     fp1, %si                # c5: DS:SI
        mov     %ds, %ax
        push    %cs                     # CS is 0: restore DS = 0
        pop     %ds
        H16     %ax
        H16     %si
        les     fp1, %di                # c4: ES:DI
        H16     %es
        lfs     fp1, %bx                # 0f b4: FS:BX
        H16     %fs
        lgs     fp1, %cx                # 0f b5: GS:CX
        H16     %gs
        lfs     fp32, %esi              # 66 0f b4: FS:ESI from m16:32
        H16     %fs
        H32     %esi
        lss     fpstk, %sp              # 0f b2: SS:SP = 0000:7ff0
        mov     %sp, %dx
        H16     %dx
        lss     fpstk0, %sp             # back to 0000:8000
        xor     %ax, %ax
        mov     %ax, %es
        mov     %ax, %fs
        mov     %ax, %gs
        NL

        P       "push/pop"
        mov     $0xa1a1, %ax
        push    %ax                     # 50
        pop     %bx                     # 5b
        pushw   w4                      # ff /6
        popw    w2                      # 8f /0
        push    $-5                     # 6a: sign-extended imm8
        pop     %cx
        push    $0x1234                 # 68 iw
        pop     %dx
        pushl   $-2                     # 66 6a
        pop     %esi                    # 66 5e
        pushl   $0x89abcdef             # 66 68 id
        popl    l1                      # 66 8f /0
        H16     %bx
        H16     w2
        H16     %cx
        H16     %dx
        H32     %esi
        H32     l1
        mov     %sp, %bx
        push    %sp                     # 54: pushes the value before the push
        pop     %ax
        sub     %bx, %ax
        H16     %ax
        NL

        P       "push sreg"
        mov     $0x1234, %ax
        mov     %ax, %es
        push    %es                     # 06
        pop     %fs                     # 0f a1
        push    %fs                     # 0f a0
        pop     %gs                     # 0f a9
        push    %gs                     # 0f a8
        pop     %ds                     # 1f
        mov     %ds, %bx
        push    %ss                     # 16
        pop     %ds                     # ds = ss = 0
        push    %cs                     # 0e
        pop     %es                     # 07
        push    %ds                     # 1e
        pop     %ss                     # 17 (ss stays 0)
        H16     %bx
        H16     %gs
        H16     %es
        xor     %ax, %ax
        mov     %ax, %fs
        mov     %ax, %gs
        NL

        P       "pusha"
        mov     $0x0a0a, %ax
        mov     $0x0c0c, %cx
        mov     $0x0d0d, %dx
        mov     $0x0b0b, %bx
        mov     $0x0e0e, %bp
        mov     $0x0505, %si
        mov     $0x0d1d, %di
        mov     %sp, w1
        pusha                           # 60: ax cx dx bx sp bp si di
        mov     %sp, %bp
        mov     6(%bp), %ax             # the saved SP = SP before pusha
        sub     w1, %ax
        H16     %ax
        H16     14(%bp)                 # the saved AX
        xor     %ax, %ax
        mov     %ax, %bx
        mov     %ax, %si
        mov     %ax, %bp
        popa                            # 61: restores all but SP
        H16     %bx
        H16     %si
        H16     %bp
        mov     $0x11112222, %eax
        mov     $0x33334444, %edi
        pushal                          # 66 60
        xor     %eax, %eax
        xor     %edi, %edi
        popal                           # 66 61
        H32     %eax
        H32     %edi
        NL

        P       "pushf"
        SETF    0x08d5
        pushf                           # 9c
        pop     %ax
        and     $~FL_TF, %ax            # a single-stepping host may show TF
        H16     %ax
        push    $0x0003                 # popf: CF only (and bit 1)
        popf                            # 9d
        F       0xeff
        pushfl                          # 66 9c
        pop     %eax
        and     $~FL_TF, %eax
        H32     %eax
        pushl   $0x00000046
        popfl                           # 66 9d
        F       0xeff
        NL

        P       "enter"
        mov     %sp, %di                # SP before (0x8000)
        mov     $0x1111, %bp
        enter   $4, $0                  # c8 0400 00: push bp; bp=sp; sp-=4
        mov     %sp, %ax
        H16     %bp
        H16     %ax
        H16     (%bp)                   # the pushed BP
        enter   $0x100, $0              # a bigger frame
        mov     %sp, %ax
        H16     %bp
        H16     %ax
        leave                           # c9: sp=bp; pop bp
        mov     %sp, %ax
        H16     %bp
        H16     %ax
        leave
        mov     %sp, %ax
        sub     %di, %ax                # back where we started: 0
        H16     %ax
        H16     %bp
        NL

        P       "cbw.."
        mov     $0x80, %al
        cbw                             # 98
        H16     %ax
        cwde                            # 66 98
        H32     %eax
        mov     $0x8000, %ax
        cwd                             # 99
        H16     %dx
        mov     $0x7fffffff, %eax
        cdq                             # 66 99
        H32     %edx
        mov     $0x80000000, %eax
        cdq
        H32     %edx
        NL

        P       "lahf/sahf"
        mov     $0xd5, %ah
        clc
        sahf                            # 9e: SF ZF AF PF CF from AH
        F
        SETF    0x0801
        lahf                            # 9f: AH = low byte of FLAGS
        H8      %ah
        NL

        P       "prefix/seg"
        mov     $tab, %ebx
        mov     $2, %ecx
        mov     (%ebx,%ecx,2), %ax      # 67: 32-bit addressing, tab+4
        H16     %ax
        mov     $1, %ax
        mov     %ax, %es                # segment bases 0x10, 0x20, 0x30
        inc     %ax
        mov     %ax, %fs
        inc     %ax
        mov     %ax, %gs
        mov     %es:tab, %ax            # 26: tab+0x10
        mov     %fs:tab, %bx            # 64: tab+0x20
        mov     %gs:tab, %cx            # 65: tab+0x30
        mov     %ss:tab+2, %dx          # 36
        mov     %cs:tab+6, %si          # 2e
        mov     $tab+8, %bp
        mov     (%bp), %di              # SS is the default with BP
        H16     %ax
        H16     %bx
        H16     %cx
        H16     %dx
        H16     %si
        H16     %di
        mov     %es:2(%bp), %di         # 26 with a BP base
        H16     %di
        mov     %es, %ax
        mov     %ax, %ds                # DS base 0x10 too
        mov     %ds:(%bp), %di          # 3e: explicit DS with BP
        push    %cs
        pop     %ds
        H16     %di
        xor     %ax, %ax
        mov     %ax, %es
        mov     %ax, %fs
        mov     %ax, %gs
        NL
        hlt

# data (in the image)
b1:     .byte   0
xtab:   .ascii  "0123456789abcdefGHIJKLMNOPQRSTUV"
        .balign 2
w1:     .word   0
w2:     .word   0
w3:     .word   0
w4:     .word   0x4444
w5:     .word   0
w6:     .word   0x8001
        .balign 4
l1:     .long   0
fp1:    .word   0x1111, 0x2222          # m16:16 = 2222:1111
fp32:   .long   0x89abcdef              # m16:32 = 3333:89abcdef
        .word   0x3333
fpstk:  .word   0x7ff0, 0               # new SS:SP
fpstk0: .word   0x8000, 0
tab:                                    # words 0xa000 + their offset
        .set    i, 0
        .rept   32
        .word   0xa000 + i
        .set    i, i + 2
        .endr

# grp_ctrl.S - control transfer: jmp short/near/far (direct, and indirect via
# register, m16, m16:16 and m16:32), call/ret near and far (direct and
# indirect, 16- and 32-bit), ret $imm16, lret, lret $imm16, all 16 jcc in the
# short and near forms (taken and not taken), loop/loope/loopne (CX and ECX),
# jcxz/jecxz, int n / int3 / into through our own IVT handlers, iret and iretd.
#
# Layout: the IVT occupies physical 0..0x3ff, where this image is loaded, so
# `start` jumps over a 0x400-byte hole; vectors are set at run time.
# Far transfers use CS=0x0010 (base 0x100) as well as CS=0: code reached with
# CS=0x10 runs at offset label-0x100 and prints only with PC/P (the hex
# routines address their table through CS).
        .include "lib16.inc"
        .set    CSX, 0x10               # a second code segment, base 0x100
# JCC16 [prefix]: test all 16 conditions on the current FLAGS.
.macro JT cc, pfx
        mov     $'1', %al
        \pfx j\cc 1f
        mov     $'0', %al
1:      outb    %al, $CON
.endm
.macro JCC16 pfx
        .irp    cc, o,no,b,ae,e,ne,be,a,s,ns,p,np,l,ge,le,g
        JT      \cc, \pfx
        .endr
        NL
.endm

        .globl  start
start:
        jmp     main
        .org    0x400                   # 0..0x3ff: interrupt vector table
main:
        INIT
        SETVEC  3, bp_handler
        SETVEC  4, of_handler
        SETVEC  0x40, int_handler

        # Every jump lands on a PC that prints the next letter: "abcdefgh".
        P       "jmp "
        jmp     1f                      # eb: short
        PC      '!'
1:      PC      'a'
        {disp16} jmp 1f                 # e9: near rel16
        PC      '!'
1:      PC      'b'
        ljmp    $CSX, $(2f - 0x100)     # ea: far direct, to CS=0x10
        PC      '!'
2:      PC      'c'
        mov     %cs, far_cs
        ljmp    $0, $1f                 # back to CS=0
        PC      '!'
1:      PC      'd'
        mov     $1f, %ax
        jmp     *%ax                    # ff /4: near indirect, register
        PC      '!'
1:      PC      'e'
        jmp     *pnear_j                # ff /4: near indirect, memory
        PC      '!'
jnear:  PC      'f'
        ljmp    *pfar_j                 # ff /5: far indirect, m16:16
        PC      '!'
jfar:   PC      'g'
        ljmpl   *pfar32_j               # 66 ff /5: far indirect, m16:32
        PC      '!'
jfar32: PC      'h'
        H16     far_cs
        NL

        # Each callee prints a letter; then the stack must be balanced.
        P       "call "
        mov     %sp, %di
        call    fn_a                    # e8: near direct
        mov     $fn_b, %bx
        call    *%bx                    # ff /2: near indirect, register
        call    *pfn_c                  # ff /2: near indirect, memory
        lcall   $CSX, $(fn_d - 0x100)   # 9a: far direct
        lcall   *pfn_e                  # ff /3: far indirect, m16:16
        lcalll  *pfn_f                  # 66 ff /3: far indirect, m16:32
        calll   fn_g                    # 66 e8: pushes a 32-bit return address
        push    $0x1111
        push    $0x2222
        call    fn_h                    # returns with ret $4
        push    $0x3333
        lcall   $0, $fn_i               # returns with lret $2
        mov     %sp, %ax
        sub     %di, %ax                # 0: balanced
        H16     %ax
        H16     far_cs
        NL

        # jcc: '1' = taken. Conditions in the order
        # o no b ae e ne be a s ns p np l ge le g.
        P       "jcc short 0000 "
        SETF    0
        JCC16
        P       "jcc short 08d5 "
        SETF    0x08d5
        JCC16
        P       "jcc short 0080 "
        SETF    0x0080
        JCC16
        P       "jcc near  0000 "
        SETF    0
        JCC16   {disp16}
        P       "jcc near  08d5 "
        SETF    0x08d5
        JCC16   {disp16}
        P       "jcc near  0080 "
        SETF    0x0080
        JCC16   {disp16}

        P       "loop"
        xor     %bx, %bx
        mov     $5, %cx
1:      inc     %bx
        loop    1b                      # e2: 5 times
        H16     %bx
        H16     %cx
        mov     $aaab, %si
        mov     $8, %cx
1:      lodsb
        cmp     $'a', %al
        loope   1b                      # e1: stops at the 'b'
        H16     %cx
        H16     %si
        mov     $abxd, %si
        mov     $4, %cx
1:      lodsb
        cmp     $'x', %al
        loopne  1b                      # e0: stops at the 'x'
        H16     %cx
        H16     %si
        mov     $0x10003, %ecx
1:      loop    1b                      # counts CX only: ECX ends as 10000
        H32     %ecx
        mov     $3, %ecx
        xor     %bx, %bx
1:      inc     %bx
        loopl   1b                      # 67 e2: counts ECX
        H16     %bx
        H32     %ecx
        NL

        P       "jcxz "                 # '1' = taken: expect 10101
        xor     %cx, %cx
        JT      cxz                     # e3: CX=0, taken
        inc     %cx
        JT      cxz                     # CX=1: not taken
        mov     $0x10000, %ecx          # CX=0 but ECX!=0
        JT      cxz
        JT      ecxz                    # 67 e3: not taken
        xor     %ecx, %ecx
        JT      ecxz                    # taken
        NL

        # Interrupts: each handler prints its name and checks the pushed IP.
        P       "int"
        SETF    0x0801
        mov     $1f, %cs:expect_ip
        int     $0x40                   # cd 40
1:      F                               # flags restored by iret: 0801
        mov     $1f, %cs:expect_ip
        int3                            # cc
1:      mov     $1f, %cs:expect_ip
        int     $3                      # cd 03
1:      mov     $1f, %cs:expect_ip
        SETF    FL_OF
        into                            # ce: OF=1, calls vector 4
1:      SETF    0
        into                            # OF=0: nothing
        H8      %cs:nints               # 4 interrupts
        NL

        P       "iretd"
        pushl   $(FL_CF | FL_ZF | 2)    # EFLAGS
        pushl   $0                      # CS
        pushl   $1f                     # EIP
        iretl                           # 66 cf
        PC      '!'
1:      F
        mov     %sp, %ax
        H16     %ax                     # back at 8000
        NL
        hlt

# callees
fn_a:   PC      'a'
        ret                             # c3
fn_b:   PC      'b'
        ret
fn_c:   PC      'c'
        ret
fn_d:   PC      'd'                     # runs with CS=0x10
        mov     %cs, far_cs
        lret                            # cb
fn_e:   PC      'e'
        lret
fn_f:   PC      'f'
        lretl                           # 66 cb
fn_g:   PC      'g'
        retl                            # 66 c3
fn_h:   PC      'h'
        ret     $4                      # c2: drop two arguments
fn_i:   PC      'i'
        lret    $2                      # ca: drop one argument

# handlers: print the name, check the pushed return IP, count, iret.
bp_handler:
        P       " int3"
        jmp     1f
of_handler:
        P       " into"
        jmp     1f
int_handler:
        P       " int40"
1:      push    %bp
        mov     %sp, %bp
        push    %ax
        mov     2(%bp), %ax             # pushed IP
        cmp     %cs:expect_ip, %ax
        je      2f
        P       " BAD ip="
        call    hexw
2:      incb    %cs:nints
        pop     %ax
        pop     %bp
        iret                            # cf

# data
expect_ip: .word 0
nints:  .byte   0
aaab:   .ascii  "aaab"
abxd:   .ascii  "abxd"
        .balign 2
far_cs: .word   0
pnear_j: .word  jnear
pfar_j: .word   jfar, 0
pfar32_j: .long jfar32
        .word   0
pfn_c:  .word   fn_c
pfn_e:  .word   fn_e, 0
pfn_f:  .long   fn_f
        .word   0

# grp_string.S - string instructions movs cmps scas lods stos ins outs in byte/
# word/dword sizes, with rep/repe/repne, DF=0 and DF=1, 16-bit (SI/DI/CX) and
# 32-bit (ESI/EDI/ECX, 0x67) addressing, and a segment override on the source.
# Prints the registers left behind and the memory written; `rep outsb` and
# `outsw`/`outsl` print directly; `ins*` read the user's input (0 when none).
        .include "lib16.inc"
        .globl  start
start:
        INIT

        P       "movs"
        mov     $hello, %si
        mov     $buf, %di
        mov     $5, %cx
        rep movsb                       # f3 a4: "hello"
        call    regs
        mov     $buf, %si
        mov     $5, %cx
        call    show
        std                             # backwards: copy 3 words ending at the top
        mov     $hello+4, %si
        mov     $buf+4, %di
        mov     $3, %cx
        rep movsw                       # f3 a5, DF=1
        cld
        call    regs
        mov     $buf, %si
        mov     $6, %cx
        call    show
        NL
        P       "movs"
        mov     $quad, %si
        mov     $buf, %di
        movsl                           # 66 a5
        mov     $1, %ax
        mov     %ax, %fs                # FS base 0x10
        mov     $(hello - 0x10), %si
        movsb   %fs:(%si), %es:(%di)    # 64 a4: source through FS
        xor     %ax, %ax
        mov     %ax, %fs
        call    regs
        H32     buf
        H8      buf+4
        NL

        P       "cmps"
        mov     $abcdef, %si
        mov     $abcxef, %di
        mov     $6, %cx
        repe cmpsb                      # f3 a6: stops after the 'd'/'x' mismatch
        F                               # flags of 'd' - 'x'
        call    regs
        mov     $words1, %si
        mov     $words2, %di
        mov     $4, %cx
        repne cmpsw                     # f2 a7: stops at the first equal word
        F
        call    regs
        mov     $quad, %si
        mov     $quad, %di
        cmpsl                           # 66 a7: equal
        F
        NL

        P       "scas"
        mov     $'x', %al
        mov     $abxd, %di
        mov     $4, %cx
        repne scasb                     # f2 ae: find the 'x'
        F
        call    regs
        mov     $0x7777, %ax
        mov     $words2, %di
        mov     $4, %cx
        repe scasw                      # f3 af: skip words equal to AX
        F
        call    regs
        mov     $0x12345678, %eax
        mov     $quad, %di
        scasl                           # 66 af: equal
        F
        NL

        P       "lods"
        mov     $hello, %si
        lodsb                           # ac
        H8      %al
        lodsw                           # ad
        H16     %ax
        std
        lodsl                           # 66 ad, DF=1: SI goes back 4
        cld
        H32     %eax
        H16     %si
        mov     $abcdef, %si
        mov     $3, %cx
        rep lodsb                       # legal if odd: AL = the last byte
        H8      %al
        H16     %si
        NL

        P       "stos"
        mov     $buf, %di
        mov     $'z', %al
        mov     $3, %cx
        rep stosb                       # f3 aa
        mov     $0x5958, %ax            # "XY"
        stosw                           # ab
        mov     $0x34333231, %eax       # "1234"
        std
        mov     $buf+12, %di
        mov     $2, %cx
        rep stosl                       # 66 f3 ab, DF=1
        cld
        call    regs
        mov     $buf, %si
        mov     $16, %cx
        call    show
        NL

        P       "outs "
        mov     $CON, %dx
        mov     $hi, %si
        mov     $3, %cx
        rep outsb                       # f3 6e: prints "Hi!"
        outsw                           # 6f: " w"
        outsl                           # 66 6f: "ord!"
        std
        mov     $hello+4, %si
        mov     $5, %cx
        rep outsb                       # DF=1: "olleh"
        cld
        H16     %si
        NL

        P       "ins"
        mov     $CON, %dx
        mov     $buf, %di
        movl    $0, buf
        movl    $0, buf+4
        insb                            # 6c: one byte of input (or 0)
        insw                            # 6d: two bytes
        mov     $2, %cx
        rep insb                        # f3 6c
        insl                            # 66 6d: four bytes
        call    regs
        H32     buf
        H32     buf+4
        NL

        P       "addr32"
        mov     $hello, %esi
        mov     $buf, %edi
        mov     $5, %ecx
        addr32 rep movsb                # 67 f3 a4: ESI, EDI, ECX
        H32     %esi
        H32     %edi
        H32     %ecx
        mov     $buf+4, %edi
        mov     $'!', %al
        std
        addr32 stosb                    # 67 aa, DF=1
        cld
        H32     %edi
        mov     $abcxef, %esi
        addr32 lodsl                    # 67 66 ad
        H32     %eax
        H32     %esi
        mov     $buf, %si
        mov     $5, %cx
        call    show
        NL
        hlt

# regs: print SI DI CX.
regs:   H16     %si
        H16     %di
        H16     %cx
        ret

# show: print " [" CX characters at DS:SI "]", control characters as '.'.
show:   PC      ' '
        PC      '['
1:      lodsb
        cmp     $' ', %al
        jae     2f
        mov     $'.', %al
2:      outb    %al, $CON
        loop    1b
        PC      ']'
        ret

# data
hello:  .ascii  "hello"
hi:     .ascii  "Hi! word!"
abcdef: .ascii  "abcdef"
abcxef: .ascii  "abcxef"
abxd:   .ascii  "abxd"
        .balign 4
quad:   .long   0x12345678
words1: .word   1, 2, 3, 4
words2: .word   0x7777, 0x7777, 3, 0x7777
buf:    .space  16

# grp_misc.S - the rest: cpuid leaf 0, in/out in byte/word/dword sizes with
# imm8 and DX port forms, nop/pause, ud2 caught by our own #UD handler,
# bound (in range, and out of range -> #BR), sidt/sgdt/lidt/lgdt, smsw/lmsw,
# mov from CR0, clts, cli/sti, the 486 additions bswap/xadd/cmpxchg, and hlt.
# A 16/32-bit OUT to the console prints 2/4 characters, low byte first.
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
        SETVEC  6, ud_handler

        P       "cpuid max>0: "
        xor     %eax, %eax
        cpuid                           # 0f a2, leaf 0
        mov     $no, %si
        test    %al, %al
        jz      1f
        mov     $yes, %si
1:      mov     %ebx, vendor            # vendor string: EBX EDX ECX
        mov     %edx, vendor+4
        mov     %ecx, vendor+8
        call    puts3
        PC      ' '
        mov     $vendor, %si
        mov     $12, %cx
1:      lodsb
        cmp     $' ', %al               # (a host without cpuid leaves gives NULs)
        jae     2f
        mov     $'.', %al
2:      outb    %al, $CON
        loop    1b
        NL

        P       "out "
        mov     $CON, %dx
        mov     $'a', %al
        outb    %al, $CON               # e6
        mov     $'b', %al
        outb    %al, (%dx)              # ee
        mov     $0x6463, %ax            # "cd"
        outw    %ax, $CON               # e7
        mov     $0x6665, %ax            # "ef"
        outw    %ax, (%dx)              # ef
        mov     $0x6a696867, %eax       # "ghij"
        outl    %eax, $CON              # 66 e7
        mov     $0x6e6d6c6b, %eax       # "klmn"
        outl    %eax, (%dx)             # 66 ef
        NL

        P       "in"                    # the user's input, 0 once exhausted
        mov     $CON, %dx
        xor     %eax, %eax
        inb     $CON, %al               # e4
        H8      %al
        inb     (%dx), %al              # ec
        H8      %al
        inw     $CON, %ax               # e5
        H16     %ax
        inw     (%dx), %ax              # ed
        H16     %ax
        inl     $CON, %eax              # 66 e5
        H32     %eax
        inl     (%dx), %eax             # 66 ed
        H32     %eax
        NL

        P       "nop/pause/cli/sti"
        SETF    0x08d5
        nop                             # 90
        pause                           # f3 90
        xchg    %ax, %ax                # (90 again)
        F                               # unchanged: 08d5
        sti                             # fb
        F       FL_IF
        cli                             # fa
        F       FL_IF
        NL

        P       "ud2"
        mov     $1f, %cs:expect_ip
        mov     $0x1234, %ax
1:      ud2                             # 0f 0b: #UD, the handler skips it
        H16     %ax                     # untouched
        NL

        P       "idt/gdt"
        sidt    save_idt                # 0f 01 /1
        lidt    idt_ivt                 # 0f 01 /3: the real-mode IVT, 03ff@0
        sidt    desc
        H16     desc
        H32     desc+2
        lgdt    gdt_test                # 0f 01 /2
        sgdt    desc                    # 0f 01 /0
        H16     desc
        H32     desc+2
        NL

        P       "cr0"
        smsw    %ax                     # 0f 01 /4: low word of CR0
        and     $0x0001, %ax            # print PE only: the rest is host-set
        H16     %ax
        mov     %cr0, %eax              # 0f 20
        and     $0x00000001, %eax
        H32     %eax
        smsw    %ax
        lmsw    %ax                     # 0f 01 /6: write it back unchanged
        clts                            # 0f 06: TS = 0
        smsw    %ax
        and     $0x0009, %ax            # PE, TS
        H16     %ax
        NL

        P       "bswap/xadd/cmpxchg"
        mov     $0x12345678, %eax
        bswap   %eax                    # 0f c8
        H32     %eax
        mov     $0x7f, %al
        mov     $0x01, %bl
        xadd    %bl, %al                # 0f c0: AL = 80, BL = 7f
        R8      %al
        H8      %bl
        mov     $0x1111, %ax
        mov     $0x2222, %cx
        cmpxchg %cx, cmpw               # 0f b1: equal, memory = 2222
        R16     cmpw
        cmpxchg %cx, cmpw               # not equal (AX=1111): AX = 2222
        R16     %ax
        NL
        hlt

# handlers: print the pushed IP; #UD skips the 2-byte ud2, #BR (a fault on
# the bound instruction) resumes at the address the test left in `resume`.
ud_handler:
        push    %bp
        mov     %sp, %bp
        push    %ax
        P       " #UD"
        call    checkip
        addw    $2, 2(%bp)              # skip ud2
        pop     %ax
        pop     %bp
        iret

br_handler:
        push    %bp
        mov     %sp, %bp
        push    %ax
        P       " #BR"
        call    checkip
        mov     %cs:resume, %ax
        mov     %ax, 2(%bp)
        incb    %cs:nfaults
        pop     %ax
        pop     %bp
        iret

# checkip: print " ip=XXXX ok|BAD" for the IP at 2(%bp) against expect_ip.
checkip:
        P       " ip="
        mov     2(%bp), %ax
        call    hexw
        cmp     %cs:expect_ip, %ax
        jne     1f
        P       " ok"
        ret
1:      P       " BAD"
        ret

# puts3: print the NUL-terminated string at CS:SI.
puts3:  lodsb   %cs:(%si), %al
        test    %al, %al
        jz      1f
        outb    %al, $CON
        jmp     puts3
1:      ret

# data
yes:    .asciz  "yes"
no:     .asciz  "no"
expect_ip: .word 0
resume: .word   0
nfaults: .byte  0
        .balign 4
vendor: .space  12
bounds: .word   0, 10
bounds32: .long 0, 10
cmpw:   .word   0x1111
save_idt: .space 6
desc:   .space  6
idt_ivt: .word  0x03ff
        .long   0
gdt_test: .word 0x0017
        .long   0x00012340

# tiny_kernel.S - the classic KVM demo: print "Hello,world\n" on port 0xf1, then halt.
# No stack, no data: one `mov $ch, %al` / `outb %al, $0xf1` pair per character.
        .code16
        .globl  start
start:
        mov     $'H', %al
        outb    %al, $0xf1
        mov     $'e', %al
        outb    %al, $0xf1
        mov     $'l', %al
        outb    %al, $0xf1
        mov     $'l', %al
        outb    %al, $0xf1
        mov     $'o', %al
        outb    %al, $0xf1
        mov     $',', %al
        outb    %al, $0xf1
        mov     $'w', %al
        outb    %al, $0xf1
        mov     $'o', %al
        outb    %al, $0xf1
        mov     $'r', %al
        outb    %al, $0xf1
        mov     $'l', %al
        outb    %al, $0xf1
        mov     $'d', %al
        outb    %al, $0xf1
        mov     $'\n', %al
        outb    %al, $0xf1
        hlt

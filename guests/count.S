# count.S - benchmark guest: 1,000,000 OUTs of '.' to port 0xf1, then a
# newline and halt. Recorded without single-step, so it measures exit cost.
        .code16
        .globl  start
start:
        mov     $'.', %al
        mov     $1000000, %ecx          # 32-bit count: 1e6 does not fit in CX
1:      outb    %al, $0xf1
        loopl   1b                      # addr32 loop: decrements ECX
        mov     $'\n', %al
        outb    %al, $0xf1
        hlt

/* compute.S — a compute-bound real-mode guest for `npm run bench:replay`: a loop of integer
 * arithmetic with no exits (a 32-bit LCG and a running checksum), then the checksum printed in
 * hex on port 0xf1 and HLT. ITERATIONS sets its length: ~10 instructions per iteration. */
.code16
.set ITERATIONS, 200000
.globl start
start:
    xor %ax, %ax
    mov %ax, %ss
    mov $0x8000, %sp
    mov $12345, %eax          /* LCG state */
    xor %ebx, %ebx            /* checksum */
    mov $ITERATIONS, %ecx
1:  imul $1103515245, %eax, %eax
    add $12345, %eax
    mov %eax, %edx
    shr $16, %edx
    xor %edx, %ebx
    rol $5, %ebx
    add %eax, %ebx
    dec %ecx
    jnz 1b
    /* print EBX as 8 hex digits, then a newline */
    mov $8, %cx
2:  rol $4, %ebx
    mov %bl, %al
    and $0x0f, %al
    add $'0', %al
    cmp $'9', %al
    jbe 3f
    add $('a' - '0' - 10), %al
3:  outb %al, $0xf1
    loop 2b
    mov $'\n', %al
    outb %al, $0xf1
    hlt

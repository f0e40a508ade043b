# rep_io_edge.S - string IO (and a few plain accesses) whose buffer crosses the end of RAM.
# Recorded with `--mem 64K` (RAM is [0, 0x10000), everything above is unclaimed MMIO) and
# input bytes on port 0xf2 (the golden: -i with "ABC...Z" repeated), so that KVM's behaviour
# there (docs/exit-semantics.md, "String IO at the end of RAM") is in a golden: the IO exit of
# a rep ins read-ahead followed by MMIO writes of the bytes beyond RAM (DF=0: one block, in
# 8-byte pieces; DF=1: item by item, the rest of the read-ahead dropped), rep outs reading its
# source through MMIO reads, accesses split at the end of RAM and at MMIO page boundaries.
# ES/DS = 0x0f00 (base 0xf000): offset = linear address - 0xf000, far from the 64 KiB limit.
# Prints "rep-io" and the last 32 bytes of RAM (what the RAM parts received) in hex.
        .include "lib16.inc"
        .globl  start
        .set    SEG, 0x0f00
        .set    INP, 0xf2               # input port
        .set    SINK, 0x80              # unclaimed port: OUTs are only recorded
start:
        INIT
        P       "rep-io"
        NL
        mov     $SEG, %ax
        mov     %ax, %es
        mov     $INP, %dx

        mov     $0x0ffc, %di            # rep insb, DF=0, 0xfffc..0x10003: 4 bytes to RAM,
        mov     $8, %cx                 # then a batch of 4 -> IO exit + one 4-byte MMIO write
        rep insb

        mov     $0x0ffa, %di            # rep insw, DF=0, 0xfffa: one batch of 4 words (room
        mov     $4, %cx                 # 6 bytes counts as 6 items): 6 bytes RAM, 2 MMIO
        rep insw

        mov     $0x0ffe, %di            # rep insl, DF=0, 0xfffe: 2 dwords (2 bytes RAM, a
        mov     $3, %cx                 # 6-byte MMIO write), then 1 dword at 0x10006
        rep insl

        mov     $0x0fe0, %di            # rep insb, DF=0: 32 bytes to RAM, then one batch of
        mov     $0x50, %cx              # 48 bytes above RAM: six 8-byte MMIO writes
        rep insb

        mov     $0x1010, %di            # rep insb entirely above RAM: one 3-byte MMIO write
        mov     $3, %cx
        rep insb

        mov     $0x1ffe, %di            # rep insl across an MMIO page boundary (0x11000):
        mov     $2, %cx                 # MMIO writes of 2 and 6 bytes
        rep insl

        mov     $0x0ffc, %edi           # addr32 rep insw (ECX/EDI), DF=0, 0xfffc, 5 words
        mov     $5, %ecx
        addr32 rep insw

        std
        mov     $0x1003, %di            # rep insb, DF=1, from 0x10003 down into RAM: each MMIO
        mov     $8, %cx                 # item is an exit that drops the rest of the batch
        rep insb
        mov     $0x1001, %di            # rep insw, DF=1, 0x10001: the word at 0xffff is half
        mov     $3, %cx                 # RAM, half MMIO (a 1-byte MMIO write)
        rep insw
        cld

        mov     $SEG, %ax
        mov     %ax, %ds
        mov     $SINK, %dx
        mov     $0x0ffe, %si            # rep outsb, DF=0, 0xfffe: 2 bytes from RAM, 2 read
        mov     $4, %cx                 # through MMIO (an MMIO read, then the IO exit)
        rep outsb
        mov     $0x0ffe, %si            # rep outsl: the first dword is half RAM (a 2-byte
        mov     $2, %cx                 # MMIO read), the second all MMIO
        rep outsl
        std
        mov     $0x1002, %si            # rep outsw, DF=1, from 0x10002 down into RAM
        mov     $3, %cx
        rep outsw
        cld

        mov     $0x1010, %si            # cmpsb with both operands above RAM: two MMIO reads
        mov     $0x1020, %di
        cmpsb
        mov     $0x1ffe, %di            # a dword write and read across an MMIO page boundary:
        mov     $0x11223344, %eax       # two 2-byte accesses each
        mov     %eax, %es:(%di)
        mov     %es:(%di), %ebx
        mov     $0x0fff, %di            # read-modify-write of a word half in RAM
        addw    $0x0101, %es:(%di)

        xor     %ax, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     $0xffe0, %si            # the last 32 bytes of RAM, 16 per line
        mov     $2, %dx
2:      mov     $16, %cx
1:      lodsb
        mov     %al, %bl
        H8      %bl
        loop    1b
        NL
        dec     %dx
        jnz     2b
        hlt

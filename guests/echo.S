# echo.S - copy the user's input to the console: read bytes from port 0xf1
# and write each back until the input is exhausted (the port then reads 0).
        .code16
        .globl  start
start:
1:      inb     $0xf1, %al
        test    %al, %al
        jz      2f                      # 0 = end of input
        outb    %al, $0xf1
        jmp     1b
2:      hlt

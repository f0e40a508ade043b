/* longself.S - a multiboot guest that enables long mode itself, as a 64-bit kernel's 32-bit
 * entry code does: 4-level identity tables (2 MiB pages) in its bss, CR4.PAE, CR3, EFER.LME,
 * CR0.PG, then a far jump to 64-bit code that prints "L\n". Hosts whose KVM cannot switch modes
 * under the guest (kvm_pvm) end it with SHUTDOWN, which `vmtrace record` explains.
 * guest: 32 asm
 */
        .set    MB_MAGIC, 0x1badb002
        .set    MB_FLAGS, 0
        .section .multiboot, "a"
        .p2align 2
        .long   MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .code32
        .text
        .globl  _start
_start:
        movl    $pdpt + 3, pml4         /* present, writable */
        movl    $pd + 3, pdpt
        movl    $pd, %edi
        movl    $0x83, %eax             /* present, writable, 2 MiB page */
        movl    $8, %ecx                /* identity-map 16 MiB */
1:      movl    %eax, (%edi)
        addl    $0x200000, %eax
        addl    $8, %edi
        loop    1b
        lgdt    gdtr
        movl    %cr4, %eax
        orl     $0x20, %eax             /* CR4.PAE */
        movl    %eax, %cr4
        movl    $pml4, %eax
        movl    %eax, %cr3
        movl    $0xc0000080, %ecx       /* EFER */
        rdmsr
        orl     $0x100, %eax            /* EFER.LME */
        wrmsr
        movl    %cr0, %eax
        orl     $0x80000000, %eax       /* CR0.PG: long mode becomes active */
        movl    %eax, %cr0
        ljmp    $0x08, $long64

        .code64
long64:
        movb    $'L', %al
        outb    %al, $0xe9
        movb    $'\n', %al
        outb    %al, $0xe9
        hlt

        .section .rodata
        .p2align 3
gdt:    .quad   0
        .quad   0x00af9b000000ffff      /* 0x08: 64-bit code */
gdtr:   .word   15
        .long   gdt

        .section .bss
        .p2align 12
pml4:   .space  4096
pdpt:   .space  4096
pd:     .space  4096

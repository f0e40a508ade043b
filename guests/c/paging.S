/* paging32.S - a multiboot guest that turns on 32-bit paging itself (a page directory of 4 MiB
 * identity pages, CR4.PSE, CR0.PG) and prints 'P' once paging is on. Hosts whose KVM cannot run
 * legacy paging (kvm_pvm) end it with SHUTDOWN, which `vmtrace record` explains.
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
        movl    $page_dir, %edi
        movl    $0x83, %eax             /* present, writable, 4 MiB page */
        movl    $4, %ecx                /* identity-map 16 MiB */
1:      movl    %eax, (%edi)
        addl    $0x400000, %eax
        addl    $4, %edi
        loop    1b
        movl    $page_dir, %eax
        movl    %eax, %cr3
        movl    %cr4, %eax
        orl     $0x10, %eax             /* CR4.PSE */
        movl    %eax, %cr4
        movl    %cr0, %eax
        orl     $0x80000000, %eax       /* CR0.PG */
        movl    %eax, %cr0
        movb    $'P', %al
        outb    %al, $0xe9
        movb    $'\n', %al
        outb    %al, $0xe9
        hlt

        .section .bss
        .p2align 12
page_dir:
        .space  4096

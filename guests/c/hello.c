/* hello.c - the smallest C guest, in the style of a hobby kernel run under QEMU with
 * `-debugcon stdio -device isa-debug-exit,iobase=0xf4,iosize=4`: it prints what the loader handed
 * it to port 0xe9 and ends by writing 0x10 to isa-debug-exit (exit status 0x21 = 33).
 * guest: 32 64 console=0xe9
 */
#include "rt/rt.h"

struct multiboot_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table, boot_loader_name;
};

int main(void)
{
#ifdef __x86_64__
	printf("hello from long mode: cr0=%p cr3=%p cr4=%p\n", (void *)read_cr0(), (void *)read_cr3(), (void *)read_cr4());
#else
	printf("hello from protected mode: eax=0x%x\n", rt_boot_magic);
	if (rt_boot_magic == 0x2badb002) {
		const struct multiboot_info *mbi = (const struct multiboot_info *)rt_boot_info;
		printf("multiboot: flags=0x%x mem_lower=%uK mem_upper=%uK\n", mbi->flags, mbi->mem_lower, mbi->mem_upper);
		if (mbi->flags & (1 << 9))
			printf("loader: %s\n", (const char *)mbi->boot_loader_name);
	}
#endif
	exit(0x10);
}

/* lib.c - ending the run, and the memory/string functions gcc may call by itself. */
#include "rt.h"

uint32_t rt_boot_magic;
uint32_t rt_boot_info;

void halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

void exit(int code)
{
	outb(PORT_DEBUG_EXIT, (uint8_t)code);
	halt(); /* without an isa-debug-exit device the write is ignored: end with HLT */
}

void poweroff(void)
{
	outw(PORT_ACPI_PM1A_CNT, 0x2000);
	halt();
}

void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	if (p < q)
		while (n--)
			*p++ = *q++;
	else
		while (n--)
			p[n] = q[n];
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;
	for (; n--; p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

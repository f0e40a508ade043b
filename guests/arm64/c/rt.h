/* rt.h - the AArch64 C guests' console: putc/puts/puthex/putdec on the PL011 data register.
 * Each character is one MMIO store (no UARTFR polling: it would double the exits, and neither
 * vmtrace's nor QEMU's PL011 ever fills). */
#ifndef RT_H
#define RT_H

typedef unsigned char uint8_t;
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;

#define PL011_DR ((volatile uint8_t *)0x09000000UL)

static inline void putc(char c)
{
	*PL011_DR = (uint8_t)c;
}

static inline void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

/* The low `digits` hex digits of v, most significant first. */
static inline void puthex(uint64_t v, int digits)
{
	while (digits-- > 0)
		putc("0123456789abcdef"[(v >> (4 * digits)) & 0xf]);
}

static inline void putdec(uint64_t v)
{
	char buf[20];
	int n = 0;
	do
		buf[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		putc(buf[--n]);
}

#endif

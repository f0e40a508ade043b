/* printf.c - a small printf: %d %i %u %x %X %s %c %p %%, with '-', '0', width and l/ll/z. */
#include "rt.h"

static int emit_padded(const char *s, int len, int width, int left, char pad)
{
	int n = 0;
	if (!left)
		for (; width > len; width--, n++)
			putchar(pad);
	for (int i = 0; i < len; i++, n++)
		putchar(s[i]);
	if (left)
		for (; width > len; width--, n++)
			putchar(' ');
	return n;
}

/* v / d with the remainder in *rem, by shift and subtract: 32-bit code has no 64-bit divide
 * instruction, and the runtime does not link libgcc (whose __udivdi3 would do this). */
static unsigned long long divmod(unsigned long long v, unsigned d, unsigned *rem)
{
#ifdef __x86_64__
	*rem = (unsigned)(v % d);
	return v / d;
#else
	if (v >> 32 == 0) {
		*rem = (unsigned)v % d;
		return (unsigned)v / d;
	}
	unsigned long long q = 0, r = 0;
	for (int bit = 63; bit >= 0; bit--) {
		r = (r << 1) | ((v >> bit) & 1);
		if (r >= d) {
			r -= d;
			q |= 1ull << bit;
		}
	}
	*rem = (unsigned)r;
	return q;
#endif
}

/* Digits of v in base 10 or 16 into the end of buf; returns where they start. */
static char *format_unsigned(char *end, unsigned long long v, unsigned base, int upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char *p = end;
	do {
		unsigned digit;
		v = divmod(v, base, &digit);
		*--p = digits[digit];
	} while (v);
	return p;
}

int vprintf(const char *fmt, va_list ap)
{
	int n = 0;
	char buf[24];
	char *end = buf + sizeof buf;
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			putchar(*fmt);
			n++;
			continue;
		}
		int left = 0, width = 0, longs = 0;
		char pad = ' ';
		fmt++;
		for (;; fmt++) {
			if (*fmt == '-')
				left = 1;
			else if (*fmt == '0')
				pad = '0';
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			longs += *fmt == 'z' ? (sizeof(size_t) == 8 ? 2 : 0) : 1;
			fmt++;
		}
		if (left)
			pad = ' ';
		unsigned long long u;
		char *p;
		switch (*fmt) {
		case 'd':
		case 'i': {
			long long v = longs >= 2 ? va_arg(ap, long long) : longs ? va_arg(ap, long) : va_arg(ap, int);
			p = format_unsigned(end, v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10, 0);
			if (v < 0) {
				if (pad == '0' && width) {
					putchar('-');
					n++;
					width--;
				} else
					*--p = '-';
			}
			n += emit_padded(p, end - p, width, left, pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
			u = longs >= 2 ? va_arg(ap, unsigned long long) : longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			p = format_unsigned(end, u, *fmt == 'u' ? 10 : 16, *fmt == 'X');
			n += emit_padded(p, end - p, width, left, pad);
			break;
		case 'p':
			p = format_unsigned(end, (uintptr_t)va_arg(ap, void *), 16, 0);
			*--p = 'x';
			*--p = '0';
			n += emit_padded(p, end - p, width, left, ' ');
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			n += emit_padded(s, strlen(s), width, left, ' ');
			break;
		}
		case 'c':
			buf[0] = (char)va_arg(ap, int);
			n += emit_padded(buf, 1, width, left, ' ');
			break;
		case '%':
			putchar('%');
			n++;
			break;
		case '\0':
			return n;
		default: /* unknown conversion: print it as is */
			putchar('%');
			putchar(*fmt);
			n += 2;
		}
	}
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

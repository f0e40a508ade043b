/* recurse.c - deep-ish call chains: fib(15) = 610 naively and ackermann(2, 3) = 9.
 * Exits with 0 when both are right. */
#include "rt.h"

/* noinline and an opaque argument keep gcc from folding the recursion away */
static __attribute__((noinline)) uint32_t fib(uint32_t n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static __attribute__((noinline)) uint32_t ackermann(uint32_t m, uint32_t n)
{
	if (m == 0)
		return n + 1;
	if (n == 0)
		return ackermann(m - 1, 1);
	return ackermann(m - 1, ackermann(m, n - 1));
}

int main(void)
{
	volatile uint32_t fn = 15, am = 2, an = 3;
	uint32_t f = fib(fn), a = ackermann(am, an);
	puts("fib(15)=");
	putdec(f);
	puts(" ack(2,3)=");
	putdec(a);
	putc('\n');
	return f == 610 && a == 9 ? 0 : 1;
}

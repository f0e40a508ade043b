/* sieve.c - the primes below 2000 by the sieve of Eratosthenes; prints their count (303).
 * Exits with 0 when the count is right. */
#include "rt.h"

#define N 2000

static uint8_t composite[N];

int main(void)
{
	int count = 0;
	for (int i = 2; i < N; i++) {
		if (composite[i])
			continue;
		count++;
		for (int j = i * i; j < N; j += i)
			composite[j] = 1;
	}
	puts("primes below 2000: ");
	putdec(count);
	putc('\n');
	return count == 303 ? 0 : 1;
}

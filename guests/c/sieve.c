/* sieve.c - the sieve of Eratosthenes below 2000, printed to the console port 0xf1.
 * guest: 32 64 console=0xf1
 */
#include "rt/rt.h"

#define N 2000

static unsigned char composite[N]; /* bss: zero-filled by the loader */

int main(void)
{
	for (unsigned i = 2; i * i < N; i++)
		if (!composite[i])
			for (unsigned j = i * i; j < N; j += i)
				composite[j] = 1;
	unsigned count = 0, sum = 0, last = 0;
	for (unsigned i = 2; i < N; i++)
		if (!composite[i]) {
			count++;
			sum += i;
			last = i;
		}
	printf("primes below %u: %u (sum %u, largest %u)\n", N, count, sum, last);
	printf("first:");
	for (unsigned i = 2, shown = 0; shown < 10; i++)
		if (!composite[i]) {
			printf(" %u", i);
			shown++;
		}
	printf("\n");
	return 0;
}

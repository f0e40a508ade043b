/* sort.c - quicksort (insertion sort below 8 elements) of 200 pseudo-random words from an xorshift
 * generator; checks the order and prints "sorted" with the sum of i * a[i] as a checksum.
 * Exits with 0 when sorted. */
#include "rt.h"

#define N 200

static uint32_t a[N];

static void insertion(uint32_t *v, int n)
{
	for (int i = 1; i < n; i++) {
		uint32_t x = v[i];
		int j = i;
		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

static void quicksort(uint32_t *v, int n)
{
	while (n > 8) {
		uint32_t pivot = v[n / 2];
		int i = 0, j = n - 1;
		for (;;) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i >= j)
				break;
			uint32_t t = v[i];
			v[i++] = v[j];
			v[j--] = t;
		}
		/* recurse into the smaller half, loop on the larger: the stack stays shallow */
		if (j + 1 < n - j - 1) {
			quicksort(v, j + 1);
			v += j + 1;
			n -= j + 1;
		} else {
			quicksort(v + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	insertion(v, n);
}

int main(void)
{
	uint32_t x = 2463534242u;
	for (int i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		a[i] = x;
	}
	quicksort(a, N);
	int ok = 1;
	uint64_t sum = 0;
	for (int i = 0; i < N; i++) {
		if (i > 0 && a[i - 1] > a[i])
			ok = 0;
		sum += (uint64_t)i * a[i];
	}
	puts(ok ? "sorted " : "NOT sorted ");
	puthex(sum, 16);
	putc('\n');
	return ok ? 0 : 1;
}

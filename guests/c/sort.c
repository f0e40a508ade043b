/* sort.c - quicksort of 256 and insertion sort of 64 pseudo-random numbers, checked, printed
 * through the 16550 UART (polling LSR), ending with an ACPI power-off.
 * guest: 64 console=uart
 */
#include "rt/rt.h"

static uint32_t seed = 12345;

static uint32_t next_random(void)
{
	seed = seed * 1103515245u + 12345u;
	return (seed >> 8) & 0xffff;
}

static void quicksort(uint32_t *a, int lo, int hi)
{
	while (lo < hi) {
		uint32_t pivot = a[(lo + hi) / 2];
		int i = lo, j = hi;
		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				uint32_t t = a[i];
				a[i++] = a[j];
				a[j--] = t;
			}
		}
		if (j - lo < hi - i) { /* recurse into the smaller half */
			quicksort(a, lo, j);
			lo = i;
		} else {
			quicksort(a, i, hi);
			hi = j;
		}
	}
}

static void insertion_sort(uint32_t *a, int n)
{
	for (int i = 1; i < n; i++) {
		uint32_t v = a[i];
		int j = i - 1;
		while (j >= 0 && a[j] > v) {
			a[j + 1] = a[j];
			j--;
		}
		a[j + 1] = v;
	}
}

static int check(const char *what, const uint32_t *a, int n)
{
	uint32_t sum = 0;
	int sorted = 1;
	for (int i = 0; i < n; i++) {
		sum += a[i];
		if (i && a[i - 1] > a[i])
			sorted = 0;
	}
	printf("%-9s n=%3d sum=%u min=%u max=%u %s\n", what, n, sum, a[0], a[n - 1], sorted ? "sorted" : "NOT SORTED");
	return sorted;
}

static uint32_t big[256], small[64];

int main(void)
{
	for (int i = 0; i < 256; i++)
		big[i] = next_random();
	for (int i = 0; i < 64; i++)
		small[i] = next_random();
	quicksort(big, 0, 255);
	insertion_sort(small, 64);
	int ok = check("quicksort", big, 256) & check("insertion", small, 64);
	printf("first 8:");
	for (int i = 0; i < 8; i++)
		printf(" %u", big[i]);
	printf("\n%s\n", ok ? "all sorted" : "FAILED");
	poweroff();
}

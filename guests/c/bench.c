/* bench.c - compute-bound guest for `npm run bench:replay`: a bitwise CRC-32 over 32 KiB of
 * generated data (about 2 M instructions, no exits), then the result on debugcon (0xe9).
 * guest: 32 64 console=0xe9
 */
#include "rt/rt.h"

static uint8_t data[32 * 1024];

int main(void)
{
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof data; i++) {
		x = x * 1103515245 + 12345;
		data[i] = (uint8_t)(x >> 16);
	}
	uint32_t c = 0xffffffff;
	for (size_t i = 0; i < sizeof data; i++) {
		c ^= data[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320 : c >> 1;
	}
	printf("bench: crc32 = %08x\n", ~c);
	return 0;
}

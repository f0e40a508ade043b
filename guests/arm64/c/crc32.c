/* crc32.c - bitwise CRC-32 (the zlib/Ethernet one): of "123456789", whose check value is
 * cbf43926, and of a 256-byte buffer 0, 1, ..., 255 (29058c73). Exits with 0 when both match. */
#include "rt.h"

static uint8_t buf[256];

static uint32_t crc32(const uint8_t *p, int n)
{
	uint32_t crc = 0xffffffffu;
	while (n-- > 0) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

int main(void)
{
	uint32_t check = crc32((const uint8_t *)"123456789", 9);
	for (int i = 0; i < 256; i++)
		buf[i] = (uint8_t)i;
	uint32_t all = crc32(buf, sizeof buf);
	puts("crc32 ");
	puthex(check, 8);
	putc(' ');
	puthex(all, 8);
	putc('\n');
	return check == 0xcbf43926u && all == 0x29058c73u ? 0 : 1;
}

/* crc32.c - CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320): bitwise over the standard check
 * string, table-driven over a 1 KiB generated buffer, printed to debugcon (0xe9).
 * guest: 32 64 console=0xe9
 */
#include "rt/rt.h"

static uint32_t table[256];
static uint8_t buffer[1024];

static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffff;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320 : c >> 1;
	}
	return ~c;
}

static void make_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320 : c >> 1;
		table[i] = c;
	}
}

static uint32_t crc32_table(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffff;
	while (n--)
		c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

int main(void)
{
	static const char check[] = "123456789";
	uint32_t a = crc32_bitwise((const uint8_t *)check, 9);
	printf("crc32(\"%s\") = %08x (%s)\n", check, a, a == 0xcbf43926 ? "ok" : "WRONG");
	make_table();
	for (size_t i = 0; i < sizeof buffer; i++)
		buffer[i] = (uint8_t)(i * 37 + 11);
	uint32_t b = crc32_table(buffer, sizeof buffer);
	uint32_t c = crc32_bitwise(buffer, 64);
	uint32_t d = crc32_table(buffer, 64);
	printf("crc32(buffer[1024]) = %08x\n", b);
	printf("crc32(buffer[64]) = %08x bitwise, %08x table (%s)\n", c, d, c == d ? "agree" : "DIFFER");
	return 0;
}

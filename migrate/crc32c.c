#include "migrate/crc32c.h"

#include <string.h>

#define POLY 0x82f63b78u /* reflected Castagnoli */

/* Byte at a time with a table computed on the fly into the caller's stack: no global. Only for
 * CPUs without SSE4.2. */
static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t n)
{
	uint32_t table[256];

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[i] = c;
	}
	while (n--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t c = crc;

	while (n >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		n -= 8;
	}
	while (n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

static uint32_t crc32c_with_sw(uint32_t crc, const void *p, size_t n)
{
	return ~crc32c_sw(~crc, p, n);
}

static uint32_t crc32c_with_hw(uint32_t crc, const void *p, size_t n)
{
	return ~crc32c_hw(~crc, p, n);
}

crc32c_fn crc32c_pick(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2") ? crc32c_with_hw : crc32c_with_sw;
}

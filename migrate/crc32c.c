#include "migrate/crc32c.h"

#include <string.h>
#include <time.h>

#define POLY 0x82f63b78u /* reflected Castagnoli */
#define ALWAYS_INLINE inline __attribute__((always_inline))

static void tables_fill(struct crc32c *c)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t v = i;

		for (int k = 0; k < 8; k++)
			v = v & 1 ? (v >> 1) ^ POLY : v >> 1;
		c->table[0][i] = v;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			c->table[k][i] = c->table[0][c->table[k - 1][i] & 0xff] ^ c->table[k - 1][i] >> 8;
}

/* The CRC register after zero bytes is a linear function of the register before (over
 * GF(2)): @basis holds its value for each single bit. */
static uint32_t apply(const uint32_t basis[32], uint32_t x)
{
	uint32_t v = 0;

	for (int i = 0; x; i++, x >>= 1)
		if (x & 1)
			v ^= basis[i];
	return v;
}

/* shift[0] and shift[1]: the register after CRC32C_LANE and 2 * CRC32C_LANE zero bytes, a
 * table per byte of the register before (one zero byte's map, squared until it is a lane's). */
static void shift_fill(struct crc32c *c)
{
	uint32_t m[32], sq[32];

	for (int i = 0; i < 32; i++)
		m[i] = c->table[0][(1u << i) & 0xff] ^ (1u << i) >> 8;
	for (size_t zeros = 1; zeros < 2 * CRC32C_LANE; zeros *= 2) {
		for (int i = 0; i < 32; i++)
			sq[i] = apply(m, m[i]);
		memcpy(m, sq, sizeof(m));
		if (zeros * 2 == CRC32C_LANE || zeros * 2 == 2 * CRC32C_LANE)
			for (int k = 0; k < 4; k++)
				for (uint32_t b = 0; b < 256; b++)
					c->shift[zeros * 2 != CRC32C_LANE][k][b] = apply(m, b << (8 * k));
	}
}

static ALWAYS_INLINE uint32_t shifted(const uint32_t t[4][256], uint32_t x)
{
	return t[0][x & 0xff] ^ t[1][x >> 8 & 0xff] ^ t[2][x >> 16 & 0xff] ^ t[3][x >> 24];
}

static ALWAYS_INLINE uint32_t sw_word(const struct crc32c *c, uint32_t crc, uint64_t w)
{
	w ^= crc;
	return c->table[7][w & 0xff] ^ c->table[6][w >> 8 & 0xff] ^ c->table[5][w >> 16 & 0xff] ^
	       c->table[4][w >> 24 & 0xff] ^ c->table[3][w >> 32 & 0xff] ^
	       c->table[2][w >> 40 & 0xff] ^ c->table[1][w >> 48 & 0xff] ^ c->table[0][w >> 56];
}

static ALWAYS_INLINE uint32_t sw_byte(const struct crc32c *c, uint32_t crc, uint8_t b)
{
	return c->table[0][(crc ^ b) & 0xff] ^ crc >> 8;
}

static ALWAYS_INLINE uint64_t load(const uint8_t *s, uint8_t *d, size_t i, bool copy)
{
	uint64_t w;

	memcpy(&w, s + i, 8);
	if (copy)
		memcpy(d + i, &w, 8);
	return w;
}

/* The raw register (no inversions) over n bytes, with the tables, copying when @copy (a
 * constant at every call: each variant compiles to its own loop). */
static ALWAYS_INLINE uint32_t sw_run(const struct crc32c *c, uint32_t crc, uint8_t *d,
				     const uint8_t *s, size_t n, bool copy)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		crc = sw_word(c, crc, load(s, d, i, copy));
	for (; i < n; i++) {
		if (copy)
			d[i] = s[i];
		crc = sw_byte(c, crc, s[i]);
	}
	return crc;
}

/* With the instruction: three lanes at a time in three independent chains (one chain waits
 * on the instruction's latency, three keep it busy), joined by shifting the first two over
 * the lanes after them. */
__attribute__((target("sse4.2")))
static ALWAYS_INLINE uint32_t hw_run(const struct crc32c *c, uint32_t crc, uint8_t *d,
				     const uint8_t *s, size_t n, bool copy)
{
	const size_t L = CRC32C_LANE;
	size_t i = 0;

	for (; n - i >= 3 * L; i += 3 * L) {
		uint64_t c0 = crc, c1 = 0, c2 = 0;

		for (size_t j = i; j < i + L; j += 8) {
			c0 = __builtin_ia32_crc32di(c0, load(s, d, j, copy));
			c1 = __builtin_ia32_crc32di(c1, load(s, d, j + L, copy));
			c2 = __builtin_ia32_crc32di(c2, load(s, d, j + 2 * L, copy));
		}
		crc = shifted(c->shift[1], (uint32_t)c0) ^ shifted(c->shift[0], (uint32_t)c1) ^
		      (uint32_t)c2;
	}
	for (; i + 8 <= n; i += 8)
		crc = (uint32_t)__builtin_ia32_crc32di(crc, load(s, d, i, copy));
	for (; i < n; i++) {
		if (copy)
			d[i] = s[i];
		crc = __builtin_ia32_crc32qi(crc, s[i]);
	}
	return crc;
}

__attribute__((target("sse4.2")))
static uint32_t hw_sum(const struct crc32c *c, uint32_t crc, const uint8_t *s, size_t n)
{
	return hw_run(c, crc, NULL, s, n, false);
}

__attribute__((target("sse4.2")))
static uint32_t hw_copy(const struct crc32c *c, uint32_t crc, uint8_t *d, const uint8_t *s,
			size_t n)
{
	return hw_run(c, crc, d, s, n, true);
}

uint32_t crc32c(const struct crc32c *c, uint32_t crc, const void *p, size_t n)
{
	return ~(c->hw ? hw_sum(c, ~crc, p, n) : sw_run(c, ~crc, NULL, p, n, false));
}

uint32_t crc32c_copy(const struct crc32c *c, uint32_t crc, void *dst, const void *src, size_t n)
{
	return ~(c->hw ? hw_copy(c, ~crc, dst, src, n) : sw_run(c, ~crc, dst, src, n, true));
}

static double seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The faster of the two on a page, best of three each (a preempted run does not decide; on
 * real hardware the instruction is 5-15x the tables, in the box the tables 4x the
 * instruction). */
static bool hw_is_faster(struct crc32c *c)
{
	static const uint8_t zero[4096];
	double best[2] = { 1e9, 1e9 };
	volatile uint32_t sink = 0;

	for (int round = 0; round < 3; round++)
		for (int hw = 0; hw < 2; hw++) {
			double t = seconds();

			c->hw = hw;
			sink += crc32c(c, 0, zero, sizeof(zero));
			t = seconds() - t;
			if (t < best[hw])
				best[hw] = t;
		}
	(void)sink;
	return best[1] <= best[0];
}

void crc32c_init(struct crc32c *c)
{
	tables_fill(c);
	shift_fill(c);
	__builtin_cpu_init();
	c->hw = __builtin_cpu_supports("sse4.2") && hw_is_faster(c);
}

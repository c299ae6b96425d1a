/* Host side of the block tests.
 *   blkpattern make FILE SECTORS SEED          write the pattern over FILE
 *   blkpattern verify FILE SEED [FIRST COUNT]  check it (all sectors by default); exit 1 and
 *                                              print the first bad sector on mismatch
 *   blkpattern zero FILE FIRST COUNT           check the range reads as zeroes */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/guest/pattern.h"

static void fill(uint64_t s, uint64_t seed, uint64_t *q)
{
	q[0] = pattern_head(s, seed);
	for (int i = 1; i < 64; i++)
		q[i] = pattern_fill(s, seed);
}

int main(int argc, char **argv)
{
	uint64_t q[64], want[64];
	FILE *f;

	if (argc >= 5 && !strcmp(argv[1], "make")) {
		uint64_t n = strtoull(argv[3], NULL, 0), seed = strtoull(argv[4], NULL, 0);

		f = fopen(argv[2], "wb");
		for (uint64_t s = 0; f && s < n; s++) {
			fill(s, seed, q);
			fwrite(q, 512, 1, f);
		}
		return f && fclose(f) == 0 ? 0 : 1;
	}
	if (argc >= 4 && (!strcmp(argv[1], "verify") || !strcmp(argv[1], "zero"))) {
		int zero = argv[1][0] == 'z';
		uint64_t seed = zero ? 0 : strtoull(argv[3], NULL, 0);
		uint64_t first = 0, count = UINT64_MAX;

		if (zero) {
			first = strtoull(argv[3], NULL, 0);
			count = argc >= 5 ? strtoull(argv[4], NULL, 0) : 1;
		} else if (argc >= 6) {
			first = strtoull(argv[4], NULL, 0);
			count = strtoull(argv[5], NULL, 0);
		}
		f = fopen(argv[2], "rb");
		if (!f || fseek(f, (long)(first * 512), SEEK_SET))
			return 2;
		for (uint64_t s = first; s - first < count; s++) {
			if (fread(q, 512, 1, f) != 1) {
				if (count == UINT64_MAX)
					break;
				printf("sector %llu: short file\n", (unsigned long long)s);
				return 1;
			}
			if (zero)
				memset(want, 0, sizeof(want));
			else
				fill(s, seed, want);
			if (memcmp(q, want, 512)) {
				printf("sector %llu differs\n", (unsigned long long)s);
				return 1;
			}
		}
		fclose(f);
		return 0;
	}
	fprintf(stderr, "usage: blkpattern make FILE SECTORS SEED | verify FILE SEED [FIRST COUNT] | "
			"zero FILE FIRST COUNT\n");
	return 2;
}

/* The sector pattern of the block tests, shared by the guest (writes and verifies it through
 * virtio-blk) and the host tool tests/tools/blkpattern.c (makes and verifies image files), so each
 * side can check the other's bytes. Sector s: first 8 bytes s ^ (seed << 48), then 504 bytes of
 * (s * 7 + seed) & 0xff. */
#ifndef BLK_PATTERN_H
#define BLK_PATTERN_H

#include <stdint.h>

static inline uint64_t pattern_head(uint64_t sector, uint64_t seed)
{
	return sector ^ (seed << 48);
}

static inline uint64_t pattern_fill(uint64_t sector, uint64_t seed)
{
	return 0x0101010101010101ULL * ((sector * 7 + seed) & 0xff);
}

#endif

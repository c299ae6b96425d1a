/* CRC-32C (Castagnoli), as iSCSI, ext4 and virtio use it. Two implementations: the SSE4.2
 * instruction in three interleaved chains (every x86-64 KVM host of the last decade) and
 * slicing-by-8 tables. The faster
 * one on this CPU is measured once at crc32c_init(), the way Linux picks its xor and RAID-6
 * routines: on real hardware that is the instruction (about 5x the tables); where the CPU is
 * emulated (QEMU's TCG, the nested-KVM box) the instruction is a helper call per 8 bytes and
 * the tables win by 4x. */
#ifndef MINIVMM_CRC32C_H
#define MINIVMM_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The instruction's three chains take a lane each (bytes). */
#define CRC32C_LANE 512

struct crc32c {
	bool hw;                   /* the instruction, else the tables */
	uint32_t table[8][256];    /* table[k][b]: byte b followed by k zero bytes */
	uint32_t shift[2][4][256]; /* [n][k][b]: byte k = b of the register, then (n+1) lanes of zeros */
};

/* Fills the tables and picks the implementation (a few hundred microseconds; CPUID, a VM exit
 * when minivmm itself runs in a VM): once per stream. */
void crc32c_init(struct crc32c *c);

/* crc32c(c, 0, p, n) is the checksum of p[0..n); feed the result back in to continue. */
uint32_t crc32c(const struct crc32c *c, uint32_t crc, const void *p, size_t n);

/* Copies n bytes from @src to @dst and returns the checksum of what was copied, continuing
 * @crc, in one pass: the checksum is of the bytes written, even when @src changes meanwhile
 * (guest RAM read while the vCPUs run). */
uint32_t crc32c_copy(const struct crc32c *c, uint32_t crc, void *dst, const void *src, size_t n);

#endif

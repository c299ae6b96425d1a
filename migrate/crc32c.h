/* CRC-32C (Castagnoli), as iSCSI, ext4 and virtio use it: the SSE4.2 instruction where the CPU
 * has it (every x86-64 KVM host of the last decade), a table otherwise. */
#ifndef MINIVMM_CRC32C_H
#define MINIVMM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* f(0, p, n) is the checksum of p[0..n); feed the result back in to continue. */
typedef uint32_t (*crc32c_fn)(uint32_t crc, const void *p, size_t n);

/* The implementation for this CPU. It asks the CPU (CPUID, a VM exit when minivmm itself runs
 * in a VM): call it once per stream and keep the answer. */
crc32c_fn crc32c_pick(void);

#endif

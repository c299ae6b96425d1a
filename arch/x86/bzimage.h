/* Validation of a bzImage's setup header (Documentation/x86/boot.rst). Pure: works on bytes. */
#ifndef MINIVMM_X86_BZIMAGE_H
#define MINIVMM_X86_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/errmsg.h"

/* Enough bytes to hold any setup header and the sector count that locates the payload. */
#define BZIMAGE_HEADER_BYTES 0x1000

struct bzimage_info {
	uint16_t version;          /* boot protocol, e.g. 0x020f */
	uint32_t setup_size;       /* bytes of real-mode setup at the start of the file */
	uint64_t payload_offset;   /* file offset of the protected-mode kernel */
	uint64_t payload_size;     /* its size in the file */
	uint64_t init_size;        /* memory the kernel needs from its load address */
	uint32_t initrd_addr_max;  /* highest address the initrd may end at (inclusive) */
	uint32_t cmdline_size;     /* longest command line, without the NUL */
	uint16_t xloadflags;
	uint32_t header_end;       /* file offset just past the setup header */
};

/* @buf holds the first @buf_len bytes of a file of @file_size bytes. Checks the boot sector
 * signature, "HdrS", version >= 2.06, 64-bit entry support (XLF_KERNEL_64, protocol 2.12+) and
 * that setup and payload lie within the file. */
int bzimage_parse(const uint8_t *buf, size_t buf_len, uint64_t file_size,
		  struct bzimage_info *info, struct errmsg *err)
	__attribute__((warn_unused_result));

/* Checks that a command line of @len bytes (without NUL) fits the kernel's limit. */
int bzimage_check_cmdline(const struct bzimage_info *info, size_t len, struct errmsg *err);

#endif

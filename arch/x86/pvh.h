/* ELF vmlinux with a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): parsing (pure, on bytes) and the
 * hvm_start_info structures the entry point expects in EBX. */
#ifndef MINIVMM_X86_PVH_H
#define MINIVMM_X86_PVH_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/errmsg.h"

#define PVH_MAX_SEGMENTS 16

struct pvh_segment {
	uint64_t file_offset;
	uint64_t file_size;
	uint64_t paddr;
	uint64_t mem_size;
};

struct pvh_image {
	uint32_t entry;                 /* 32-bit physical entry point from the note */
	unsigned nr_segments;
	struct pvh_segment segments[PVH_MAX_SEGMENTS];
	uint64_t lowest, highest;       /* [lowest, highest) spanned by the loadable segments */
};

/* True if @buf starts with the ELF magic. */
int pvh_is_elf(const uint8_t *buf, size_t len);

/* @buf holds the whole file (ELF headers and notes are read from it; segments are only
 * described, the caller copies them). Checks ELF64 little-endian x86-64 EXEC, program headers and
 * notes within the file, segments that do not wrap, and finds the PVH entry note. */
int pvh_parse(const uint8_t *buf, size_t len, struct pvh_image *img, struct errmsg *err)
	__attribute__((warn_unused_result));

#endif

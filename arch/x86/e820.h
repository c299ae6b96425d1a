/* The e820 memory map given to the guest (boot_params and PVH memmap alike). */
#ifndef MINIVMM_X86_E820_H
#define MINIVMM_X86_E820_H

#include <stdint.h>

#include "vmm/memory.h"

#define E820_TYPE_RAM 1
#define E820_TYPE_RESERVED 2
#define E820_TYPE_ACPI 3

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* Fills at most @max entries, sorted and non-overlapping: low RAM up to the EBDA, the EBDA and
 * BIOS area reserved, RAM from 1 MiB to the MMIO hole, RAM above 4 GiB. Returns the count, or
 * -ENOSPC if @max is too small. */
int e820_build(const struct guest_mem *gm, struct e820_entry *out, unsigned max);

#endif

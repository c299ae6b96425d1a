#include "arch/x86/e820.h"

#include <errno.h>

#include "arch/x86/layout.h"

static int e820_add(struct e820_entry *out, unsigned max, unsigned *n, uint64_t addr,
		    uint64_t size, uint32_t type)
{
	if (size == 0)
		return 0;
	if (*n >= max)
		return -ENOSPC;
	out[(*n)++] = (struct e820_entry){ addr, size, type };
	return 0;
}

int e820_build(const struct guest_mem *gm, struct e820_entry *out, unsigned max)
{
	uint64_t low_top = gm_low_top(gm);
	unsigned n = 0;
	int ret;

	if (low_top <= X86_EBDA_START) {
		ret = e820_add(out, max, &n, 0, low_top, E820_TYPE_RAM);
		return ret ? ret : (int)n;
	}
	ret = e820_add(out, max, &n, 0, X86_EBDA_START, E820_TYPE_RAM);
	ret = ret ? ret : e820_add(out, max, &n, X86_EBDA_START, 0xa0000 - X86_EBDA_START,
				    E820_TYPE_RESERVED);
	ret = ret ? ret : e820_add(out, max, &n, X86_BIOS_START, X86_HIGH_MEM - X86_BIOS_START,
				    E820_TYPE_RESERVED);
	if (!ret && low_top > X86_HIGH_MEM)
		ret = e820_add(out, max, &n, X86_HIGH_MEM, low_top - X86_HIGH_MEM, E820_TYPE_RAM);
	for (unsigned i = 1; !ret && i < gm->nr_regions; i++)
		ret = e820_add(out, max, &n, gm->regions[i].gpa, gm->regions[i].size,
			       E820_TYPE_RAM);
	return ret ? ret : (int)n;
}

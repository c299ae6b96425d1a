/* Loading a kernel the way Linux documents it: a bzImage entered at its 64-bit entry point with
 * boot_params in RSI, or an ELF vmlinux entered at its PVH entry with hvm_start_info in EBX. */
#ifndef MINIVMM_X86_BOOT_H
#define MINIVMM_X86_BOOT_H

#include <stdint.h>

#include "vmm/errmsg.h"
#include "vmm/memory.h"

enum x86_entry_mode {
	X86_ENTRY_LINUX64, /* long mode, paging on, RSI = zero page */
	X86_ENTRY_PVH32,   /* 32-bit protected mode, paging off, EBX = hvm_start_info */
};

struct x86_boot {
	enum x86_entry_mode mode;
	uint64_t entry;
	uint64_t boot_info;
	uint64_t kernel_start, kernel_end;  /* memory the kernel claims */
	uint64_t initrd_addr, initrd_size;
};

struct x86_boot_args {
	const char *kernel;   /* path */
	const char *initrd;   /* path or NULL */
	const char *cmdline;  /* never NULL */
	uint64_t rsdp_addr;   /* 0 if none */
};

/* Loads the kernel (and initrd) into guest memory and writes the boot structures. Messages name
 * the flag and file at fault ("--kernel X: ...", "--initrd Y: ...", "--cmdline: ..."). */
int x86_boot_load(struct guest_mem *gm, const struct x86_boot_args *args, struct x86_boot *boot,
		  struct errmsg *err) __attribute__((warn_unused_result));

/* Where an initrd of @size bytes goes: as high as possible, page-aligned, ending at or below
 * min(@addr_max + 1, @ram_top), and not below @kernel_end. 0 if it does not fit. Pure. */
uint64_t x86_initrd_place(uint64_t size, uint64_t kernel_end, uint64_t addr_max,
			  uint64_t ram_top);

#endif

/* Where the VMM puts boot structures in guest-physical memory (all below 1 MiB, in RAM the
 * e820 map reports as usable: the kernel reclaims it after boot, as it does with real firmware's
 * tables in low memory). */
#ifndef MINIVMM_X86_LAYOUT_H
#define MINIVMM_X86_LAYOUT_H

#define X86_GDT_ADDR 0x500ULL
#define X86_PVH_INFO_ADDR 0x6000ULL   /* hvm_start_info, module list, memory map */
#define X86_ZERO_PAGE_ADDR 0x7000ULL  /* struct boot_params */
#define X86_PML4_ADDR 0x9000ULL       /* PML4, PDPT, then 4 PDs: identity map of 4 GiB */
#define X86_PDPT_ADDR 0xa000ULL
#define X86_PD_ADDR 0xb000ULL
#define X86_BOOT_STACK_TOP 0x8ff0ULL
#define X86_CMDLINE_ADDR 0x20000ULL
#define X86_CMDLINE_MAX 0x10000ULL    /* bytes reserved for the command line, NUL included */
#define X86_EBDA_START 0x9fc00ULL
#define X86_BIOS_START 0xe0000ULL     /* ACPI RSDP search area; reserved in e820 */
#define X86_HIGH_MEM 0x100000ULL
#define X86_KERNEL_LOAD_ADDR 0x100000ULL

/* KVM needs three pages for the VMX TSS and one for the identity map, in the MMIO hole just
 * below the BIOS ROM alias at 4 GiB - 256 KiB, away from the LAPIC and IOAPIC. */
#define X86_KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL
#define X86_KVM_TSS_ADDR 0xfffbd000ULL

#endif

#include "arch/x86/regs.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/layout.h"

#define BOOT_CS 0x10
#define BOOT_DS 0x18
#define BOOT_TSS 0x20
#define GDT_ENTRIES 5

#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL
#define CR0_NE 0x20ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_IA32_TSC 0x10
#define MISC_ENABLE_FAST_STRING 0x1ULL
#define MTRR_DEF_ENABLE_WB 0x806ULL /* MTRRs on, default type write-back */

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

/* A flat segment descriptor: base 0, limit 4 GiB (page granular). */
static uint64_t gdt_flat(uint64_t access_flags)
{
	return 0x000f00000000ffffULL | (access_flags << 40);
}

static struct kvm_segment seg_from(uint16_t sel, uint8_t type, int l, int db, int s)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = (uint8_t)db, .s = (uint8_t)s, .l = (uint8_t)l,
		.g = 1, .avl = 0,
	};
}

int x86_write_boot_tables(struct guest_mem *gm, const struct x86_boot *boot)
{
	uint64_t gdt[GDT_ENTRIES] = { 0 };
	uint64_t table[512];
	int ret;

	/* 0x10: code (64-bit for the Linux entry, 32-bit for PVH); 0x18: data; 0x20: TSS. */
	gdt[BOOT_CS / 8] = boot->mode == X86_ENTRY_LINUX64 ? gdt_flat(0xa09b) : gdt_flat(0xc09b);
	gdt[BOOT_DS / 8] = gdt_flat(0xc093);
	gdt[BOOT_TSS / 8] = 0x0000890000000067ULL;
	ret = gm_write(gm, X86_GDT_ADDR, gdt, sizeof(gdt));
	if (ret || boot->mode != X86_ENTRY_LINUX64)
		return ret;

	memset(table, 0, sizeof(table));
	table[0] = X86_PDPT_ADDR | PTE_P | PTE_RW;
	ret = gm_write(gm, X86_PML4_ADDR, table, sizeof(table));
	for (unsigned i = 0; !ret && i < 4; i++)
		table[i] = (X86_PD_ADDR + i * 0x1000) | PTE_P | PTE_RW;
	ret = ret ? ret : gm_write(gm, X86_PDPT_ADDR, table, sizeof(table));
	for (unsigned pd = 0; !ret && pd < 4; pd++) {
		for (unsigned i = 0; i < 512; i++)
			table[i] = (((uint64_t)pd << 30) + ((uint64_t)i << 21)) | PTE_P | PTE_RW |
				   PTE_PS;
		ret = gm_write(gm, X86_PD_ADDR + pd * 0x1000, table, sizeof(table));
	}
	return ret;
}

int x86_vcpu_set_boot_regs(int vcpu_fd, const struct x86_boot *boot)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int long_mode = boot->mode == X86_ENTRY_LINUX64;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs = seg_from(BOOT_CS, 0xb, long_mode, !long_mode, 1);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg_from(BOOT_DS, 0x3, 0, 1, 1);
	sregs.tr = seg_from(BOOT_TSS, 0xb, 0, 0, 0);
	sregs.tr.limit = 0x67;
	sregs.tr.g = 0;
	sregs.gdt.base = X86_GDT_ADDR;
	sregs.gdt.limit = GDT_ENTRIES * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = CR0_PE | CR0_ET | CR0_NE;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (long_mode) {
		sregs.cr0 |= CR0_PG;
		sregs.cr3 = X86_PML4_ADDR;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
	}
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = boot->entry;
	regs.rsp = X86_BOOT_STACK_TOP;
	if (long_mode)
		regs.rsi = boot->boot_info;
	else
		regs.rbx = boot->boot_info;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

int x86_read_at_rip(int vcpu_fd, const struct guest_mem *gm, const struct kvm_regs *regs,
		    const struct kvm_sregs *sregs, void *buf, size_t len)
{
	struct kvm_translation tr = { .linear_address = sregs->cs.base + regs->rip };

	if (ioctl(vcpu_fd, KVM_TRANSLATE, &tr) < 0)
		return -errno;
	if (!tr.valid)
		return -EFAULT;
	return gm_read(gm, tr.physical_address, buf, len);
}

int x86_vcpu_init_msrs(int vcpu_fd)
{
	static const struct { uint32_t index; uint64_t value; } init[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_KERNEL_GS_BASE, 0 },
		{ MSR_IA32_TSC, 0 }, { MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		{ MSR_MTRR_DEF_TYPE, MTRR_DEF_ENABLE_WB },
	};
	const unsigned n = sizeof(init) / sizeof(init[0]);
	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + n * sizeof(msrs->entries[0]));
	int ret;

	if (!msrs)
		return -ENOMEM;
	msrs->nmsrs = n;
	for (unsigned i = 0; i < n; i++) {
		msrs->entries[i].index = init[i].index;
		msrs->entries[i].data = init[i].value;
	}
	ret = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
	free(msrs);
	if (ret < 0)
		return -errno;
	return (unsigned)ret == n ? 0 : -EINVAL;
}

static void lapic_set_lvt_mode(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &l->regs[reg], sizeof(v));
	v = (v & ~0x700U) | (mode << 8);
	memcpy(&l->regs[reg], &v, sizeof(v));
}

int x86_vcpu_init_lapic(int vcpu_fd)
{
	struct kvm_lapic_state lapic;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	lapic_set_lvt_mode(&lapic, APIC_LVT_LINT0, APIC_MODE_EXTINT);
	lapic_set_lvt_mode(&lapic, APIC_LVT_LINT1, APIC_MODE_NMI);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

/* Initial vCPU state for the boot entry: GDT and identity page tables in guest memory, special
 * and general registers, MSRs, and the LAPIC's LINT pins. */
#ifndef MINIVMM_X86_REGS_H
#define MINIVMM_X86_REGS_H

#include <linux/kvm.h>
#include <stddef.h>

#include "arch/x86/boot.h"
#include "vmm/memory.h"

/* Writes the boot GDT and (for the 64-bit entry) page tables identity-mapping the low 4 GiB
 * with 2 MiB pages. */
int x86_write_boot_tables(struct guest_mem *gm, const struct x86_boot *boot)
	__attribute__((warn_unused_result));

/* Boot processor: registers for @boot's entry mode. */
int x86_vcpu_set_boot_regs(int vcpu_fd, const struct x86_boot *boot)
	__attribute__((warn_unused_result));

/* Every vCPU: architectural MSR reset values and LAPIC LINT0 = ExtINT, LINT1 = NMI (as firmware
 * leaves them, so the legacy PIC reaches the BSP). */
/* Copies @len bytes at the vCPU's CS:RIP (translated by KVM, read through gm_read) into @buf.
 * @regs and @sregs are the vCPU's current ones. 0, or -errno if unmapped or outside RAM. */
int x86_read_at_rip(int vcpu_fd, const struct guest_mem *gm, const struct kvm_regs *regs,
		    const struct kvm_sregs *sregs, void *buf, size_t len)
	__attribute__((warn_unused_result));

int x86_vcpu_init_msrs(int vcpu_fd) __attribute__((warn_unused_result));
int x86_vcpu_init_lapic(int vcpu_fd) __attribute__((warn_unused_result));

#endif

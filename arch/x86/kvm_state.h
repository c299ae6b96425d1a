/* The state KVM keeps for a VM and its vCPUs, for snapshots and migration.
 *
 * Per vCPU: general registers, special registers, XSAVE (FPU and vector state) and XCRs, the
 * MSRs KVM lists (KVM_GET_MSR_INDEX_LIST: TSC and kvmclock ones included), LAPIC, pending
 * events, MP state, debug registers. Per VM: both PICs and the IOAPIC, the PIT, the KVM clock.
 *
 * A vCPU's state is captured (KVM ioctls) apart from its encoding (FDT properties, vmm/state.h),
 * so capture can run on the vCPU's own thread while parked (after re-entering KVM_RUN with
 * immediate_exit: KVM documents the state as consistent only then) and the encoding on the
 * I/O thread. Decoding checks sizes and counts; applying hands every value to KVM, which checks
 * it again. */
#ifndef MINIVMM_X86_KVM_STATE_H
#define MINIVMM_X86_KVM_STATE_H

#include <stdint.h>

#include "vmm/errmsg.h"

/* The MSRs this KVM saves and restores (KVM_GET_MSR_INDEX_LIST). */
struct x86_msr_list {
	uint32_t n;
	uint32_t idx[];
};
int x86_msr_list_get(int kvm_fd, struct x86_msr_list **out) __attribute__((warn_unused_result));

struct x86_vcpu_state;

int x86_vcpu_state_capture(int vcpu_fd, const struct x86_msr_list *msrs,
			   struct x86_vcpu_state **out) __attribute__((warn_unused_result));
int x86_vcpu_state_encode(const struct x86_vcpu_state *s, void *fdt, int node)
	__attribute__((warn_unused_result));
int x86_vcpu_state_decode(const void *fdt, int node, struct x86_vcpu_state **out,
			  struct errmsg *err) __attribute__((warn_unused_result));
/* Before the vCPU first runs (restore), or on its parked thread. */
int x86_vcpu_state_apply(int vcpu_fd, const struct x86_vcpu_state *s, struct errmsg *err)
	__attribute__((warn_unused_result));
void x86_vcpu_state_free(struct x86_vcpu_state *s);

/* The VM-wide part, with every vCPU stopped. */
int x86_vm_state_save(int vm_fd, void *fdt, int node) __attribute__((warn_unused_result));
int x86_vm_state_load(int vm_fd, const void *fdt, int node, struct errmsg *err)
	__attribute__((warn_unused_result));

#endif

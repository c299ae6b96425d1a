/* CPUID for the guest: what KVM supports, with the hypervisor leaves and per-vCPU topology. */
#ifndef MINIVMM_X86_CPUID_H
#define MINIVMM_X86_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>

/* KVM_GET_SUPPORTED_CPUID into a malloc'd table (free() it). */
int x86_cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out)
	__attribute__((warn_unused_result));

/* Entries x86_cpuid_patch() may add: the table needs room for that many past nent. */
#define X86_CPUID_PATCH_EXTRA 6

/* Rewrites @c in place for vCPU @vcpu_id of @nr_vcpus: initial APIC id in leaf 1 and in the
 * x2APIC topology leaves 0xb/0x1f (one package, one thread per core, nr_vcpus cores; missing
 * subleaves added), AMD's core count (0x80000008) and TOPOEXT ids (0x8000001e), the hypervisor
 * bit, and the logical-processor count. Pure: unit-tested without KVM. */
void x86_cpuid_patch(struct kvm_cpuid2 *c, unsigned vcpu_id, unsigned nr_vcpus);

/* Clears KVM paravirtual feature bits (KVM_FEATURE_*, leaf 0x40000001 EAX) in @mask. */
void x86_cpuid_clear_kvm_features(struct kvm_cpuid2 *c, uint32_t mask);

/* Copies @base, patches it for this vCPU and loads it with KVM_SET_CPUID2. */
int x86_cpuid_set_vcpu(int vcpu_fd, const struct kvm_cpuid2 *base, unsigned vcpu_id,
		       unsigned nr_vcpus) __attribute__((warn_unused_result));

#endif

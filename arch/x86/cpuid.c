#include "arch/x86/cpuid.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm_para.h>
#include <sys/ioctl.h>

#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_HTT (1U << 28)
#define TOPO_LEVEL_SMT 1
#define TOPO_LEVEL_CORE 2

int x86_cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out)
{
	for (unsigned nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return -ENOMEM;
		c->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return -errno;
	}
	return -E2BIG;
}

void x86_cpuid_clear_kvm_features(struct kvm_cpuid2 *c, uint32_t mask)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == KVM_CPUID_FEATURES)
			c->entries[i].eax &= ~mask;
}

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;

	while ((1U << b) < n)
		b++;
	return b;
}

static struct kvm_cpuid_entry2 *find_entry(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == function && c->entries[i].index == index)
			return &c->entries[i];
	return NULL;
}

/* The x2APIC topology leaf @leaf (0xb or 0x1f) for one package of @nr_vcpus cores with one
 * thread each. KVM may list only subleaf 0 (AMD hosts do): a guest asking for subleaf 1 then
 * reads zeros, finds no core level and puts every vCPU in a package of its own, so subleaves
 * 0-2 are added when missing (the table has room: X86_CPUID_PATCH_EXTRA). */
static void patch_topology_leaf(struct kvm_cpuid2 *c, uint32_t leaf, unsigned vcpu_id,
				unsigned nr_vcpus)
{
	for (uint32_t index = 0; index < 3; index++) {
		if (!find_entry(c, leaf, index))
			c->entries[c->nent++] = (struct kvm_cpuid_entry2){
				.function = leaf, .index = index, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX
			};
	}
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != leaf)
			continue;
		e->edx = vcpu_id;
		if (e->index == 0) {
			e->eax = 0;
			e->ebx = 1;
			e->ecx = (TOPO_LEVEL_SMT << 8) | 0;
		} else if (e->index == 1) {
			e->eax = bits_for(nr_vcpus);
			e->ebx = nr_vcpus;
			e->ecx = (TOPO_LEVEL_CORE << 8) | 1;
		} else {
			e->eax = 0;
			e->ebx = 0;
			e->ecx = e->index & 0xff;
		}
	}
}

void x86_cpuid_patch(struct kvm_cpuid2 *c, unsigned vcpu_id, unsigned nr_vcpus)
{
	unsigned core_shift = bits_for(nr_vcpus);
	struct kvm_cpuid_entry2 *max_basic = find_entry(c, 0, 0);
	bool has_1f = false;

	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		has_1f |= e->function == 0x1f;
		switch (e->function) {
		case 1:
			e->ebx &= 0x0000ffff;
			e->ebx |= (vcpu_id & 0xff) << 24;
			e->ebx |= ((nr_vcpus > 255 ? 255 : nr_vcpus) & 0xff) << 16;
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (nr_vcpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			break;
		case 0x80000008:
			/* AMD: cores in the package minus one (ECX[7:0]) and the APIC-ID bits that
			 * number them (ECX[15:12]). The host's values made Linux put every vCPU in a
			 * package of its own. */
			e->ecx &= ~0xf0ffU;
			e->ecx |= (core_shift << 12) | ((nr_vcpus > 256 ? 255 : nr_vcpus - 1) & 0xff);
			break;
		case 0x8000001e:
			/* AMD TOPOEXT: extended APIC ID, core ID with one thread per core, one node. */
			e->eax = vcpu_id;
			e->ebx = vcpu_id & 0xff;
			e->ecx = 0;
			e->edx = 0;
			break;
		case 4:
			/* Cores per package minus one, in EAX[31:26]; threads sharing each cache. */
			if (e->eax & 0x1f) {
				unsigned cores = nr_vcpus > 64 ? 64 : nr_vcpus;

				e->eax &= 0x03ffc3ff;
				e->eax |= (cores - 1) << 26;
			}
			break;
		default:
			break;
		}
	}
	if (max_basic && max_basic->eax >= 0xb)
		patch_topology_leaf(c, 0xb, vcpu_id, nr_vcpus);
	if (has_1f)
		patch_topology_leaf(c, 0x1f, vcpu_id, nr_vcpus);
}

int x86_cpuid_set_vcpu(int vcpu_fd, const struct kvm_cpuid2 *base, unsigned vcpu_id,
		       unsigned nr_vcpus)
{
	size_t size = sizeof(*base) + base->nent * sizeof(base->entries[0]);
	struct kvm_cpuid2 *c = malloc(size + X86_CPUID_PATCH_EXTRA * sizeof(base->entries[0]));
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, base, size);
	x86_cpuid_patch(c, vcpu_id, nr_vcpus);
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}

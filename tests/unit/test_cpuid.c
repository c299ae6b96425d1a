#include <stdlib.h>

#include "arch/x86/cpuid.h"
#include "arch/x86/host_quirks.h"
#include "tests/unit/unit.h"

static struct kvm_cpuid2 *table(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (7 + X86_CPUID_PATCH_EXTRA) * sizeof(c->entries[0]));

	c->nent = 7;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff0a0800, .ecx = 0 };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0 };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1 };
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 2 };
	/* An AMD host's: 2 cores, 7 APIC-ID bits, other bits set; a host core's TOPOEXT. */
	c->entries[4] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .ecx = 0x30007001 };
	c->entries[5] = (struct kvm_cpuid_entry2){ .function = 0x8000001e, .eax = 9, .ebx = 0x104,
						   .ecx = 0x301 };
	c->entries[6] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0x1c };
	return c;
}

START_TEST(apic_ids_and_topology)
{
	struct kvm_cpuid2 *c = table();

	x86_cpuid_patch(c, 5, 8);
	ck_assert_uint_eq(c->entries[0].ebx >> 24, 5);
	ck_assert_uint_eq((c->entries[0].ebx >> 16) & 0xff, 8);
	ck_assert_uint_eq(c->entries[0].ebx & 0xffff, 0x0800); /* brand/clflush untouched */
	ck_assert_uint_ne(c->entries[0].ecx & (1U << 31), 0);   /* hypervisor bit */
	ck_assert_uint_eq(c->entries[1].edx, 5);
	ck_assert_uint_eq(c->entries[1].ebx, 1);
	ck_assert_uint_eq((c->entries[1].ecx >> 8) & 0xff, 1);  /* SMT level */
	ck_assert_uint_eq(c->entries[2].eax, 3);                /* 8 cores: 3 bits */
	ck_assert_uint_eq(c->entries[2].ebx, 8);
	ck_assert_uint_eq((c->entries[2].ecx >> 8) & 0xff, 2);  /* core level */
	ck_assert_uint_eq((c->entries[3].ecx >> 8) & 0xff, 0);  /* end of levels */
	ck_assert_uint_eq(c->entries[4].ecx & 0xff, 7);         /* AMD: 8 cores */
	ck_assert_uint_eq((c->entries[4].ecx >> 12) & 0xf, 3);  /* numbered by 3 APIC-ID bits */
	ck_assert_uint_eq(c->entries[4].ecx & 0xffff0f00, 0x30000000); /* the rest kept */
	ck_assert_uint_eq(c->entries[5].eax, 5);                /* extended APIC ID */
	ck_assert_uint_eq(c->entries[5].ebx, 5);                /* core 5, 1 thread per core */
	ck_assert_uint_eq(c->entries[5].ecx, 0);                /* node 0, 1 node */
	free(c);

	c = table();
	x86_cpuid_patch(c, 0, 1);
	ck_assert_uint_eq(c->entries[0].ebx >> 24, 0);
	ck_assert_uint_eq(c->entries[2].eax, 0);
	ck_assert_uint_eq(c->entries[2].ebx, 1);
	ck_assert_uint_eq(c->entries[4].ecx & 0xf0ff, 0);       /* 1 core, no core bits */
	free(c);
}
END_TEST

/* An AMD host's KVM lists leaf 0xb with subleaf 0 only: subleaves 1 and 2 are added. */
START_TEST(topology_subleaves_added)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (2 + X86_CPUID_PATCH_EXTRA) * sizeof(c->entries[0]));

	c->nent = 2;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0x10 };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0, .edx = 1 };
	x86_cpuid_patch(c, 3, 4);
	ck_assert_uint_eq(c->nent, 4);
	ck_assert_uint_eq(c->entries[2].function, 0xb);
	ck_assert_uint_eq(c->entries[2].index, 1);
	ck_assert_uint_eq(c->entries[2].flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	ck_assert_uint_eq(c->entries[2].eax, 2);                /* 4 cores: 2 bits */
	ck_assert_uint_eq(c->entries[2].ebx, 4);
	ck_assert_uint_eq(c->entries[2].edx, 3);
	ck_assert_uint_eq((c->entries[2].ecx >> 8) & 0xff, 2);
	ck_assert_uint_eq(c->entries[3].index, 2);
	ck_assert_uint_eq((c->entries[3].ecx >> 8) & 0xff, 0);
	free(c);

	/* A host whose basic leaves end below 0xb gets none. */
	c = calloc(1, sizeof(*c) + (1 + X86_CPUID_PATCH_EXTRA) * sizeof(c->entries[0]));
	c->nent = 1;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xa };
	x86_cpuid_patch(c, 0, 2);
	ck_assert_uint_eq(c->nent, 1);
	free(c);
}
END_TEST

/* The host work-arounds hang on this: a wrong answer either breaks hardware KVM with emulator
 * hacks or leaves a software KVM without them. */
START_TEST(kvm_flavour)
{
	struct x86_kvm_facts pvm_host = { .mod_pvm = true };             /* the old CI hosts */
	struct x86_kvm_facts box = { .cpu_svm = true, .mod_amd = true }; /* the nested TCG box */
	struct x86_kvm_facts intel = { .cpu_vmx = true, .mod_intel = true };
	struct x86_kvm_facts pvm_on_vmx = { .cpu_vmx = true, .mod_pvm = true };
	struct x86_kvm_facts no_sysfs = { .cpu_svm = true };
	struct x86_kvm_facts nothing = { 0 };

	ck_assert_int_eq(x86_kvm_flavour_of(&pvm_host), X86_KVM_SOFT);
	ck_assert_int_eq(x86_kvm_flavour_of(&box), X86_KVM_SVM);
	ck_assert_int_eq(x86_kvm_flavour_of(&intel), X86_KVM_VMX);
	ck_assert_int_eq(x86_kvm_flavour_of(&pvm_on_vmx), X86_KVM_SOFT);
	ck_assert_int_eq(x86_kvm_flavour_of(&no_sysfs), X86_KVM_SVM);
	ck_assert_int_eq(x86_kvm_flavour_of(&nothing), X86_KVM_SOFT);
	ck_assert_str_eq(x86_kvm_flavour_name(X86_KVM_SOFT), "soft");
}
END_TEST

Suite *suite_cpuid(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc = tcase_create("patch");

	tcase_add_test(tc, apic_ids_and_topology);
	tcase_add_test(tc, topology_subleaves_added);
	tcase_add_test(tc, kvm_flavour);
	suite_add_tcase(s, tc);
	return s;
}

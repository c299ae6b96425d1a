#include <stdlib.h>

#include "arch/x86/cpuid.h"
#include "tests/unit/unit.h"

static struct kvm_cpuid2 *table(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 6 * sizeof(c->entries[0]));

	c->nent = 6;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff0a0800, .ecx = 0 };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0 };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1 };
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 2 };
	/* An AMD host's: 2 cores, 7 APIC-ID bits, other bits set; a host core's TOPOEXT. */
	c->entries[4] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .ecx = 0x30007001 };
	c->entries[5] = (struct kvm_cpuid_entry2){ .function = 0x8000001e, .eax = 9, .ebx = 0x104,
						   .ecx = 0x301 };
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

Suite *suite_cpuid(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc = tcase_create("patch");

	tcase_add_test(tc, apic_ids_and_topology);
	suite_add_tcase(s, tc);
	return s;
}

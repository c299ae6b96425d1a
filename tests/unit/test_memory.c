#include <errno.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "vmm/memory.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

START_TEST(layout_splits_at_the_hole)
{
	struct guest_mem gm = { 0 };

	ck_assert_int_eq(gm_layout(&gm, 512 * MIB), 0);
	ck_assert_uint_eq(gm.nr_regions, 1);
	ck_assert_uint_eq(gm.regions[0].size, 512 * MIB);
	ck_assert_int_eq(gm_layout(&gm, 3 * GIB), 0);
	ck_assert_uint_eq(gm.nr_regions, 1);
	ck_assert_int_eq(gm_layout(&gm, 3 * GIB + 4096), 0);
	ck_assert_uint_eq(gm.nr_regions, 2);
	ck_assert_uint_eq(gm.regions[1].gpa, 4 * GIB);
	ck_assert_uint_eq(gm.regions[1].size, 4096);
	ck_assert_uint_eq(gm_low_top(&gm), 3 * GIB);
	ck_assert_int_eq(gm_layout(&gm, 0), -EINVAL);
	ck_assert_int_eq(gm_layout(&gm, 4095), -EINVAL);
}
END_TEST

START_TEST(accessors_check_whole_range)
{
	struct guest_mem gm;
	uint8_t buf[16];

	ck_assert_int_eq(gm_init(&gm, 8 * MIB, false), 0);
	ck_assert_ptr_nonnull(gm_ptr(&gm, 0, 1));
	ck_assert_ptr_nonnull(gm_ptr(&gm, 8 * MIB - 16, 16));
	ck_assert_ptr_null(gm_ptr(&gm, 8 * MIB - 15, 16));  /* straddles the end */
	ck_assert_ptr_null(gm_ptr(&gm, 8 * MIB, 1));
	ck_assert_ptr_null(gm_ptr(&gm, 0, 0));              /* empty ranges are refused */
	ck_assert_ptr_null(gm_ptr(&gm, UINT64_MAX, 2));     /* wraps */
	ck_assert_ptr_null(gm_ptr(&gm, 16, UINT64_MAX));    /* length wraps */
	ck_assert_ptr_null(gm_ptr(&gm, 0, 8 * MIB + 1));

	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(gm_write(&gm, 8 * MIB - 16, buf, 16), 0);
	ck_assert_int_eq(gm_write(&gm, 8 * MIB - 8, buf, 16), -EFAULT);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(gm_read(&gm, 8 * MIB - 16, buf, 16), 0);
	ck_assert_uint_eq(buf[15], 0x5a);
	ck_assert_int_eq(gm_read(&gm, 8 * MIB - 1, buf, 2), -EFAULT);
	ck_assert_int_eq(gm_fill(&gm, 8 * MIB - 1, 0, 2), -EFAULT);
	ck_assert_int_eq(gm_read(&gm, UINT64_MAX, buf, 0), 0);
	gm_destroy(&gm);
}
END_TEST

START_TEST(accessors_across_the_hole)
{
	struct guest_mem gm;
	uint8_t *low_end, *high;

	/* MAP_NORESERVE: only the touched pages cost memory. */
	ck_assert_int_eq(gm_init(&gm, 3 * GIB + 2 * MIB, false), 0);
	ck_assert_uint_eq(gm.nr_regions, 2);
	low_end = gm_ptr(&gm, 3 * GIB - 1, 1);
	high = gm_ptr(&gm, 4 * GIB, 1);
	ck_assert_ptr_nonnull(low_end);
	ck_assert_ptr_nonnull(high);
	ck_assert_ptr_eq(high, low_end + 1); /* one host mapping, two guest regions */
	ck_assert_ptr_null(gm_ptr(&gm, 3 * GIB - 1, 2));   /* into the hole */
	ck_assert_ptr_null(gm_ptr(&gm, 3 * GIB, 1));
	ck_assert_ptr_null(gm_ptr(&gm, 4 * GIB - 1, 2));   /* from the hole into RAM */
	ck_assert_ptr_nonnull(gm_ptr(&gm, 4 * GIB + 2 * MIB - 4096, 4096));
	ck_assert_ptr_null(gm_ptr(&gm, 4 * GIB + 2 * MIB - 4096, 4097));
	gm_destroy(&gm);
}
END_TEST

START_TEST(init_rejects_bad_sizes)
{
	struct guest_mem gm;

	ck_assert_int_eq(gm_init(&gm, 0, false), -EINVAL);
	ck_assert_int_eq(gm_init(&gm, 4097, false), -EINVAL);
	ck_assert_int_eq(gm_init(&gm, 3 * MIB, true), -EINVAL);
}
END_TEST

/* Pages written or read are populated (a read maps the zero page); the others are not, and
 * nothing outside one region or past a batch is looked up. */
START_TEST(unpopulated_pages_from_pagemap)
{
	struct guest_mem gm = { 0 };
	uint64_t bits[GM_PAGEMAP_BATCH / 64];
	volatile uint8_t *p;
	uint8_t sink;

	ck_assert_int_eq(gm_init(&gm, 4 * MIB, false), 0);
	ck_assert(gm.has_pagemap);
	p = gm_ptr(&gm, 0, 4 * MIB);
	p[3 * 4096 + 5] = 1;
	p[100 * 4096] = 2;
	sink = p[200 * 4096];
	(void)sink;
	ck_assert_int_eq(gm_unpopulated(&gm, 0, GM_PAGEMAP_BATCH, bits), 0);
	for (unsigned i = 0; i < GM_PAGEMAP_BATCH; i++)
		ck_assert_msg((bits[i / 64] >> (i % 64) & 1) == (i != 3 && i != 100 && i != 200),
			      "page %u", i);
	ck_assert_int_eq(gm_unpopulated(&gm, 99 * 4096, 3, bits), 0);
	ck_assert_uint_eq(bits[0], 0x5);
	ck_assert_int_eq(gm_unpopulated(&gm, 0, GM_PAGEMAP_BATCH + 1, bits), -EINVAL);
	ck_assert_int_eq(gm_unpopulated(&gm, 0, 0, bits), -EINVAL);
	ck_assert_int_eq(gm_unpopulated(&gm, 4 * MIB - 4096, 2, bits), -EINVAL);
	gm_destroy(&gm);
	ck_assert(!gm.has_pagemap);
}
END_TEST

Suite *suite_memory(void)
{
	Suite *s = suite_create("memory");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, layout_splits_at_the_hole);
	tcase_add_test(tc, accessors_check_whole_range);
	tcase_add_test(tc, accessors_across_the_hole);
	tcase_add_test(tc, init_rejects_bad_sizes);
	tcase_add_test(tc, unpopulated_pages_from_pagemap);
	suite_add_tcase(s, tc);
	return s;
}

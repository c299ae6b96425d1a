#include <errno.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "vmm/bus.h"

struct rec {
	uint64_t offset;
	uint32_t len;
	bool is_write;
	int calls;
};

static void rec_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write, void *opaque)
{
	struct rec *r = opaque;

	(void)vcpu;
	r->offset = offset;
	r->len = len;
	r->is_write = is_write;
	r->calls++;
	if (!is_write)
		memset(data, 0xab, len);
}

START_TEST(rejects_zero_length_overflow_and_overlap)
{
	struct bus b;
	struct rec r = { 0 };

	bus_init(&b, "t");
	ck_assert_int_eq(bus_register(&b, 0x100, 0, rec_io, &r, "zero"), -EINVAL);
	ck_assert_int_eq(bus_register(&b, UINT64_MAX - 3, 8, rec_io, &r, "wrap"), -EOVERFLOW);
	ck_assert_int_eq(bus_register(&b, UINT64_MAX - 7, 8, rec_io, &r, "top"), 0);
	ck_assert_int_eq(bus_register(&b, 0x100, 0x10, rec_io, &r, "a"), 0);
	ck_assert_int_eq(bus_register(&b, 0x10f, 1, rec_io, &r, "last byte"), -EEXIST);
	ck_assert_int_eq(bus_register(&b, 0xf0, 0x11, rec_io, &r, "first byte"), -EEXIST);
	ck_assert_int_eq(bus_register(&b, 0x80, 0x200, rec_io, &r, "covers"), -EEXIST);
	ck_assert_int_eq(bus_register(&b, 0x104, 2, rec_io, &r, "inside"), -EEXIST);
	ck_assert_int_eq(bus_register(&b, 0x110, 0x10, rec_io, &r, "adjacent above"), 0);
	ck_assert_int_eq(bus_register(&b, 0xf0, 0x10, rec_io, &r, "adjacent below"), 0);
	ck_assert_uint_eq(b.nr_devs, 4);
	for (size_t i = 1; i < b.nr_devs; i++)
		ck_assert(b.devs[i - 1].base < b.devs[i].base);
	bus_destroy(&b);
}
END_TEST

START_TEST(dispatch_inside_partial_and_unmapped)
{
	struct bus b;
	struct rec r = { 0 };
	uint8_t data[8];

	bus_init(&b, "t");
	ck_assert_int_eq(bus_register(&b, 0x3f8, 8, rec_io, &r, "uart"), 0);
	memset(data, 0x55, sizeof(data));
	ck_assert_int_eq(bus_dispatch(&b, NULL, 0x3fd, data, 1, false), 0);
	ck_assert_uint_eq(r.offset, 5);
	ck_assert_uint_eq(data[0], 0xab);
	/* Straddles the end of the device: refused, read zero-filled, handler not called. */
	memset(data, 0x55, sizeof(data));
	ck_assert_int_eq(bus_dispatch(&b, NULL, 0x3fe, data, 4, false), -ENOENT);
	ck_assert_uint_eq(r.calls, 1);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(data[i], 0);
	/* Straddles the start. */
	ck_assert_int_eq(bus_dispatch(&b, NULL, 0x3f6, data, 4, true), -ENOENT);
	/* Unmapped; and wrapping addresses never match. */
	ck_assert_int_eq(bus_dispatch(&b, NULL, 0x80, data, 1, false), -ENOENT);
	ck_assert_ptr_null(bus_find(&b, UINT64_MAX, 2));
	ck_assert_ptr_null(bus_find(&b, 0x3f8, 0));
	ck_assert_uint_eq(r.calls, 1);
	ck_assert_uint_eq(b.unmapped, 3);
	bus_destroy(&b);
}
END_TEST

START_TEST(lookup_among_many)
{
	struct bus b;
	struct rec r[64];

	memset(r, 0, sizeof(r));
	bus_init(&b, "t");
	/* Registered out of order: every 0x1000 page gets a 0x100 device. */
	for (int i = 0; i < 64; i++) {
		uint64_t base = (uint64_t)((i * 37) % 64) * 0x1000;

		ck_assert_int_eq(bus_register(&b, base, 0x100, rec_io, &r[i], "d"), 0);
	}
	for (int i = 0; i < 64; i++) {
		uint64_t base = (uint64_t)((i * 37) % 64) * 0x1000;
		const struct bus_dev *d = bus_find(&b, base + 0xfc, 4);

		ck_assert_ptr_nonnull(d);
		ck_assert_ptr_eq(d->opaque, &r[i]);
		ck_assert_ptr_null(bus_find(&b, base + 0x100, 1));
		ck_assert_ptr_null(bus_find(&b, base + 0xfd, 4));
	}
	bus_destroy(&b);
}
END_TEST

START_TEST(report_rate_limit)
{
	struct bus b;
	int reported = 0;
	uint8_t d;

	bus_init(&b, "t");
	for (int i = 0; i < 5000; i++) {
		bus_dispatch(&b, NULL, 0x1234, &d, 1, false);
		reported += bus_should_report(&b);
	}
	ck_assert_int_eq(reported, 8 + 4);
	bus_destroy(&b);
}
END_TEST

Suite *suite_bus(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, rejects_zero_length_overflow_and_overlap);
	tcase_add_test(tc, dispatch_inside_partial_and_unmapped);
	tcase_add_test(tc, lookup_among_many);
	tcase_add_test(tc, report_rate_limit);
	suite_add_tcase(s, tc);
	return s;
}

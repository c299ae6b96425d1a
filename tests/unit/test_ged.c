/* The ACPI Generic Event Device's status register, driven through the port bus. */
#include <stdlib.h>
#include <string.h>

#include "devices/ged.h"
#include "firmware/acpi.h"
#include "tests/unit/unit.h"
#include "vmm/device.h"
#include "vmm/machine.h"
#include "vmm/state.h"

static int save_fill(void *fdt, void *arg)
{
	return dev_list_save(arg, fdt, 0);
}

START_TEST(status_is_read_to_clear)
{
	struct bus bus;
	struct dev_list devs = { .n = 0 };
	struct machine m = { .pio = &bus, .vm_fd = -1, .devices = &devs };
	struct ged *g, *g2;
	struct errmsg err = { "" };
	void *fdt;
	size_t len;
	uint8_t v;

	bus_init(&bus, "pio");
	ck_assert_int_eq(ged_create(&m, ACPI_GED_IRQ, &g, &err), 0);
	ck_assert_uint_eq(devs.n, 1);
	v = 0xff;
	ck_assert_int_eq(bus_dispatch(&bus, NULL, ACPI_GED_PORT, &v, 1, false), 0);
	ck_assert_uint_eq(v, 0); /* nothing pending */
	ck_assert_int_eq(ged_raise(g, ACPI_GED_EVT_POWER_BUTTON), 0);
	ck_assert_int_eq(ged_raise(g, ACPI_GED_EVT_POWER_BUTTON), 0); /* pressed twice: one bit */
	ck_assert_uint_eq(ged_pending(g), ACPI_GED_EVT_POWER_BUTTON);
	/* A write does not clear or set anything. */
	v = 0xff;
	ck_assert_int_eq(bus_dispatch(&bus, NULL, ACPI_GED_PORT, &v, 1, true), 0);
	ck_assert_uint_eq(ged_pending(g), ACPI_GED_EVT_POWER_BUTTON);
	/* A pending press survives save and load. */
	ck_assert_int_eq(state_build(save_fill, &devs, 64 * 1024, &fdt, &len), 0);
	ck_assert_int_eq(bus_dispatch(&bus, NULL, ACPI_GED_PORT, &v, 1, false), 0);
	ck_assert_uint_eq(v, ACPI_GED_EVT_POWER_BUTTON);
	ck_assert_int_eq(bus_dispatch(&bus, NULL, ACPI_GED_PORT, &v, 1, false), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(dev_list_load(&devs, fdt, 0, &err), 0);
	ck_assert_uint_eq(ged_pending(g), ACPI_GED_EVT_POWER_BUTTON);
	free(fdt);
	dev_list_reset(&devs);
	ck_assert_uint_eq(ged_pending(g), 0);
	/* The port is taken: nothing else can sit on it. */
	ck_assert_int_ne(ged_create(&m, ACPI_GED_IRQ, &g2, &err), 0);
	ck_assert_ptr_null(g2);
	bus_destroy(&bus);
	dev_list_destroy(&devs);
}
END_TEST

Suite *suite_ged(void)
{
	Suite *s = suite_create("ged");
	TCase *tc = tcase_create("ged");

	tcase_add_test(tc, status_is_read_to_clear);
	suite_add_tcase(s, tc);
	return s;
}

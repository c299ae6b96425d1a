/* AML encoding, ACPI table construction and the MP table. */
#include <errno.h>
#include <string.h>

#include "firmware/acpi.h"
#include "firmware/aml.h"
#include "firmware/mptable.h"
#include "tests/unit/unit.h"

static void expect_bytes(const struct aml *a, const uint8_t *want, size_t n)
{
	ck_assert_int_eq(aml_error(a), 0);
	ck_assert_uint_eq(a->len, n);
	ck_assert_mem_eq(a->data, want, n);
}

START_TEST(pkglen_one_to_four_bytes)
{
	uint8_t b[4];

	/* 1 byte: body + 1 <= 63 */
	ck_assert_int_eq(aml_pkglen_encode(0, b), 1);
	ck_assert_uint_eq(b[0], 1);
	ck_assert_int_eq(aml_pkglen_encode(62, b), 1);
	ck_assert_uint_eq(b[0], 63);
	/* 2 bytes: total = body + 2 < 4096; low nibble in byte 0, rest in byte 1 */
	ck_assert_int_eq(aml_pkglen_encode(63, b), 2);
	ck_assert_uint_eq(b[0], 0x40 | (65 & 0xf));
	ck_assert_uint_eq(b[1], 65 >> 4);
	ck_assert_int_eq(aml_pkglen_encode(4093, b), 2);
	ck_assert_uint_eq(b[0], 0x4f);
	ck_assert_uint_eq(b[1], 0xff);
	/* 3 bytes */
	ck_assert_int_eq(aml_pkglen_encode(4094, b), 3);
	ck_assert_uint_eq(b[0], 0x80 | ((4097) & 0xf));
	ck_assert_uint_eq(b[1], (4097 >> 4) & 0xff);
	ck_assert_uint_eq(b[2], 4097 >> 12);
	ck_assert_int_eq(aml_pkglen_encode((1 << 20) - 4, b), 3);
	/* 4 bytes */
	ck_assert_int_eq(aml_pkglen_encode((1 << 20) - 3, b), 4);
	ck_assert_uint_eq(b[0], 0xc0 | (((1 << 20) + 1) & 0xf));
	ck_assert_uint_eq(b[3], ((1 << 20) + 1) >> 20);
	ck_assert_int_eq(aml_pkglen_encode((1 << 28) - 5, b), 4);
	ck_assert_int_eq(aml_pkglen_encode((1 << 28) - 4, b), -EINVAL);
}
END_TEST

START_TEST(integers_of_each_width)
{
	struct aml a;
	static const struct {
		uint64_t v;
		uint8_t enc[9];
		size_t n;
	} cases[] = {
		{ 0, { 0x00 }, 1 },
		{ 1, { 0x01 }, 1 },
		{ 2, { 0x0a, 0x02 }, 2 },
		{ 0xff, { 0x0a, 0xff }, 2 },
		{ 0x100, { 0x0b, 0x00, 0x01 }, 3 },
		{ 0xffff, { 0x0b, 0xff, 0xff }, 3 },
		{ 0x10000, { 0x0c, 0x00, 0x00, 0x01, 0x00 }, 5 },
		{ 0xd0000000, { 0x0c, 0x00, 0x00, 0x00, 0xd0 }, 5 },
		{ 0x100000000ULL, { 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 }, 9 },
		{ ~0ULL, { 0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 9 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		aml_init(&a);
		aml_integer(&a, cases[i].v);
		expect_bytes(&a, cases[i].enc, cases[i].n);
		aml_free(&a);
	}
}
END_TEST

START_TEST(names_strings_eisaid)
{
	struct aml a;

	aml_init(&a);
	aml_namestring(&a, "COM1");
	expect_bytes(&a, (const uint8_t *)"COM1", 4);
	aml_free(&a);

	aml_init(&a);
	aml_namestring(&a, "\\_SB");
	expect_bytes(&a, (const uint8_t *)"\\_SB_", 5);
	aml_free(&a);

	aml_init(&a);
	aml_namestring(&a, "_SB_.VR00");
	expect_bytes(&a, (const uint8_t *)"\x2e_SB_VR00", 9);
	aml_free(&a);

	aml_init(&a);
	aml_namestring(&a, "\\_SB_.PCI0.S08");
	expect_bytes(&a, (const uint8_t *)"\\\x2f\x03_SB_PCI0S08_", 15);
	aml_free(&a);

	aml_init(&a);
	aml_namestring(&a, "com1"); /* lower case is not a NameSeg */
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_namestring(&a, "TOOLONG");
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);

	aml_init(&a);
	aml_name_string(&a, "_HID", "LNRO0005");
	expect_bytes(&a, (const uint8_t *)"\x08_HID\x0dLNRO0005", 15);
	aml_free(&a);

	/* EISAID("PNP0501") is 0x0105D041 (as iasl and acpiexec show it). */
	aml_init(&a);
	aml_eisaid(&a, "PNP0501");
	expect_bytes(&a, (const uint8_t[]){ 0x0c, 0x41, 0xd0, 0x05, 0x01 }, 5);
	aml_free(&a);
	aml_init(&a);
	aml_eisaid(&a, "pnp0501");
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
}
END_TEST

START_TEST(device_package_resources)
{
	struct aml a, body, res;

	aml_init(&body);
	aml_name_integer(&body, "_UID", 0);   /* 08 _UID 00: 6 bytes */
	aml_init(&a);
	aml_device(&a, "DEV0", &body);
	expect_bytes(&a, (const uint8_t *)"\x5b\x82\x0b" "DEV0" "\x08_UID\x00", 13);
	aml_free(&a);

	aml_init(&a);
	aml_package(&a, 2, &body);
	ck_assert_uint_eq(a.data[0], 0x12);
	ck_assert_uint_eq(a.data[1], 1 + 1 + body.len); /* PkgLength covers count + elements */
	ck_assert_uint_eq(a.data[2], 2);
	aml_free(&a);
	aml_free(&body);

	aml_init(&res);
	aml_res_io(&res, 0x3f8, 8);
	aml_res_irq_noflags(&res, 4);
	aml_init(&a);
	aml_resource_template(&a, &res);
	expect_bytes(&a,
		     (const uint8_t[]){ 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03,
					0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00 },
		     17);
	aml_free(&a);
	aml_free(&res);

	aml_init(&res);
	aml_res_memory32_fixed(&res, 0xd0000000, 0x1000, 1);
	aml_res_interrupt(&res, 5, 0, 0);
	expect_bytes(&res,
		     (const uint8_t[]){ 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10,
					0x00, 0x00, 0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00,
					0x00 },
		     21);
	aml_free(&res);
	aml_init(&res);
	aml_res_irq_noflags(&res, 16);
	ck_assert_int_eq(aml_error(&res), -EINVAL);
	aml_free(&res);
}
END_TEST

static const uint8_t *find_table(const struct acpi_tables *t, const char *sig)
{
	for (unsigned i = 0; i < t->nr_tables; i++)
		if (!strcmp(t->tables[i].sig, sig))
			return t->blob + t->tables[i].offset;
	return NULL;
}

START_TEST(tables_checksums_and_links)
{
	struct acpi_mmio_dev v[2] = { { 0xd0000000, 0x1000, 5 }, { 0xd0001000, 0x1000, 6 } };
	struct acpi_config cfg = { .nr_cpus = 300, .virtio = v, .nr_virtio = 2,
				   .com1_port = 0x3f8, .com1_irq = 4 };
	struct acpi_tables t;
	const uint8_t *rsdp, *xsdt, *madt, *fadt, *dsdt;
	uint64_t x;
	uint32_t len;

	ck_assert_int_eq(acpi_build(&cfg, 0xe0000, &t, NULL), 0);
	rsdp = find_table(&t, "RSDP");
	ck_assert_mem_eq(rsdp, "RSD PTR ", 8);
	ck_assert_uint_eq(acpi_checksum(rsdp, 20), 0);
	ck_assert_uint_eq(acpi_checksum(rsdp, 36), 0);
	ck_assert_uint_eq(rsdp[15], 2);
	for (unsigned i = 1; i < t.nr_tables; i++) {
		const uint8_t *p = t.blob + t.tables[i].offset;

		memcpy(&len, p + 4, 4);
		ck_assert_uint_eq(len, t.tables[i].len);        /* lengths exact */
		ck_assert_uint_eq(acpi_checksum(p, len), 0);    /* checksums right */
		ck_assert_uint_eq(t.tables[i].offset % 8, 0);
	}
	xsdt = find_table(&t, "XSDT");
	fadt = find_table(&t, "FACP");
	madt = find_table(&t, "APIC");
	dsdt = find_table(&t, "DSDT");
	memcpy(&x, rsdp + 24, 8);
	ck_assert_ptr_eq(t.blob + (x - 0xe0000), xsdt);
	memcpy(&x, xsdt + 36, 8);
	ck_assert_ptr_eq(t.blob + (x - 0xe0000), fadt);
	memcpy(&x, fadt + 140, 8);
	ck_assert_ptr_eq(t.blob + (x - 0xe0000), dsdt);
	/* 255 xAPIC entries, 45 x2APIC entries, IOAPIC, 1 override, NMI. */
	memcpy(&len, madt + 4, 4);
	ck_assert_uint_eq(len, 44 + 255 * 8 + 45 * 16 + 12 + 10 + 6);
	ck_assert_uint_eq(madt[44], 0);
	ck_assert_uint_eq(madt[44 + 255 * 8], 9);
	/* The DSDT carries both virtio devices and COM1. */
	memcpy(&len, dsdt + 4, 4);
	ck_assert_ptr_nonnull(memmem(dsdt, len, "LNRO0005", 8));
	ck_assert_ptr_nonnull(memmem(dsdt, len, "VR01", 4));
	ck_assert_ptr_nonnull(memmem(dsdt, len, "COM1", 4));
	ck_assert_ptr_nonnull(memmem(dsdt, len, "_S5_", 4));
	acpi_tables_free(&t);

	cfg.nr_cpus = 0;
	ck_assert_int_eq(acpi_build(&cfg, 0xe0000, &t, NULL), -EINVAL);
	cfg.nr_cpus = 5000; /* MADT would overflow the 64 KiB reserved for the tables */
	ck_assert_int_eq(acpi_build(&cfg, 0xe0000, &t, NULL), -E2BIG);
}
END_TEST

/* Issue 13, finding 9: every interrupt a device is given must be described the same way by
 * the MADT (its interrupt source overrides) and by the device's _CRS. The 5th virtio-mmio
 * device got IRQ 9, which the MADT declared level-triggered while _CRS said edge (and irqfd
 * pulses): a level pin can lose such interrupts. With 16 devices (IRQs 5-20), each _CRS
 * Interrupt() must match any override for its GSI: edge, active high. */
START_TEST(madt_and_crs_agree_on_every_irq)
{
	struct acpi_mmio_dev v[16];
	struct acpi_config cfg = { .nr_cpus = 2, .virtio = v, .nr_virtio = 16, .com1_port = 0x3f8,
				   .com1_irq = 4 };
	struct acpi_tables t;
	const uint8_t *madt, *dsdt;
	uint32_t madt_len, dsdt_len;
	unsigned seen = 0;

	for (unsigned i = 0; i < 16; i++)
		v[i] = (struct acpi_mmio_dev){ 0xd0000000 + 0x1000 * i, 0x1000, 5 + i };
	ck_assert_int_eq(acpi_build(&cfg, 0xe0000, &t, NULL), 0);
	madt = find_table(&t, "APIC");
	dsdt = find_table(&t, "DSDT");
	memcpy(&madt_len, madt + 4, 4);
	memcpy(&dsdt_len, dsdt + 4, 4);
	/* Extended Interrupt descriptors (0x89, length 6, flags, count 1, GSI) in the DSDT. */
	for (uint32_t off = 36; off + 9 <= dsdt_len; off++) {
		uint32_t gsi;
		uint8_t flags;

		if (dsdt[off] != 0x89 || dsdt[off + 1] != 6 || dsdt[off + 2] != 0 || dsdt[off + 4] != 1)
			continue;
		flags = dsdt[off + 3];
		memcpy(&gsi, dsdt + off + 5, 4);
		ck_assert_msg(flags & 0x02, "GSI %u: _CRS says level", gsi);
		ck_assert_msg(!(flags & 0x04), "GSI %u: _CRS says active low", gsi);
		for (uint32_t e = 44; e + 2 <= madt_len && madt[e + 1]; e += madt[e + 1]) {
			uint32_t iso_gsi;
			uint16_t iflags;

			if (madt[e] != 2)           /* interrupt source override */
				continue;
			memcpy(&iso_gsi, madt + e + 4, 4);
			memcpy(&iflags, madt + e + 8, 2);
			if (iso_gsi != gsi && madt[e + 3] != gsi)
				continue;
			ck_assert_msg((iflags & 0xc) != 0xc, "GSI %u: _CRS edge, MADT level", gsi);
			ck_assert_msg((iflags & 0x3) != 0x3, "GSI %u: _CRS high, MADT low", gsi);
		}
		seen++;
	}
	ck_assert_uint_eq(seen, 16);
	acpi_tables_free(&t);
}
END_TEST

START_TEST(mptable_checksums)
{
	static uint8_t buf[4096];
	uint32_t mpc_addr;
	uint16_t len;
	int n = mptable_build(4, 0xf0000, buf, sizeof(buf));
	uint8_t s = 0;

	ck_assert_int_gt(n, 0);
	ck_assert_mem_eq(buf, "_MP_", 4);
	for (int i = 0; i < 16; i++)
		s = (uint8_t)(s + buf[i]);
	ck_assert_uint_eq(s, 0);
	memcpy(&mpc_addr, buf + 4, 4);
	ck_assert_uint_eq(mpc_addr, 0xf0010);
	ck_assert_mem_eq(buf + 16, "PCMP", 4);
	memcpy(&len, buf + 16 + 4, 2);
	ck_assert_uint_eq(16 + len, (unsigned)n);
	s = 0;
	for (int i = 0; i < len; i++)
		s = (uint8_t)(s + buf[16 + i]);
	ck_assert_uint_eq(s, 0);
	ck_assert_uint_eq(buf[16 + 44 + 3], 3);          /* CPU 0: enabled + BSP */
	ck_assert_uint_eq(buf[16 + 44 + 20 + 3], 1);     /* CPU 1: enabled */
	ck_assert_int_eq(mptable_build(0, 0xf0000, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(mptable_build(255, 0xf0000, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(mptable_build(100, 0xf0000, buf, 64), -E2BIG);
}
END_TEST

START_TEST(method_region_field_encoding)
{
	struct aml a, body, x, y, pred;
	/* Method(_EVT, 1, Serialized) { } */
	static const uint8_t method[] = { 0x14, 0x06, '_', 'E', 'V', 'T', 0x09 };
	/* OperationRegion(GDST, SystemIO, 0x604, One) */
	static const uint8_t region[] = { 0x5b, 0x80, 'G', 'D', 'S', 'T', 0x01, 0x0b, 0x04, 0x06,
					  0x01 };
	/* Field(GDST, ByteAcc, NoLock, WriteAsZeros) { GDAT, 8 } */
	static const uint8_t field[] = { 0x5b, 0x81, 0x0b, 'G', 'D', 'S', 'T', 0x41,
					 'G', 'D', 'A', 'T', 0x08 };
	/* If (And (Local0, One)) { Notify (\_SB.PWRB, 0x80) } */
	static const uint8_t cond[] = { 0xa0, 0x12, 0x7b, 0x60, 0x01, 0x00, 0x86, '\\', 0x2e,
					'_', 'S', 'B', '_', 'P', 'W', 'R', 'B', 0x0a, 0x80 };

	aml_init(&a);
	aml_init(&body);
	aml_method(&a, "_EVT", 1, 1, &body);
	expect_bytes(&a, method, sizeof(method));
	aml_free(&a);
	aml_init(&a);
	aml_operation_region(&a, "GDST", AML_SPACE_SYSTEM_IO, 0x604, 1);
	expect_bytes(&a, region, sizeof(region));
	aml_free(&a);
	aml_init(&a);
	aml_field(&a, "GDST", AML_FIELD_BYTE_ACC | AML_FIELD_WRITE_AS_ZEROS, "GDAT", 8);
	expect_bytes(&a, field, sizeof(field));
	aml_free(&a);
	aml_init(&a);
	aml_init(&x);
	aml_init(&y);
	aml_init(&pred);
	aml_local(&x, 0);
	aml_integer(&y, 1);
	aml_and(&pred, &x, &y);
	aml_notify(&body, "\\_SB_.PWRB", 0x80);
	aml_if(&a, &pred, &body);
	expect_bytes(&a, cond, sizeof(cond));
	aml_free(&a);
	aml_free(&x);
	aml_free(&y);
	aml_free(&pred);
	aml_free(&body);
	/* Bad arguments are recorded, not encoded. */
	aml_init(&a);
	aml_init(&body);
	aml_method(&a, "_EVT", 8, 0, &body);
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_field(&a, "GDST", 0, "GDAT", 0);
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_local(&a, 8);
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
}
END_TEST

START_TEST(ged_and_power_button_in_the_dsdt)
{
	struct acpi_config cfg = { .nr_cpus = 1, .com1_port = 0x3f8, .com1_irq = 4, .ged = true };
	struct acpi_tables t;
	const uint8_t *dsdt;
	uint32_t len;
	/* _CRS: Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { ACPI_GED_IRQ } */
	const uint8_t irq[] = { 0x89, 6, 0, 0x03, 1, ACPI_GED_IRQ, 0, 0, 0 };

	ck_assert_int_eq(acpi_build(&cfg, 0xe0000, &t, NULL), 0);
	dsdt = find_table(&t, "DSDT");
	memcpy(&len, dsdt + 4, 4);
	ck_assert_ptr_nonnull(memmem(dsdt, len, "ACPI0013", 8));
	ck_assert_ptr_nonnull(memmem(dsdt, len, "GED_", 4));
	ck_assert_ptr_nonnull(memmem(dsdt, len, "PWRB", 4));
	ck_assert_ptr_nonnull(memmem(dsdt, len, "_EVT", 4));
	ck_assert_ptr_nonnull(memmem(dsdt, len, irq, sizeof(irq)));
	/* PNP0C0C as an EISA id: 0x41d00c0c stored big-endian. */
	ck_assert_ptr_nonnull(memmem(dsdt, len, "\x0c\x41\xd0\x0c\x0c", 5));
	acpi_tables_free(&t);
	/* Without it (--acpi off builds no tables; unit configurations), none of it. */
	cfg.ged = false;
	ck_assert_int_eq(acpi_build(&cfg, 0xe0000, &t, NULL), 0);
	dsdt = find_table(&t, "DSDT");
	memcpy(&len, dsdt + 4, 4);
	ck_assert_ptr_null(memmem(dsdt, len, "ACPI0013", 8));
	acpi_tables_free(&t);
}
END_TEST

Suite *suite_firmware(void)
{
	Suite *s = suite_create("firmware");
	TCase *tc = tcase_create("aml");

	tcase_add_test(tc, pkglen_one_to_four_bytes);
	tcase_add_test(tc, integers_of_each_width);
	tcase_add_test(tc, names_strings_eisaid);
	tcase_add_test(tc, device_package_resources);
	tcase_add_test(tc, tables_checksums_and_links);
	tcase_add_test(tc, madt_and_crs_agree_on_every_irq);
	tcase_add_test(tc, mptable_checksums);
	tcase_add_test(tc, method_region_field_encoding);
	tcase_add_test(tc, ged_and_power_button_in_the_dsdt);
	suite_add_tcase(s, tc);
	return s;
}

#include "firmware/acpi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "firmware/aml.h"

#define ACPI_OEM_ID "MINIVM"
#define ACPI_OEM_TABLE_ID "MINIVMM "
#define ACPI_CREATOR_ID "MVMM"

#define ACPI_HDR_LEN 36
#define RSDP_LEN 36
#define FADT_LEN 276
#define FADT_REVISION 6
#define FADT_MINOR 4
#define MADT_REVISION 5

/* FADT flags (ACPI 6.4, table 5.10) */
#define FADT_WBINVD (1U << 0)
#define FADT_PWR_BUTTON (1U << 4)
#define FADT_SLP_BUTTON (1U << 5)
#define FADT_RESET_REG_SUP (1U << 10)
#define FADT_HW_REDUCED_ACPI (1U << 20)
/* IA-PC boot architecture flags */
#define FADT_BOOT_VGA_NOT_PRESENT (1U << 2)
#define FADT_BOOT_CMOS_RTC_NOT_PRESENT (1U << 5)

/* MADT entry types and flags */
#define MADT_LOCAL_APIC 0
#define MADT_IO_APIC 1
#define MADT_INT_SRC_OVERRIDE 2
#define MADT_LOCAL_APIC_NMI 4
#define MADT_LOCAL_X2APIC 9
#define MADT_PCAT_COMPAT 1
#define MADT_ENABLED 1

#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return sum;
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
	put32(t + 24, 1);
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	put32(t + 32, 1);
}

static void acpi_finish(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = (uint8_t)(0x100 - acpi_checksum(t, len));
}

/* Generic Address Structure for a byte-wide I/O port. */
/* MADT Interrupt Source Override: ISA @irq arrives on @gsi with MPS INTI @flags. */
static uint8_t *madt_override(uint8_t *e, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	e[0] = MADT_INT_SRC_OVERRIDE;
	e[1] = 10;
	e[2] = 0; /* bus: ISA */
	e[3] = irq;
	put32(e + 4, gsi);
	put16(e + 8, flags);
	return e + 10;
}

static void gas_io(uint8_t *g, uint16_t port)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = 8;
	g[2] = 0;
	g[3] = GAS_ACCESS_BYTE;
	put64(g + 4, port);
}

/* The Generic Event Device and the power button, as Cloud Hypervisor describes them:
 *
 *   Device (GED_) {
 *     Name (_HID, "ACPI0013")  Name (_UID, Zero)
 *     Name (_CRS, ResourceTemplate () { Interrupt (ResourceConsumer, Edge, ActiveHigh,
 *                                                  Exclusive) { ACPI_GED_IRQ } })
 *     OperationRegion (GDST, SystemIO, ACPI_GED_PORT, 1)
 *     Field (GDST, ByteAcc, NoLock, WriteAsZeros) { GDAT, 8 }
 *     Method (_EVT, 1, Serialized) {            // Arg0: the GSI that fired
 *       Store (GDAT, Local0)                    // read-to-clear
 *       If (And (Local0, ACPI_GED_EVT_POWER_BUTTON)) { Notify (\_SB_.PWRB, 0x80) }
 *     }
 *   }
 *   Device (PWRB) { Name (_HID, EisaId ("PNP0C0C"))  Name (_UID, Zero) }
 *
 * Linux's GED driver (drivers/acpi/evged.c) takes the interrupt from _CRS and evaluates _EVT
 * when it fires; Notify 0x80 on a PNP0C0C device is a power button press for the `button`
 * driver. The FADT's PWR_BUTTON flag already says "no fixed power button". */
static void build_ged(struct aml *sb)
{
	struct aml dev, res, crs, evt, gdat, local0, mask, pred, then;

	aml_init(&dev);
	aml_init(&res);
	aml_init(&crs);
	aml_init(&evt);
	aml_init(&gdat);
	aml_init(&local0);
	aml_init(&mask);
	aml_init(&pred);
	aml_init(&then);
	aml_name_string(&dev, "_HID", "ACPI0013");
	aml_name_integer(&dev, "_UID", 0);
	aml_res_interrupt(&res, ACPI_GED_IRQ, 0, 0); /* edge, active high: an irqfd pulse */
	aml_resource_template(&crs, &res);
	aml_name(&dev, "_CRS", &crs);
	aml_operation_region(&dev, "GDST", AML_SPACE_SYSTEM_IO, ACPI_GED_PORT, ACPI_GED_PORTS);
	aml_field(&dev, "GDST", AML_FIELD_BYTE_ACC | AML_FIELD_WRITE_AS_ZEROS, "GDAT", 8);
	aml_namestring(&gdat, "GDAT");
	aml_local(&local0, 0);
	aml_store(&evt, &gdat, &local0);
	aml_integer(&mask, ACPI_GED_EVT_POWER_BUTTON);
	aml_and(&pred, &local0, &mask);
	aml_notify(&then, "\\_SB_.PWRB", 0x80);
	aml_if(&evt, &pred, &then);
	aml_method(&dev, "_EVT", 1, 1, &evt);
	aml_device(sb, "GED_", &dev);
	aml_free(&dev);
	aml_free(&res);
	aml_free(&crs);
	aml_free(&evt);
	aml_free(&gdat);
	aml_free(&local0);
	aml_free(&mask);
	aml_free(&pred);
	aml_free(&then);

	aml_init(&dev);
	aml_name_eisaid(&dev, "_HID", "PNP0C0C");
	aml_name_integer(&dev, "_UID", 0);
	aml_device(sb, "PWRB", &dev);
	aml_free(&dev);
}

static int build_dsdt(const struct acpi_config *cfg, struct aml *out)
{
	struct aml sb, dev, crs, res, pkg;
	int ret;

	aml_init(&sb);
	if (cfg->com1_port) {
		aml_init(&dev);
		aml_init(&res);
		aml_init(&crs);
		aml_name_eisaid(&dev, "_HID", "PNP0501");
		aml_name_integer(&dev, "_UID", 0);
		aml_res_io(&res, cfg->com1_port, 8);
		aml_res_irq_noflags(&res, cfg->com1_irq);
		aml_resource_template(&crs, &res);
		aml_name(&dev, "_CRS", &crs);
		aml_device(&sb, "COM1", &dev);
		aml_free(&dev);
		aml_free(&res);
		aml_free(&crs);
	}
	for (unsigned i = 0; i < cfg->nr_virtio; i++) {
		const struct acpi_mmio_dev *v = &cfg->virtio[i];
		char name[5];

		snprintf(name, sizeof(name), "VR%02X", i & 0xff);
		aml_init(&dev);
		aml_init(&res);
		aml_init(&crs);
		aml_name_string(&dev, "_HID", "LNRO0005");
		aml_name_integer(&dev, "_UID", i);
		aml_name_integer(&dev, "_CCA", 1); /* cache-coherent DMA */
		aml_res_memory32_fixed(&res, (uint32_t)v->base, v->size, 1);
		aml_res_interrupt(&res, v->irq, 0, 0); /* edge, active high: irqfd semantics */
		aml_resource_template(&crs, &res);
		aml_name(&dev, "_CRS", &crs);
		aml_device(&sb, name, &dev);
		aml_free(&dev);
		aml_free(&res);
		aml_free(&crs);
	}
	if (cfg->ged)
		build_ged(&sb);
	aml_scope(out, "\\_SB_", &sb);
	aml_free(&sb);

	/* \_S5: SLP_TYPa, SLP_TYPb (only the first counts for hardware-reduced sleep). */
	aml_init(&pkg);
	aml_integer(&pkg, ACPI_S5_SLP_TYP);
	aml_integer(&pkg, ACPI_S5_SLP_TYP);
	aml_integer(&pkg, 0);
	aml_integer(&pkg, 0);
	aml_init(&dev);
	aml_package(&dev, 4, &pkg);
	aml_name(out, "\\_S5_", &dev);
	aml_free(&pkg);
	aml_free(&dev);
	ret = aml_error(out);
	return ret;
}

static size_t align16(size_t v)
{
	return (v + 15) & ~(size_t)15;
}

int acpi_build(const struct acpi_config *cfg, uint64_t base, struct acpi_tables *out,
	       struct errmsg *err)
{
	struct aml dsdt_body;
	size_t xsdt_off = align16(RSDP_LEN), fadt_off, madt_off, dsdt_off, madt_len, total;
	size_t xsdt_len = ACPI_HDR_LEN + 2 * 8, dsdt_len;
	uint8_t *b, *p;
	int ret;

	memset(out, 0, sizeof(*out));
	if (cfg->nr_cpus == 0)
		return errmsg_set(err, -EINVAL, "ACPI: no CPUs");
	aml_init(&dsdt_body);
	ret = build_dsdt(cfg, &dsdt_body);
	if (ret) {
		aml_free(&dsdt_body);
		return errmsg_set(err, ret, "ACPI: cannot build the DSDT");
	}
	dsdt_len = ACPI_HDR_LEN + dsdt_body.len;
	madt_len = ACPI_HDR_LEN + 8 + 12 /* IOAPIC */ + 10 /* override */ + 6 /* NMI */;
	for (unsigned i = 0; i < cfg->nr_cpus; i++)
		madt_len += i < 255 ? 8 : 16;
	fadt_off = align16(xsdt_off + xsdt_len);
	madt_off = align16(fadt_off + FADT_LEN);
	dsdt_off = align16(madt_off + madt_len);
	total = dsdt_off + dsdt_len;
	if (total > ACPI_TABLES_MAX) {
		aml_free(&dsdt_body);
		return errmsg_set(err, -E2BIG, "ACPI: tables need %zu bytes, at most %llu fit",
				  total, ACPI_TABLES_MAX);
	}
	b = calloc(1, total);
	if (!b) {
		aml_free(&dsdt_body);
		return errmsg_set(err, -ENOMEM, "ACPI: out of memory");
	}

	/* DSDT */
	p = b + dsdt_off;
	acpi_header(p, "DSDT", (uint32_t)dsdt_len, 2);
	memcpy(p + ACPI_HDR_LEN, dsdt_body.data, dsdt_body.len);
	acpi_finish(p, (uint32_t)dsdt_len);
	aml_free(&dsdt_body);

	/* FADT: hardware-reduced, sleep and reset registers on I/O ports. */
	p = b + fadt_off;
	acpi_header(p, "FACP", FADT_LEN, FADT_REVISION);
	put32(p + 40, (uint32_t)(base + dsdt_off));
	put16(p + 109, FADT_BOOT_VGA_NOT_PRESENT | FADT_BOOT_CMOS_RTC_NOT_PRESENT);
	put32(p + 112, FADT_WBINVD | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_RESET_REG_SUP |
			       FADT_HW_REDUCED_ACPI);
	gas_io(p + 116, ACPI_RESET_PORT);
	p[128] = ACPI_RESET_VALUE;
	p[131] = FADT_MINOR;
	put64(p + 140, base + dsdt_off);
	gas_io(p + 244, ACPI_SLEEP_CONTROL_PORT);
	gas_io(p + 256, ACPI_SLEEP_STATUS_PORT);
	memcpy(p + 268, "MINIVMM ", 8);
	acpi_finish(p, FADT_LEN);

	/* MADT: a local APIC (x2APIC past id 254) per vCPU, the IOAPIC, ISA overrides. */
	p = b + madt_off;
	acpi_header(p, "APIC", (uint32_t)madt_len, MADT_REVISION);
	put32(p + 36, ACPI_LAPIC_ADDR);
	put32(p + 40, MADT_PCAT_COMPAT);
	{
		uint8_t *e = p + ACPI_HDR_LEN + 8;

		for (unsigned i = 0; i < cfg->nr_cpus; i++) {
			if (i < 255) {
				e[0] = MADT_LOCAL_APIC;
				e[1] = 8;
				e[2] = (uint8_t)i; /* ACPI processor UID */
				e[3] = (uint8_t)i; /* APIC id, as CPUID reports it */
				put32(e + 4, MADT_ENABLED);
				e += 8;
			} else {
				e[0] = MADT_LOCAL_X2APIC;
				e[1] = 16;
				put32(e + 4, i);
				put32(e + 8, MADT_ENABLED);
				put32(e + 12, i);
				e += 16;
			}
		}
		e[0] = MADT_IO_APIC;
		e[1] = 12;
		e[2] = 0; /* IOAPIC id */
		put32(e + 4, ACPI_IOAPIC_ADDR);
		put32(e + 8, 0); /* GSI base */
		e += 12;
		/* ISA IRQ 0 (PIT) arrives on pin 2. Every other ISA IRQ keeps the bus default,
		 * edge and active high, which is what the devices' _CRS say and what irqfd (a
		 * pulse) gives: the virtio-mmio devices use IRQs from 5 on, so a level override
		 * (such as IRQ 9 for an SCI, which a hardware-reduced FADT does not have) would
		 * contradict a device's _CRS and could lose its interrupts. */
		e = madt_override(e, 0, 2, 0);
		/* LINT1 of every processor is NMI. */
		e[0] = MADT_LOCAL_APIC_NMI;
		e[1] = 6;
		e[2] = 0xff;
		put16(e + 3, 0);
		e[5] = 1;
	}
	acpi_finish(p, (uint32_t)madt_len);

	/* XSDT */
	p = b + xsdt_off;
	acpi_header(p, "XSDT", (uint32_t)xsdt_len, 1);
	put64(p + ACPI_HDR_LEN, base + fadt_off);
	put64(p + ACPI_HDR_LEN + 8, base + madt_off);
	acpi_finish(p, (uint32_t)xsdt_len);

	/* RSDP (revision 2: XSDT only) */
	p = b;
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, ACPI_OEM_ID, 6);
	p[15] = 2;
	put32(p + 20, RSDP_LEN);
	put64(p + 24, base + xsdt_off);
	p[8] = (uint8_t)(0x100 - acpi_checksum(p, 20));
	p[32] = (uint8_t)(0x100 - acpi_checksum(p, RSDP_LEN));

	out->blob = b;
	out->len = total;
	out->base = base;
	out->tables[0] = (struct acpi_table_ref){ "RSDP", 0, RSDP_LEN };
	out->tables[1] = (struct acpi_table_ref){ "XSDT", xsdt_off, xsdt_len };
	out->tables[2] = (struct acpi_table_ref){ "FACP", fadt_off, FADT_LEN };
	out->tables[3] = (struct acpi_table_ref){ "APIC", madt_off, madt_len };
	out->tables[4] = (struct acpi_table_ref){ "DSDT", dsdt_off, dsdt_len };
	out->nr_tables = 5;
	return 0;
}

void acpi_tables_free(struct acpi_tables *t)
{
	free(t->blob);
	memset(t, 0, sizeof(*t));
}

int acpi_dump(const struct acpi_tables *t, const char *dir, struct errmsg *err)
{
	for (unsigned i = 0; i < t->nr_tables; i++) {
		char path[4096];
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s.dat", dir, t->tables[i].sig);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return errmsg_set(err, -errno, "--dump-acpi %s: %s", path, strerror(errno));
		n = write(fd, t->blob + t->tables[i].offset, t->tables[i].len);
		close(fd);
		if (n != (ssize_t)t->tables[i].len)
			return errmsg_set(err, -EIO, "--dump-acpi %s: short write", path);
	}
	return 0;
}

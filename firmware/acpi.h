/* ACPI tables for the guest: RSDP (v2) → XSDT → FADT (hardware-reduced) → DSDT, and the MADT.
 * Built into one host buffer (pure, unit-testable), then copied to guest memory. */
#ifndef MINIVMM_ACPI_H
#define MINIVMM_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/errmsg.h"

#define ACPI_TABLES_ADDR 0xe0000ULL     /* RSDP first: inside the BIOS search area */
#define ACPI_TABLES_MAX 0x10000ULL      /* 0xe0000-0xeffff; the MP table may use 0xf0000 */
#define ACPI_PM_PORT 0x600              /* sleep control, sleep status, reset register */
#define ACPI_PM_PORTS 3
#define ACPI_SLEEP_CONTROL_PORT (ACPI_PM_PORT + 0)
#define ACPI_SLEEP_STATUS_PORT (ACPI_PM_PORT + 1)
#define ACPI_RESET_PORT (ACPI_PM_PORT + 2)
#define ACPI_RESET_VALUE 0x01
#define ACPI_S5_SLP_TYP 5
/* The Generic Event Device's status register (devices/ged.c) and interrupt: an IOAPIC pin
 * above the virtio-mmio devices' (VIRTIO_MMIO_FIRST_IRQ + up to 16). */
#define ACPI_GED_PORT 0x604
#define ACPI_GED_PORTS 1
#define ACPI_GED_IRQ 23
#define ACPI_GED_EVT_POWER_BUTTON 0x01
#define ACPI_IOAPIC_ADDR 0xfec00000U
#define ACPI_LAPIC_ADDR 0xfee00000U

struct acpi_mmio_dev {
	uint64_t base;
	uint32_t size;
	uint32_t irq;
};

struct acpi_config {
	unsigned nr_cpus;
	const struct acpi_mmio_dev *virtio;   /* announced as LNRO0005 */
	unsigned nr_virtio;
	uint16_t com1_port;                   /* 0: no COM1 */
	uint8_t com1_irq;
	/* A Generic Event Device (ACPI0013) on ACPI_GED_PORT / ACPI_GED_IRQ and the power
	 * button (PNP0C0C) it notifies: how a hardware-reduced machine gets a power button. */
	bool ged;
};

#define ACPI_MAX_TABLES 5

struct acpi_table_ref {
	char sig[5];       /* "RSDP", "XSDT", "FACP", "APIC", "DSDT" */
	size_t offset;     /* within blob */
	size_t len;
};

struct acpi_tables {
	uint8_t *blob;     /* everything, laid out for guest address @base */
	size_t len;
	uint64_t base;
	struct acpi_table_ref tables[ACPI_MAX_TABLES];
	unsigned nr_tables;
};

/* Builds every table for guest-physical @base. Checksums computed, lengths exact. */
int acpi_build(const struct acpi_config *cfg, uint64_t base, struct acpi_tables *out,
	       struct errmsg *err) __attribute__((warn_unused_result));
void acpi_tables_free(struct acpi_tables *t);

/* Writes each table to DIR/<SIG>.dat (the names `iasl -d` expects). */
int acpi_dump(const struct acpi_tables *t, const char *dir, struct errmsg *err);

/* Sum of @len bytes modulo 256 (0 for a table with a right checksum). */
uint8_t acpi_checksum(const void *p, size_t len);

#endif

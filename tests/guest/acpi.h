/* The guest's view of the platform tables: ACPI (RSDP → XSDT → MADT, FADT → DSDT) with every
 * checksum verified, or the MP table. */
#ifndef GUEST_ACPI_H
#define GUEST_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#define PLAT_MAX_CPUS 64
#define PLAT_MAX_DEVS 32

struct plat_dev {
	char name[5];
	char hid[9];
	uint64_t mem_base, mem_len;
	uint32_t io_base;
	int irq;            /* -1: none */
};

struct platform {
	bool acpi;                       /* false: from the MP table */
	unsigned nr_cpus;
	uint32_t apic_ids[PLAT_MAX_CPUS];
	unsigned nr_devs;
	struct plat_dev devs[PLAT_MAX_DEVS];
	/* FADT */
	bool hw_reduced;
	uint16_t sleep_ctl_port;         /* hardware-reduced sleep control (I/O space) */
	uint16_t pm1a_cnt_port;          /* legacy PM1a control block */
	uint16_t reset_port;
	uint8_t reset_value;
	bool reset_supported;
	int s5_typ;                      /* -1 if the DSDT has no \_S5 */
};

/* Fills @p from ACPI if an RSDP is found, else from the MP table. Prints what is wrong and
 * returns false on a bad checksum or a malformed table. */
bool platform_discover(struct platform *p, bool verbose);

#endif

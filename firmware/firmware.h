/* What the guest's "firmware" leaves in memory before boot: ACPI tables (default) or, with
 * --acpi off, an MP table; and a reset stub at the reset vector. */
#ifndef MINIVMM_FIRMWARE_H
#define MINIVMM_FIRMWARE_H

#include <stdint.h>

#include "firmware/acpi.h"
#include "vmm/config.h"
#include "vmm/errmsg.h"
#include "vmm/memory.h"

/* Writes the tables for @cfg; *rsdp_addr is the RSDP's address, or 0 without ACPI.
 * @virtio lists the virtio-mmio devices to announce in the DSDT. */
int firmware_setup(struct guest_mem *gm, const struct vm_config *cfg,
		   const struct acpi_mmio_dev *virtio, unsigned nr_virtio, uint64_t *rsdp_addr,
		   struct errmsg *err) __attribute__((warn_unused_result));

#endif

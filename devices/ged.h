/* ACPI Generic Event Device (HID ACPI0013, as in Cloud Hypervisor): how a hardware-reduced
 * ACPI machine, which has no fixed power button, tells the guest about platform events. The
 * DSDT's GED has one interrupt in its _CRS and an _EVT method that reads the event status
 * register and, for the power button bit, notifies the power button device (PNP0C0C) with 0x80
 * — which Linux's `button` driver turns into a KEY_POWER input event that acpid, systemd-logind
 * and friends answer with a poweroff.
 *
 * The status register is one byte on an I/O port (firmware/acpi.h: ACPI_GED_PORT); a read
 * returns the pending events and clears them. The interrupt is an irqfd on ACPI_GED_IRQ,
 * edge-triggered and active high, as the _CRS says. */
#ifndef MINIVMM_GED_H
#define MINIVMM_GED_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/errmsg.h"

struct machine;
struct ged;

/* Registers the status register on the machine's port bus, binds an irqfd to @gsi (none when
 * m->vm_fd is -1: tests) and joins the device list ("ged@604", which owns it from then on:
 * dev_list_destroy() frees it). */
int ged_create(struct machine *m, uint32_t gsi, struct ged **out, struct errmsg *err)
	__attribute__((warn_unused_result));

/* Records @events (ACPI_GED_EVT_* bits) as pending and raises the interrupt (any thread);
 * -EINVAL for none or for a bit the GED does not announce. */
int ged_raise(struct ged *g, uint8_t events);

/* Events raised and not yet read by the guest. */
uint8_t ged_pending(struct ged *g);

/* The bus handler (exposed for unit tests). */
void ged_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len, bool is_write,
	    void *opaque);

#endif

/* The hardware-reduced ACPI registers the FADT points at: sleep control (a write of SLP_TYP=S5
 * with SLP_EN powers off), sleep status, and the reset register. */
#ifndef MINIVMM_ACPI_PM_H
#define MINIVMM_ACPI_PM_H

#include "vmm/errmsg.h"

struct machine;

int acpi_pm_setup(struct machine *m, struct errmsg *err) __attribute__((warn_unused_result));

#endif

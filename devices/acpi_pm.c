#include "devices/acpi_pm.h"

#include "firmware/acpi.h"
#include "vmm/machine.h"

#define SLP_EN (1U << 5)
#define SLP_TYP_SHIFT 2
#define SLP_TYP_MASK 0x7

static void acpi_pm_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len,
		       bool is_write, void *opaque)
{
	struct machine *m = opaque;
	unsigned typ;

	(void)vcpu, (void)len;
	if (!is_write)
		return; /* sleep status: never woken, reads 0 */
	switch (ACPI_PM_PORT + offset) {
	case ACPI_SLEEP_CONTROL_PORT:
		typ = (data[0] >> SLP_TYP_SHIFT) & SLP_TYP_MASK;
		if ((data[0] & SLP_EN) && typ == ACPI_S5_SLP_TYP)
			machine_request_stop(m, VM_STOP_POWEROFF, 0, NULL);
		break;
	case ACPI_RESET_PORT:
		if (data[0] == ACPI_RESET_VALUE)
			machine_request_stop(m, VM_STOP_REBOOT, 0, "guest requested a reboot (ACPI reset)");
		break;
	}
}

int acpi_pm_setup(struct machine *m, struct errmsg *err)
{
	int ret = bus_register(m->pio, ACPI_PM_PORT, ACPI_PM_PORTS, acpi_pm_io, m, "acpi-pm");

	return ret ? errmsg_set(err, ret, "cannot register the ACPI PM ports") : 0;
}

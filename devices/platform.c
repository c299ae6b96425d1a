#include "devices/platform.h"

#include <string.h>

#include "vmm/machine.h"

#define I8042_STATUS_SYSTEM 0x04 /* "system flag": self-test passed */

static void i8042_data_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len,
			  bool is_write, void *opaque)
{
	/* No keyboard behind it: reads see an empty output buffer (the bus zero-fills). */
	(void)vcpu, (void)offset, (void)data, (void)len, (void)is_write, (void)opaque;
}

static void i8042_command_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len,
			     bool is_write, void *opaque)
{
	struct machine *m = opaque;

	(void)vcpu, (void)offset, (void)len;
	if (!is_write) {
		data[0] = I8042_STATUS_SYSTEM; /* input buffer empty: ready for a command */
		return;
	}
	if (data[0] == I8042_CMD_RESET)
		machine_request_stop(m, VM_STOP_REBOOT, 0, "guest requested a reboot (i8042 reset)");
}

static void exit_port_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len,
			 bool is_write, void *opaque)
{
	struct machine *m = opaque;
	uint32_t value = 0;

	(void)vcpu;
	if (!is_write || offset != 0 || len > 4)
		return;
	memcpy(&value, data, len);
	machine_request_stop(m, VM_STOP_EXIT_PORT, (int)(value & 0xff), NULL);
}

static void post_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len,
		    bool is_write, void *opaque)
{
	/* Firmware and boot code write progress codes here; Linux also uses it as an I/O delay.
	 * Reads see zero. */
	(void)vcpu, (void)offset, (void)len;
	if (is_write)
		machine_trace(opaque, "boot progress 0x%02x (port 0x80)", data[0]);
}

int platform_devices_setup(struct machine *m, struct errmsg *err)
{
	int ret;

	ret = bus_register(m->pio, I8042_DATA_PORT, 1, i8042_data_io, m, "i8042-data");
	ret = ret ? ret : bus_register(m->pio, I8042_COMMAND_PORT, 1, i8042_command_io, m,
				       "i8042-command");
	if (ret)
		return errmsg_set(err, ret, "cannot register the i8042 ports");
	ret = bus_register(m->pio, EXIT_PORT, 4, exit_port_io, m, "exit-port");
	if (ret)
		return errmsg_set(err, ret, "cannot register the exit port");
	ret = bus_register(m->pio, POST_PORT, 1, post_io, m, "post");
	if (ret)
		return errmsg_set(err, ret, "cannot register the POST port");
	return 0;
}

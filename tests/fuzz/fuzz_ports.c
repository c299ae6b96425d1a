/* libFuzzer target: the legacy port devices a guest reaches with IN/OUT, through the real port
 * bus: COM1 (16550A), the i8042's ports, the exit and POST ports, the ACPI PM registers and the
 * Generic Event Device. The input is a list of operations: port accesses of any width (the bus
 * refuses what a device does not take), host input into COM1, power-button presses, a save of
 * every device's state then a load of it back, a reset, and COM1's state set from input bytes
 * (what a snapshot file could hold). Checks: no crash, hang or sanitizer report; a state the
 * devices saved loads back; a COM1 state they accept reads back the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/acpi_pm.h"
#include "devices/ged.h"
#include "devices/platform.h"
#include "devices/uart.h"
#include "firmware/acpi.h"
#include "vmm/device.h"
#include "vmm/machine.h"
#include "vmm/state.h"

#define FUZZ_MAX_OPS 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct in {
	const uint8_t *p, *end;
};

static uint8_t u8(struct in *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

static void no_irq(void *opaque, int level)
{
	(void)opaque, (void)level;
}

static void no_rx_ready(void *opaque)
{
	(void)opaque;
}

static const struct uart_ops uart_ops = { .set_irq = no_irq, .rx_ready = no_rx_ready };

/* Ports near the devices, so most accesses hit one (a uniform 16-bit port rarely would). */
static const uint16_t port_base[] = { UART_COM1_BASE, I8042_DATA_PORT, I8042_COMMAND_PORT,
				      EXIT_PORT, POST_PORT, ACPI_PM_PORT, ACPI_GED_PORT };

static int save_fill(void *fdt, void *arg)
{
	return dev_list_save(arg, fdt, 0);
}

static void save_and_load(struct dev_list *devs)
{
	struct errmsg err = { "" };
	void *fdt;
	size_t len;

	if (state_build(save_fill, devs, 64 * 1024, &fdt, &len))
		return;
	if (dev_list_load(devs, fdt, 0, &err)) {
		fprintf(stderr, "a saved state was refused: %s\n", err.text);
		abort(); /* what the devices saved, they must take back */
	}
	free(fdt);
}

static void set_uart_state(struct uart *u, struct in *in)
{
	struct uart_state s, back;

	for (size_t i = 0; i < sizeof(s); i++)
		((uint8_t *)&s)[i] = u8(in);
	if (uart_set_state(u, &s))
		return;
	uart_get_state(u, &back);
	if (back.fifo_count != s.fifo_count || memcmp(back.fifo, s.fifo, s.fifo_count))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, data + size };
	struct bus pio;
	struct dev_list devs = { .n = 0 };
	struct machine m = { .pio = &pio, .vm_fd = -1, .devices = &devs };
	struct errmsg err = { "" };
	struct uart *u;
	struct ged *g;
	uint8_t buf[8];

	bus_init(&pio, "pio");
	u = uart_create(-1, &uart_ops, NULL);
	if (!u || bus_register(&pio, UART_COM1_BASE, UART_NR_REGS, uart_io, u, "com1") ||
	    platform_devices_setup(&m, &err) || acpi_pm_setup(&m, &err) ||
	    ged_create(&m, ACPI_GED_IRQ, &g, &err))
		abort();
	for (int ops = 0; in.p < in.end && ops < FUZZ_MAX_OPS; ops++) {
		uint8_t op = u8(&in);

		switch (op % 8) {
		case 0: case 1: case 2: case 3: { /* IN or OUT of 1, 2, 4 or 8 bytes */
			uint16_t port = port_base[u8(&in) % 7] + u8(&in) % 8;
			uint32_t len = 1u << ((op >> 3) & 3);

			for (uint32_t i = 0; i < len; i++)
				buf[i] = u8(&in);
			(void)bus_dispatch(&pio, NULL, port, buf, len, op & 1);
			break;
		}
		case 4: { /* host input into COM1 */
			uint8_t n = u8(&in) % 24, bytes[24];

			for (uint8_t i = 0; i < n; i++)
				bytes[i] = u8(&in);
			(void)uart_push_input(u, bytes, n);
			break;
		}
		case 5:
			(void)ged_raise(g, u8(&in));
			break;
		case 6:
			if (op & 0x80)
				dev_list_reset(&devs);
			else
				save_and_load(&devs);
			break;
		case 7:
			set_uart_state(u, &in);
			break;
		}
	}
	dev_list_destroy(&devs);
	bus_destroy(&pio);
	uart_destroy(u);
	return 0;
}

/* A guest whose progress the host can watch, for the control socket's pause, resume and
 * graceful shutdown (tests/integration/test_api.sh).
 *
 * scenario=ticker [period=M] [button=poweroff|ignore]
 *   prints "tick N" every M million TSC cycles (default 200), N counting up from 1, and after
 *   each tick reads the ACPI Generic Event Device's status register (found in the DSDT: the
 *   GED's SystemIO OperationRegion). On a power button event it powers off through \_S5, or
 *   with button=ignore says so and keeps ticking (a guest that ignores the button). Interrupts
 *   stay off: polling the register once per tick is this guest's ACPI interpreter. */
#include "acpi.h"
#include "guest.h"
#include "scenarios.h"

#define GED_EVT_POWER_BUTTON 0x01

static const struct plat_dev *find_hid(const struct platform *p, const char *hid)
{
	for (unsigned i = 0; i < p->nr_devs; i++)
		if (!strncmp(p->devs[i].hid, hid, 9))
			return &p->devs[i];
	return NULL;
}

int scn_ticker(void)
{
	const struct plat_dev *ged;
	struct platform p;
	uint64_t period = 200;
	const char *button;
	size_t len;
	bool ignore;

	if (cmdline_get("period", &len) && (!cmdline_get_u64("period", &period) || !period)) {
		printk("ticker: bad period=\n");
		return GUEST_EXIT_USAGE;
	}
	button = cmdline_get("button", &len);
	ignore = button && len == 6 && !strncmp(button, "ignore", 6);
	if (!platform_discover(&p, false) || p.s5_typ < 0 || !p.sleep_ctl_port) {
		printk("ticker: no ACPI sleep control or \\_S5\n");
		return GUEST_EXIT_FAIL;
	}
	ged = find_hid(&p, "ACPI0013");
	if (!ged || !ged->io_base) {
		printk("ticker: no ACPI0013 device with a SystemIO region in the DSDT\n");
		return GUEST_EXIT_FAIL;
	}
	if (!find_hid(&p, "PNP0C0C")) {
		printk("ticker: no PNP0C0C power button in the DSDT\n");
		return GUEST_EXIT_FAIL;
	}
	printk("ticker: GED status port 0x%x irq %d, power button %s\n", ged->io_base, ged->irq,
	       ignore ? "ignored" : "powers off");
	for (uint64_t n = 1;; n++) {
		uint64_t t0 = rdtsc();
		uint8_t events;

		while (rdtsc() - t0 < period * 1000000)
			__asm__ volatile("pause");
		printk("tick %lu\n", n);
		events = inb((uint16_t)ged->io_base);
		if (!(events & GED_EVT_POWER_BUTTON))
			continue;
		if (ignore) {
			printk("ticker: power button pressed, ignoring it\n");
			continue;
		}
		printk("ticker: power button pressed, powering off (S5)\n");
		outb(p.sleep_ctl_port, (uint8_t)(((p.s5_typ & 7) << 2) | (1 << 5)));
		printk("ticker: still running after S5\n");
		return GUEST_EXIT_FAIL;
	}
}

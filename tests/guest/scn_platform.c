/* Scenarios of the platform: ACPI tables, SMP bring-up with INIT-SIPI-SIPI, ACPI power-off and
 * reset. */
#include "acpi.h"
#include "guest.h"
#include "scenarios.h"
#include "smp.h"

#define LAPIC_BASE 0xfee00000UL
#define LAPIC_ID 0x20
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x00000500
#define ICR_STARTUP 0x00000600
#define ICR_LEVEL_ASSERT 0x00004000
#define ICR_BUSY 0x00001000
#define AP_TRAMPOLINE 0x8000
#define POST_PORT 0x80

extern const char ap_trampoline_start[], ap_trampoline_end[];
void ap_main(void);

static volatile uint32_t ap_count;
static void (*volatile ap_work)(void);

static uint32_t lapic_read(unsigned reg)
{
	return *(volatile uint32_t *)(LAPIC_BASE + reg);
}

static void lapic_write(unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(LAPIC_BASE + reg) = v;
}

/* ~8 µs per read on this kind of host (a port read that exits to the VMM), about 1 µs on
 * real hardware: good enough for the INIT/SIPI pacing, which KVM does not require. */
static void io_delay(unsigned n)
{
	while (n--)
		(void)inb(POST_PORT);
}

void ap_main(void)
{
	void (*work)(void) = ap_work;

	__atomic_fetch_add(&ap_count, 1, __ATOMIC_SEQ_CST);
	if (work)
		work();
}

static void send_ipi(uint32_t apic_id, uint32_t icr)
{
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr);
	for (int i = 0; i < 1000 && (lapic_read(LAPIC_ICR_LO) & ICR_BUSY); i++)
		io_delay(1);
}

int scn_acpi(void)
{
	struct platform p;

	if (!platform_discover(&p, true) || !p.acpi) {
		printk("acpi: FAILED\n");
		return GUEST_EXIT_FAIL;
	}
	printk("acpi: %u cpus\n", p.nr_cpus);
	for (unsigned i = 0; i < p.nr_cpus; i++)
		printk("acpi: cpu %u apic-id %u\n", i, p.apic_ids[i]);
	printk("acpi: %u devices\n", p.nr_devs);
	for (unsigned i = 0; i < p.nr_devs; i++) {
		const struct plat_dev *d = &p.devs[i];

		printk("acpi: device %s hid %s", d->name, d->hid);
		if (d->io_base)
			printk(" io 0x%x", d->io_base);
		if (d->mem_len)
			printk(" mem 0x%lx+0x%lx", d->mem_base, d->mem_len);
		if (d->irq >= 0)
			printk(" irq %d", d->irq);
		printk("\n");
	}
	printk("acpi: fadt %s, sleep control port 0x%x, reset port 0x%x value 0x%x, s5 %d\n",
	       p.hw_reduced ? "hardware-reduced" : "legacy", p.sleep_ctl_port, p.reset_port,
	       p.reset_value, p.s5_typ);
	return 0;
}

int smp_start(void (*work)(void), unsigned *nr_cpus, bool *acpi)
{
	struct platform p;
	uint32_t self, expected;
	unsigned spins;

	if (!platform_discover(&p, false) || p.nr_cpus == 0) {
		printk("smp: no CPU list\n");
		return -1;
	}
	ap_work = work;
	memcpy((void *)AP_TRAMPOLINE, ap_trampoline_start,
	       (size_t)(ap_trampoline_end - ap_trampoline_start));
	lapic_write(LAPIC_SVR, 0x1ff); /* software-enable the BSP's LAPIC */
	self = lapic_read(LAPIC_ID) >> 24;
	expected = 0;
	for (unsigned i = 0; i < p.nr_cpus; i++) {
		uint32_t id = p.apic_ids[i];

		if (id == self)
			continue;
		if (id > 254) {
			printk("smp: apic id %u needs x2APIC, not supported here\n", id);
			return -1;
		}
		send_ipi(id, ICR_INIT | ICR_LEVEL_ASSERT);
		io_delay(100);
		send_ipi(id, ICR_STARTUP | (AP_TRAMPOLINE >> 12));
		io_delay(25);
		send_ipi(id, ICR_STARTUP | (AP_TRAMPOLINE >> 12));
		expected++;
	}
	for (spins = 0; __atomic_load_n(&ap_count, __ATOMIC_SEQ_CST) < expected && spins < 2000000;
	     spins++)
		io_delay(1);
	if (nr_cpus)
		*nr_cpus = p.nr_cpus;
	if (acpi)
		*acpi = p.acpi;
	return ap_count == expected ? (int)expected : -1;
}

/* Starts every AP the tables list with INIT-SIPI-SIPI; each increments ap_count. */
int scn_smp(void)
{
	unsigned nr_cpus = 0;
	bool acpi = false;
	int started = smp_start(NULL, &nr_cpus, &acpi);

	printk("smp: %u of %u CPUs up (%s)\n", __atomic_load_n(&ap_count, __ATOMIC_SEQ_CST) + 1,
	       nr_cpus, acpi ? "ACPI MADT" : "MP table");
	return started >= 0 ? 0 : GUEST_EXIT_FAIL;
}

int scn_poweroff(void)
{
	struct platform p;

	if (!platform_discover(&p, false) || p.s5_typ < 0) {
		printk("poweroff: no \\_S5 in the DSDT\n");
		return GUEST_EXIT_FAIL;
	}
	printk("poweroff: S5 (SLP_TYP %d)\n", p.s5_typ);
	if (p.hw_reduced && p.sleep_ctl_port)
		outb(p.sleep_ctl_port, (uint8_t)(((p.s5_typ & 7) << 2) | (1 << 5)));
	else if (p.pm1a_cnt_port)
		outw(p.pm1a_cnt_port, (uint16_t)(((p.s5_typ & 7) << 10) | (1 << 13)));
	printk("poweroff: still running\n");
	return GUEST_EXIT_FAIL;
}

int scn_acpi_reset(void)
{
	struct platform p;

	if (!platform_discover(&p, false) || !p.reset_supported || !p.reset_port) {
		printk("acpi-reset: no reset register\n");
		return GUEST_EXIT_FAIL;
	}
	printk("acpi-reset: writing 0x%x to port 0x%x\n", p.reset_value, p.reset_port);
	outb(p.reset_port, p.reset_value);
	printk("acpi-reset: still running\n");
	return GUEST_EXIT_FAIL;
}

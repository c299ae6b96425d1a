#include "firmware/mptable.h"

#include <errno.h>
#include <string.h>

#include "firmware/acpi.h"

#define MPF_LEN 16
#define MPC_HDR_LEN 44
#define MPC_CPU_LEN 20
#define MPC_SHORT_LEN 8
#define MP_SPEC_REV 4
#define MP_APIC_VERSION 0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_ENABLED 1
#define MP_CPU_BSP 2
#define MP_ENTRY_CPU 0
#define MP_ENTRY_BUS 1
#define MP_ENTRY_IOAPIC 2
#define MP_ENTRY_IOINT 3
#define MP_ENTRY_LINT 4
#define MP_INT 0
#define MP_NMI 1
#define MP_EXTINT 3
#define ISA_IRQS 16

static uint8_t mp_checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return (uint8_t)(0x100 - s);
}

int mptable_build(unsigned nr_cpus, uint64_t base, uint8_t *buf, size_t cap)
{
	size_t entries = nr_cpus + 1 + 1 + (ISA_IRQS - 1) + 2;
	size_t len = MPF_LEN + MPC_HDR_LEN + nr_cpus * MPC_CPU_LEN +
		     (entries - nr_cpus) * MPC_SHORT_LEN;
	uint8_t *mpc = buf + MPF_LEN, *e = mpc + MPC_HDR_LEN;
	uint8_t ioapic_id = (uint8_t)nr_cpus;
	uint32_t v;

	if (nr_cpus == 0 || nr_cpus > MPTABLE_MAX_CPUS)
		return -EINVAL;
	if (len > cap)
		return -E2BIG;
	memset(buf, 0, len);

	for (unsigned i = 0; i < nr_cpus; i++, e += MPC_CPU_LEN) {
		e[0] = MP_ENTRY_CPU;
		e[1] = (uint8_t)i;
		e[2] = MP_APIC_VERSION;
		e[3] = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0);
		v = 0x600;          /* CPU signature: family 6 */
		memcpy(e + 4, &v, 4);
		v = 0x201;          /* features: FPU, APIC */
		memcpy(e + 8, &v, 4);
	}
	e[0] = MP_ENTRY_BUS;
	memcpy(e + 2, "ISA   ", 6);
	e += MPC_SHORT_LEN;
	e[0] = MP_ENTRY_IOAPIC;
	e[1] = ioapic_id;
	e[2] = MP_IOAPIC_VERSION;
	e[3] = MP_CPU_ENABLED;
	v = ACPI_IOAPIC_ADDR;
	memcpy(e + 4, &v, 4);
	e += MPC_SHORT_LEN;
	/* ISA IRQs to IOAPIC pins, identity except the PIT (IRQ 0 → pin 2); pin 2 is not
	 * assigned otherwise. */
	for (unsigned irq = 0; irq < ISA_IRQS; irq++) {
		if (irq == 2)
			continue;
		e[0] = MP_ENTRY_IOINT;
		e[1] = MP_INT;
		e[4] = 0;              /* source bus: ISA */
		e[5] = (uint8_t)irq;
		e[6] = ioapic_id;
		e[7] = (uint8_t)(irq == 0 ? 2 : irq);
		e += MPC_SHORT_LEN;
	}
	e[0] = MP_ENTRY_LINT;
	e[1] = MP_EXTINT;
	e[6] = 0xff;                   /* every local APIC */
	e[7] = 0;                      /* LINT0 */
	e += MPC_SHORT_LEN;
	e[0] = MP_ENTRY_LINT;
	e[1] = MP_NMI;
	e[6] = 0xff;
	e[7] = 1;                      /* LINT1 */
	e += MPC_SHORT_LEN;

	memcpy(mpc, "PCMP", 4);
	v = (uint32_t)(e - mpc);
	memcpy(mpc + 4, &v, 2);
	mpc[6] = MP_SPEC_REV;
	memcpy(mpc + 8, "MINIVMM ", 8);
	memcpy(mpc + 16, "minivmm     ", 12);
	v = (uint32_t)entries;
	memcpy(mpc + 34, &v, 2);
	v = ACPI_LAPIC_ADDR;
	memcpy(mpc + 36, &v, 4);
	mpc[7] = mp_checksum(mpc, (size_t)(e - mpc));

	memcpy(buf, "_MP_", 4);
	v = (uint32_t)(base + MPF_LEN);
	memcpy(buf + 4, &v, 4);
	buf[8] = 1;                    /* length in 16-byte units */
	buf[9] = MP_SPEC_REV;
	buf[10] = mp_checksum(buf, MPF_LEN);
	return (int)len;
}

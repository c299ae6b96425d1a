#include "firmware/firmware.h"

#include <errno.h>

#include "devices/uart.h"
#include "firmware/mptable.h"
#include "firmware/reset_vector.h"

static int firmware_acpi(struct guest_mem *gm, const struct vm_config *cfg,
			 const struct acpi_mmio_dev *virtio, unsigned nr_virtio,
			 uint64_t *rsdp_addr, struct errmsg *err)
{
	struct acpi_config acfg = {
		.nr_cpus = cfg->cpus,
		.virtio = virtio,
		.nr_virtio = nr_virtio,
		.com1_port = UART_COM1_BASE, /* the UART exists even with --serial off */
		.com1_irq = UART_COM1_IRQ,
		.ged = true, /* devices/ged.c: the power button of `minivmm ctl shutdown` */
	};
	struct acpi_tables t;
	int ret;

	ret = acpi_build(&acfg, ACPI_TABLES_ADDR, &t, err);
	if (ret)
		return ret;
	ret = gm_write(gm, t.base, t.blob, t.len);
	if (ret)
		errmsg_set(err, ret, "ACPI: tables do not fit in guest memory");
	if (!ret && cfg->dump_acpi)
		ret = acpi_dump(&t, cfg->dump_acpi, err);
	if (!ret)
		*rsdp_addr = t.base;
	acpi_tables_free(&t);
	return ret;
}

static int firmware_mptable(struct guest_mem *gm, const struct vm_config *cfg,
			    struct errmsg *err)
{
	uint8_t *buf = gm_ptr(gm, MPTABLE_ADDR, 0x10000);
	int n;

	if (!buf)
		return errmsg_set(err, -ENOMEM, "MP table: guest memory too small");
	n = mptable_build(cfg->cpus, MPTABLE_ADDR, buf, 0x10000);
	if (n == -EINVAL)
		return errmsg_set(err, n, "--acpi off: the MP table describes at most %d CPUs",
				  MPTABLE_MAX_CPUS);
	return n < 0 ? errmsg_set(err, n, "MP table does not fit") : 0;
}

int firmware_setup(struct guest_mem *gm, const struct vm_config *cfg,
		   const struct acpi_mmio_dev *virtio, unsigned nr_virtio, uint64_t *rsdp_addr,
		   struct errmsg *err)
{
	int ret;

	*rsdp_addr = 0;
	ret = firmware_reset_vector(gm, err);
	if (ret)
		return ret;
	if (cfg->acpi)
		return firmware_acpi(gm, cfg, virtio, nr_virtio, rsdp_addr, err);
	return firmware_mptable(gm, cfg, err);
}

#include "devices/ged.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "firmware/acpi.h"
#include "vmm/device.h"
#include "vmm/machine.h"
#include "vmm/state.h"

struct ged {
	pthread_mutex_t lock;    /* status: raised on the I/O thread, read on vCPU threads */
	uint8_t status;
	int irq_fd;
};

void ged_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len, bool is_write,
	    void *opaque)
{
	struct ged *g = opaque;

	(void)vcpu, (void)len;
	if (is_write || offset != 0)
		return; /* the register is read-only; the bus zero-fills other reads */
	/* Read-to-clear: _EVT reads the register once per interrupt, so an event raised after
	 * that read raises a new interrupt and is seen by the next _EVT. */
	pthread_mutex_lock(&g->lock);
	data[0] = g->status;
	g->status = 0;
	pthread_mutex_unlock(&g->lock);
}

int ged_raise(struct ged *g, uint8_t events)
{
	uint64_t one = 1;

	/* Only events the DSDT's _EVT handles: a state with others could not be loaded back. */
	if (!events || events & ~ACPI_GED_EVT_POWER_BUTTON)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	g->status |= events;
	pthread_mutex_unlock(&g->lock);
	/* An irqfd write pulses the line: an edge, which is what the _CRS declares. */
	if (g->irq_fd >= 0 && write(g->irq_fd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	return 0;
}

uint8_t ged_pending(struct ged *g)
{
	uint8_t s;

	pthread_mutex_lock(&g->lock);
	s = g->status;
	pthread_mutex_unlock(&g->lock);
	return s;
}

static void ged_destroy(void *dev)
{
	struct ged *g = dev;

	/* Closing the eventfd also detaches the irqfd from the VM. */
	if (g->irq_fd >= 0)
		close(g->irq_fd);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* A press the guest has not read yet survives a snapshot; the interrupt that announced it is
 * the IOAPIC's state, saved with the VM's. */
static int ged_save(void *dev, void *fdt, int node)
{
	return state_put_u32(fdt, node, "status", ged_pending(dev));
}

static int ged_load(void *dev, const void *fdt, int node, struct errmsg *err)
{
	struct ged *g = dev;
	uint32_t status;
	int ret = state_get_u32(fdt, node, "status", &status, err);

	if (ret)
		return ret;
	if (status & ~(uint32_t)ACPI_GED_EVT_POWER_BUTTON)
		return errmsg_set(err, -EINVAL, "status 0x%x: events this GED never raises", status);
	pthread_mutex_lock(&g->lock);
	g->status = (uint8_t)status;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void ged_reset(void *dev)
{
	struct ged *g = dev;

	pthread_mutex_lock(&g->lock);
	g->status = 0;
	pthread_mutex_unlock(&g->lock);
}

static int ged_describe(void *dev, void *fdt, int node)
{
	static const char port[] = "0x604"; /* ACPI_GED_PORT, as people write ports */
	int ret = state_put_u32(fdt, node, "irq", ACPI_GED_IRQ);

	(void)dev;
	_Static_assert(ACPI_GED_PORT == 0x604, "the port's name above");
	return ret ? ret : state_put_blob(fdt, node, "port", port, sizeof(port));
}

static const struct dev_ops ged_dev_ops = {
	.kind = "acpi-ged",
	.save = ged_save,
	.load = ged_load,
	.reset = ged_reset,
	.destroy = ged_destroy,
	.describe = ged_describe,
};

int ged_create(struct machine *m, uint32_t gsi, struct ged **out, struct errmsg *err)
{
	struct ged *g = calloc(1, sizeof(*g));
	int ret;

	*out = NULL;
	if (!g)
		return errmsg_set(err, -ENOMEM, "ACPI GED: out of memory");
	pthread_mutex_init(&g->lock, NULL);
	g->irq_fd = -1;
	if (m->vm_fd >= 0) {
		struct kvm_irqfd irqfd = { .gsi = gsi };

		g->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (g->irq_fd < 0) {
			ret = errmsg_set(err, -errno, "ACPI GED: eventfd: %s", strerror(errno));
			goto fail;
		}
		irqfd.fd = (uint32_t)g->irq_fd;
		if (ioctl(m->vm_fd, KVM_IRQFD, &irqfd) < 0) {
			ret = errmsg_set(err, -errno, "ACPI GED: KVM_IRQFD on GSI %u: %s", gsi,
					 strerror(errno));
			goto fail;
		}
	}
	ret = dev_list_add(m->devices, &ged_dev_ops, g, "ged@604");
	if (ret) {
		errmsg_set(err, ret, "ACPI GED: cannot join the device list: %s", strerror(-ret));
		goto fail;
	}
	/* Registered last: from here on the list owns @g, and a failure leaves it there to be
	 * destroyed with the others. */
	ret = bus_register(m->pio, ACPI_GED_PORT, ACPI_GED_PORTS, ged_io, g, "acpi-ged");
	if (ret)
		return errmsg_set(err, ret, "ACPI GED: cannot register port 0x%x", ACPI_GED_PORT);
	*out = g;
	return 0;
fail:
	ged_destroy(g);
	return ret;
}

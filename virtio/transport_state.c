/* A virtio-mmio device in the machine's device list: pause, resume, save, load, reset and
 * destroy, layered virtqueue → transport → device, so what every device shares is written once
 * here. A loaded transport is checked as the guest's own register writes would be: the
 * configuration must be the same (features, queue count, device type), the status one the
 * state machine can reach, and each enabled queue passes vq_enable(). */
#include "virtio/transport_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/virtio_config.h>

#include "vmm/machine.h"
#include "vmm/state.h"

#define STATUS_BITS (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
		     VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK)

static int transport_pause(void *dev)
{
	struct virtio_dev *d = dev;
	int ret;

	pthread_mutex_lock(&d->lock);
	d->paused = true;
	pthread_mutex_unlock(&d->lock);
	ret = d->ops->pause ? d->ops->pause(d) : 0;
	if (ret) {
		pthread_mutex_lock(&d->lock);
		d->paused = false;
		pthread_mutex_unlock(&d->lock);
	}
	return ret;
}

static void transport_resume(void *dev)
{
	struct virtio_dev *d = dev;

	pthread_mutex_lock(&d->lock);
	d->paused = false;
	pthread_mutex_unlock(&d->lock);
	if (d->ops->resume)
		d->ops->resume(d);
	/* Kicks that came while paused were read and dropped: look at every queue once. */
	for (unsigned q = 0; q < d->nr_queues; q++)
		virtio_dev_kick(d, q);
}

static int transport_save(void *dev, void *fdt, int node)
{
	struct virtio_dev *d = dev;
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	ret = ret ? ret : state_put_u32(fdt, node, "device-id", d->ops->device_id);
	ret = ret ? ret : state_put_u32(fdt, node, "queues", d->nr_queues);
	ret = ret ? ret : state_put_u64(fdt, node, "device-features", d->device_features);
	ret = ret ? ret : state_put_u64(fdt, node, "driver-features", d->driver_features);
	ret = ret ? ret : state_put_u32(fdt, node, "device-features-sel", d->device_features_sel);
	ret = ret ? ret : state_put_u32(fdt, node, "driver-features-sel", d->driver_features_sel);
	ret = ret ? ret : state_put_u32(fdt, node, "queue-sel", d->queue_sel);
	ret = ret ? ret : state_put_u32(fdt, node, "status", d->status);
	ret = ret ? ret : state_put_u32(fdt, node, "interrupt-status", d->interrupt_status);
	ret = ret ? ret : state_put_u32(fdt, node, "config-generation", d->config_generation);
	ret = ret ? ret : state_put_u32(fdt, node, "broken", d->broken);
	for (unsigned q = 0; q < d->nr_queues && !ret; q++) {
		struct virtqueue vq = d->vqs[q];
		char name[16];
		int qn;

		/* A broken device keeps the chains it took before the driver broke a rule; none is
		 * owed a reply, and the driver's reset (the only way on) gives them all back. So
		 * they are not in flight: vq_save() refuses held heads, and a guest could
		 * otherwise refuse every snapshot by breaking a device once. */
		if (d->broken)
			memset(vq.held, 0, sizeof(vq.held));
		snprintf(name, sizeof(name), "q%u", q);
		qn = state_add_node(fdt, node, name);
		ret = qn < 0 ? qn : vq_save(&vq, fdt, qn);
	}
	if (!ret && d->ops->save)
		ret = d->ops->save(d, fdt, node);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

/* The statuses the state machine in mmio.c can reach, with NEEDS_RESET and FAILED on top. */
static bool status_reachable(uint32_t s)
{
	uint32_t steps = s & STATUS_BITS;

	if (s & ~(STATUS_BITS | VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED))
		return false;
	return steps == 0 || steps == VIRTIO_CONFIG_S_ACKNOWLEDGE ||
	       steps == (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER) ||
	       steps == (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			 VIRTIO_CONFIG_S_FEATURES_OK) ||
	       steps == STATUS_BITS;
}

static int transport_load_locked(struct virtio_dev *d, const void *fdt, int node,
				 struct errmsg *err)
{
	uint32_t id, queues, status, isr, gen, dsel, drsel, qsel;
	uint64_t dev_features, drv_features;
	bool broken;
	int ret = 0;

	ret = ret ? ret : state_get_u32(fdt, node, "device-id", &id, err);
	ret = ret ? ret : state_get_u32(fdt, node, "queues", &queues, err);
	ret = ret ? ret : state_get_u64(fdt, node, "device-features", &dev_features, err);
	ret = ret ? ret : state_get_u64(fdt, node, "driver-features", &drv_features, err);
	ret = ret ? ret : state_get_u32(fdt, node, "device-features-sel", &dsel, err);
	ret = ret ? ret : state_get_u32(fdt, node, "driver-features-sel", &drsel, err);
	ret = ret ? ret : state_get_u32(fdt, node, "queue-sel", &qsel, err);
	ret = ret ? ret : state_get_u32(fdt, node, "status", &status, err);
	ret = ret ? ret : state_get_u32(fdt, node, "interrupt-status", &isr, err);
	ret = ret ? ret : state_get_u32(fdt, node, "config-generation", &gen, err);
	ret = ret ? ret : state_get_bool(fdt, node, "broken", &broken, err);
	if (ret)
		return ret;
	if (id != d->ops->device_id)
		return errmsg_set(err, -EINVAL, "saved as virtio device type %u, this is %s", id,
				  d->ops->name);
	if (queues != d->nr_queues)
		return errmsg_set(err, -EINVAL, "saved with %u queues, this device has %u", queues,
				  d->nr_queues);
	if (dev_features != d->device_features)
		return errmsg_set(err, -EINVAL,
				  "saved device features 0x%llx differ from this device's 0x%llx (another configuration)",
				  (unsigned long long)dev_features,
				  (unsigned long long)d->device_features);
	if (drv_features & ~dev_features)
		return errmsg_set(err, -EINVAL, "driver features 0x%llx beyond the device's",
				  (unsigned long long)drv_features);
	if (!status_reachable(status))
		return errmsg_set(err, -EINVAL, "status 0x%x is not one a driver can set", status);
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) && !(drv_features & (1ULL << VIRTIO_F_VERSION_1)))
		return errmsg_set(err, -EINVAL, "FEATURES_OK without VERSION_1");
	if (isr & ~3u)
		return errmsg_set(err, -EINVAL, "interrupt status 0x%x", isr);

	virtio_transport_reset(d);
	d->driver_features = drv_features;
	d->device_features_sel = dsel;
	d->driver_features_sel = drsel;
	d->queue_sel = qsel;
	for (unsigned q = 0; q < d->nr_queues; q++) {
		char name[16];
		int qn;

		snprintf(name, sizeof(name), "q%u", q);
		qn = state_node(fdt, node, name, err);
		if (qn < 0)
			return qn;
		ret = vq_load(&d->vqs[q], d->m->mem, fdt, qn, err);
		if (ret)
			return errmsg_prefix(err, ret, "queue %u", q);
		if (d->vqs[q].enabled && !(status & VIRTIO_CONFIG_S_FEATURES_OK))
			return errmsg_set(err, -EINVAL, "queue %u enabled before FEATURES_OK", q);
	}
	d->status = status;
	d->interrupt_status = isr;
	d->config_generation = gen;
	d->broken = broken;
	/* The backend of this process learns what the driver negotiated (a tap's offloads);
	 * then the device's own state goes on top of what activation set up. */
	if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !broken && d->ops->activate &&
	    (ret = d->ops->activate(d)))
		return errmsg_set(err, ret, "cannot activate the loaded device");
	if (d->ops->load && (ret = d->ops->load(d, fdt, node, err)))
		return ret;
	/* Buffers the driver made available before the snapshot: look at every queue once. */
	for (unsigned q = 0; q < d->nr_queues; q++)
		virtio_dev_kick(d, q);
	return 0;
}

static int transport_load(void *dev, const void *fdt, int node, struct errmsg *err)
{
	struct virtio_dev *d = dev;
	int ret;

	pthread_mutex_lock(&d->lock);
	ret = transport_load_locked(d, fdt, node, err);
	if (ret)
		virtio_transport_reset(d); /* nothing half-loaded stays */
	pthread_mutex_unlock(&d->lock);
	return ret;
}

static void transport_reset(void *dev)
{
	struct virtio_dev *d = dev;

	pthread_mutex_lock(&d->lock);
	virtio_transport_reset(d);
	pthread_mutex_unlock(&d->lock);
}

static void transport_destroy(void *dev)
{
	struct virtio_dev *d = dev;

	if (d->ops->destroy)
		d->ops->destroy(d->priv);
	virtio_mmio_destroy(d);
}

static int transport_describe(void *dev, void *fdt, int node)
{
	struct virtio_dev *d = dev;
	int ret = 0;

	ret = ret ? ret : state_put_blob(fdt, node, "device", d->ops->name, strlen(d->ops->name) + 1);
	ret = ret ? ret : state_put_u32(fdt, node, "queues", d->nr_queues);
	ret = ret ? ret : state_put_u64(fdt, node, "device-features", d->device_features);
	if (!ret && d->ops->describe)
		ret = d->ops->describe(d, fdt, node);
	return ret;
}

const struct dev_ops virtio_dev_list_ops = {
	.kind = "virtio",
	.pause = transport_pause,
	.resume = transport_resume,
	.save = transport_save,
	.load = transport_load,
	.reset = transport_reset,
	.destroy = transport_destroy,
	.describe = transport_describe,
};

#include <errno.h>
#include <linux/kvm.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "virtio/device.h"
#include "virtio/transport_state.h"
#include "vmm/machine.h"

#define VIRT_MAGIC 0x74726976 /* "virt" */
#define VIRT_VENDOR 0x554d4551 /* "QEMU": what Linux and test suites expect of virtio-mmio */
#define VIRT_VERSION 2
#define STATUS_MASK (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
		     VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK | \
		     VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)
#define MAX_REPORTS 8

/* The status transitions a driver may make (virtio 1.2, 3.1.1), one bit at a time; writing 0
 * resets and FAILED may be added at any point. Anything else is ignored. */
static const struct {
	uint32_t from, to;
} status_steps[] = {
	{ 0, VIRTIO_CONFIG_S_ACKNOWLEDGE },
	{ VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER },
	{ VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER,
	  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK },
	{ VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK,
	  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
		  VIRTIO_CONFIG_S_DRIVER_OK },
};

bool virtio_has_feature(const struct virtio_dev *d, unsigned bit)
{
	return d->driver_features & (1ULL << bit);
}

static void virtio_signal(struct virtio_dev *d, uint32_t why)
{
	uint64_t one = 1;

	d->interrupt_status |= why;
	if (d->irq_fd >= 0 && write(d->irq_fd, &one, sizeof(one)) < 0) {
		/* an eventfd write only fails on counter overflow */
	}
}

void virtio_dev_fail(struct virtio_dev *d, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d->reports++ < MAX_REPORTS)
		fprintf(stderr, "minivmm: %s@0x%llx: %s; device needs reset\n", d->ops->name,
			(unsigned long long)d->base, msg);
	d->broken = true;
	d->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (d->status & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_signal(d, VIRTIO_MMIO_INT_CONFIG);
}

int virtio_pop(struct virtio_dev *d, unsigned q, struct vq_chain *c, unsigned *taken)
{
	const char *why;
	int ret;

	if (taken && *taken >= VIRTIO_BATCH) {
		virtio_dev_kick(d, q);
		return -EAGAIN;
	}
	ret = vq_pop(&d->vqs[q], c, &why);
	if (ret < 0) {
		virtio_dev_fail(d, "queue %u: %s", q, why);
		return -EINVAL;
	}
	if (ret && taken)
		*taken += 1 + (unsigned)(((uint64_t)c->readable_len + c->writable_len) /
					 VIRTIO_BATCH_UNIT);
	return ret;
}

void virtio_dev_used(struct virtio_dev *d, unsigned q)
{
	if (q < d->nr_queues && vq_should_interrupt(&d->vqs[q]))
		virtio_signal(d, VIRTIO_MMIO_INT_VRING);
}

void virtio_dev_config_changed(struct virtio_dev *d)
{
	d->config_generation++;
	if (d->status & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_signal(d, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_dev_kick(struct virtio_dev *d, unsigned q)
{
	uint64_t one = 1;

	if (q < d->nr_queues && write(d->kicks[q].ev.fd, &one, sizeof(one)) < 0) {
		/* cannot overflow in practice */
	}
}

void virtio_transport_reset(struct virtio_dev *d)
{
	if (d->ops->reset)
		d->ops->reset(d);
	d->status = 0;
	d->driver_features = 0;
	d->device_features_sel = d->driver_features_sel = d->queue_sel = 0;
	d->interrupt_status = 0;
	d->broken = false;
	d->generation++;
	for (unsigned i = 0; i < d->nr_queues; i++) {
		vq_reset(&d->vqs[i]);
		d->vqs[i].num = VQ_MAX_SIZE;
		d->vqs[i].desc_gpa = d->vqs[i].avail_gpa = d->vqs[i].used_gpa = 0;
	}
}

/* FEATURES_OK is granted only for a subset of what we offer that includes VERSION_1. */
static bool virtio_features_ok(const struct virtio_dev *d)
{
	return !(d->driver_features & ~d->device_features) &&
	       (d->driver_features & (1ULL << VIRTIO_F_VERSION_1));
}

static void virtio_write_status(struct virtio_dev *d, uint32_t v)
{
	uint32_t cur = d->status & ~(uint32_t)VIRTIO_CONFIG_S_NEEDS_RESET;

	if (v == 0) {
		virtio_transport_reset(d);
		return;
	}
	if (v & ~STATUS_MASK)
		return;
	if ((v & VIRTIO_CONFIG_S_FAILED) && (v & ~VIRTIO_CONFIG_S_FAILED) == cur) {
		d->status |= VIRTIO_CONFIG_S_FAILED;
		return;
	}
	for (size_t i = 0; i < sizeof(status_steps) / sizeof(status_steps[0]); i++) {
		if (status_steps[i].from != cur || status_steps[i].to != v)
			continue;
		if ((v & VIRTIO_CONFIG_S_FEATURES_OK) && !(cur & VIRTIO_CONFIG_S_FEATURES_OK) &&
		    !virtio_features_ok(d))
			return; /* the driver reads back and sees FEATURES_OK missing */
		if ((v & VIRTIO_CONFIG_S_DRIVER_OK) && !(cur & VIRTIO_CONFIG_S_DRIVER_OK) &&
		    d->ops->activate && d->ops->activate(d)) {
			virtio_dev_fail(d, "activation failed");
			return;
		}
		d->status = v | (d->status & VIRTIO_CONFIG_S_NEEDS_RESET);
		return;
	}
}

/* Queue registers may change only after FEATURES_OK and before DRIVER_OK. */
static bool virtio_queue_config_allowed(struct virtio_dev *d, const char *reg)
{
	if ((d->status & VIRTIO_CONFIG_S_FEATURES_OK) && !(d->status & VIRTIO_CONFIG_S_DRIVER_OK))
		return true;
	if (d->status & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_dev_fail(d, "queue %u: %s written after DRIVER_OK", d->queue_sel, reg);
	return false;
}

static void virtio_queue_set_addr(struct virtio_dev *d, uint64_t *field, bool high, uint32_t v,
				  const char *reg)
{
	struct virtqueue *vq = &d->vqs[d->queue_sel];

	if (!virtio_queue_config_allowed(d, reg) || vq->enabled)
		return;
	*field = high ? (*field & 0xffffffffULL) | ((uint64_t)v << 32)
		      : (*field & ~0xffffffffULL) | v;
}

static void virtio_queue_ready(struct virtio_dev *d, uint32_t v)
{
	struct virtqueue *vq = &d->vqs[d->queue_sel];
	const char *why;

	if (!virtio_queue_config_allowed(d, "QueueReady"))
		return;
	if (!v) {
		vq_reset(vq);
		return;
	}
	vq->event_idx = virtio_has_feature(d, VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = virtio_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC);
	if (vq_enable(vq, d->m->mem, &why))
		virtio_dev_fail(d, "queue %u: %s", d->queue_sel, why);
}

static uint32_t virtio_read_reg(struct virtio_dev *d, uint64_t off)
{
	bool q_ok = d->queue_sel < d->nr_queues;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE: return VIRT_MAGIC;
	case VIRTIO_MMIO_VERSION: return VIRT_VERSION;
	case VIRTIO_MMIO_DEVICE_ID: return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return VIRT_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return d->device_features_sel < 2 ?
			       (uint32_t)(d->device_features >> (32 * d->device_features_sel)) : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX: return q_ok ? VQ_MAX_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY: return q_ok && d->vqs[d->queue_sel].enabled;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return d->interrupt_status;
	case VIRTIO_MMIO_STATUS: return d->status;
	case VIRTIO_MMIO_CONFIG_GENERATION: return d->config_generation;
	default: return 0;
	}
}

static void virtio_write_reg(struct virtio_dev *d, uint64_t off, uint32_t v)
{
	struct virtqueue *vq = d->queue_sel < d->nr_queues ? &d->vqs[d->queue_sel] : NULL;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		d->device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		d->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		/* Features are settable until FEATURES_OK, as the spec's sequence has it. */
		if (d->driver_features_sel < 2 && !(d->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
			unsigned sh = 32 * d->driver_features_sel;

			d->driver_features = (d->driver_features & ~(0xffffffffULL << sh)) |
					     ((uint64_t)v << sh);
		}
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		d->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (vq && virtio_queue_config_allowed(d, "QueueNum") && !vq->enabled)
			vq->num = (uint16_t)(v > 0xffff ? 0 : v);
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (vq)
			virtio_queue_ready(d, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (vq)
			virtio_queue_set_addr(d, &vq->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH,
					      v, "QueueDesc");
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (vq)
			virtio_queue_set_addr(d, &vq->avail_gpa, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH,
					      v, "QueueDriver");
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (vq)
			virtio_queue_set_addr(d, &vq->used_gpa, off == VIRTIO_MMIO_QUEUE_USED_HIGH,
					      v, "QueueDevice");
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Valid queues are kicked through ioeventfds and never get here with KVM; this
		 * path serves the rest (and hosts without ioeventfd). */
		if (v >= d->nr_queues)
			virtio_dev_fail(d, "notify of non-existent queue %u", v);
		else
			virtio_dev_kick(d, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		d->interrupt_status &= ~v;
		break;
	case VIRTIO_MMIO_STATUS:
		virtio_write_status(d, v);
		break;
	default:
		break;
	}
}

void virtio_mmio_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len,
		    bool is_write, void *opaque)
{
	struct virtio_dev *d = opaque;
	uint32_t v = 0;

	(void)vcpu;
	pthread_mutex_lock(&d->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		uint64_t coff = offset - VIRTIO_MMIO_CONFIG;

		if (coff + len <= d->config_size) {
			if (!is_write)
				d->ops->read_config(d, (uint32_t)coff, data, len);
			else if (d->ops->write_config)
				d->ops->write_config(d, (uint32_t)coff, data, len);
		}
	} else if (len == 4 && offset % 4 == 0) {
		/* Registers below the config space are 32-bit, aligned (4.2.2.2). */
		if (is_write) {
			memcpy(&v, data, 4);
			virtio_write_reg(d, offset, v);
		} else {
			v = virtio_read_reg(d, offset);
			memcpy(data, &v, 4);
		}
	}
	pthread_mutex_unlock(&d->lock);
}

static void virtio_on_kick(struct ev_handler *h, uint32_t events)
{
	struct virtio_queue_kick *k = h->opaque;
	struct virtio_dev *d = k->dev;
	uint64_t cnt;

	(void)events;
	if (read(h->fd, &cnt, sizeof(cnt)) < 0)
		return;
	pthread_mutex_lock(&d->lock);
	/* Paused: the kick is not lost, resume kicks every queue. */
	if (!d->broken && !d->paused && (d->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    d->vqs[k->index].enabled)
		d->ops->notify(d, k->index);
	pthread_mutex_unlock(&d->lock);
}

int virtio_mmio_create(struct machine *m, unsigned slot, const struct virtio_dev_ops *ops,
		       void *priv, unsigned nr_queues, uint64_t features, uint32_t config_size,
		       struct virtio_dev **out)
{
	struct virtio_dev *d;
	char name[DEV_NAME_MAX];
	int ret;

	if (slot >= VIRTIO_MMIO_MAX_DEVICES || nr_queues == 0 ||
	    nr_queues > VIRTIO_MAX_QUEUES || config_size > VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG)
		return -ENOSPC;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	d->ops = ops;
	d->priv = priv;
	d->m = m;
	d->index = slot;
	d->base = VIRTIO_MMIO_BASE + d->index * VIRTIO_MMIO_SIZE;
	d->irq = VIRTIO_MMIO_FIRST_IRQ + d->index;
	d->nr_queues = nr_queues;
	d->config_size = config_size;
	d->device_features = features | (1ULL << VIRTIO_F_VERSION_1);
	d->irq_fd = -1;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		d->kicks[i].ev.fd = -1;
	virtio_transport_reset(d);
	d->generation = 0;

	ret = bus_register(m->mmio, d->base, VIRTIO_MMIO_SIZE, virtio_mmio_io, d, ops->name);
	if (ret)
		goto fail;
	for (unsigned i = 0; i < nr_queues; i++) {
		struct virtio_queue_kick *k = &d->kicks[i];

		k->dev = d;
		k->index = i;
		k->ev = (struct ev_handler){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), virtio_on_kick, k };
		if (k->ev.fd < 0) {
			ret = -errno;
			goto fail;
		}
		if (m->vm_fd >= 0) {
			struct kvm_ioeventfd io = {
				.datamatch = i,
				.addr = d->base + VIRTIO_MMIO_QUEUE_NOTIFY,
				.len = 4,
				.fd = k->ev.fd,
				.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
			};

			if (ioctl(m->vm_fd, KVM_IOEVENTFD, &io) < 0) {
				ret = -errno;
				goto fail;
			}
		}
		if (m->loop->epfd >= 0 && (ret = evloop_add(m->loop, &k->ev, EPOLLIN)))
			goto fail;
	}
	d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->irq_fd < 0) {
		ret = -errno;
		goto fail;
	}
	if (m->vm_fd >= 0) {
		struct kvm_irqfd irqfd = { .fd = (uint32_t)d->irq_fd, .gsi = d->irq };

		if (ioctl(m->vm_fd, KVM_IRQFD, &irqfd) < 0) {
			ret = -errno;
			goto fail;
		}
	}
	snprintf(name, sizeof(name), "virtio@%llx", (unsigned long long)d->base);
	ret = dev_list_add(m->devices, &virtio_dev_list_ops, d, name);
	if (ret)
		goto fail;
	*out = d;
	return 0;
fail:
	virtio_mmio_destroy(d);
	return ret;
}

void virtio_mmio_destroy(struct virtio_dev *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (d->kicks[i].ev.fd >= 0)
			close(d->kicks[i].ev.fd); /* closing removes it from epoll and KVM */
	if (d->irq_fd >= 0)
		close(d->irq_fd);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

#include "virtio/console.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/device.h"
#include "vmm/machine.h"
#include "vmm/serial.h"
#include "vmm/stdin_input.h"

#define CONSOLE_RXQ 0
#define CONSOLE_TXQ 1

struct virtio_console {
	struct virtio_dev *vdev;
	struct stdin_input *input;   /* offered more room when receive buffers come */
	int out_fd;
	int owns_out;
	struct virtio_console_config config;
	struct vq_chain chain;
};

/* Transmit: each chain is written out before it is returned, so a slow reader on the host
 * side holds the guest back (its queue fills) instead of growing a buffer here. */
static void console_tx(struct virtio_console *c, struct virtqueue *vq)
{
	struct virtio_dev *d = c->vdev;
	unsigned taken = 0;
	int ret;

	do {
		vq_set_notify(vq, false);
		while ((ret = virtio_pop(d, CONSOLE_TXQ, &c->chain, &taken)) == 1) {
			for (unsigned i = 0; i < c->chain.nr_readable && c->out_fd >= 0; i++) {
				const uint8_t *p = c->chain.iov[i].iov_base;
				size_t left = c->chain.iov[i].iov_len;

				while (left) {
					ssize_t n = write(c->out_fd, p, left);

					if (n < 0 && errno == EINTR)
						continue;
					if (n <= 0)
						break; /* output gone (EPIPE): drop, like a cut cable */
					p += n;
					left -= (size_t)n;
				}
			}
			vq_push(vq, c->chain.head, 0);
		}
	} while (ret == 0 && vq_set_notify(vq, true));
	virtio_dev_used(d, CONSOLE_TXQ);
}

size_t virtio_console_push_input(void *console, const uint8_t *buf, size_t len)
{
	struct virtio_console *c = console;
	struct virtio_dev *d = c->vdev;
	struct virtqueue *vq = &d->vqs[CONSOLE_RXQ];
	size_t done = 0;
	unsigned taken = 0;

	pthread_mutex_lock(&d->lock);
	if (d->broken || d->paused || !(d->status & VIRTIO_CONFIG_S_DRIVER_OK) || !vq->enabled)
		goto out; /* not ready: input waits (the queue kick will ask again) */
	while (done < len && virtio_pop(d, CONSOLE_RXQ, &c->chain, &taken) == 1) {
		size_t n;

		/* A receive buffer must be device-writable; one that is not would take no input
		 * and come back, as often as the driver offers it again. */
		if (!c->chain.writable_len) {
			virtio_dev_fail(d, "queue %u: receive chain without a writable buffer",
					CONSOLE_RXQ);
			break;
		}
		n = vq_chain_write(&c->chain, 0, buf + done, len - done);
		vq_mark_written(vq, &c->chain, n);
		vq_push(vq, c->chain.head, (uint32_t)n);
		done += n;
	}
	if (done)
		virtio_dev_used(d, CONSOLE_RXQ);
out:
	pthread_mutex_unlock(&d->lock);
	return done;
}

static void console_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_console *c = d->priv;

	if (q == CONSOLE_TXQ)
		console_tx(c, &d->vqs[q]);
	else
		stdin_input_ready(c->input); /* new receive buffers: offer pending input */
}

static int console_activate(struct virtio_dev *d)
{
	struct virtio_console *c = d->priv;

	stdin_input_ready(c->input);
	return 0;
}

static void console_read_config(struct virtio_dev *d, uint32_t offset, void *data, uint32_t len)
{
	struct virtio_console *c = d->priv;

	memcpy(data, (uint8_t *)&c->config + offset, len);
}

static void console_destroy(void *priv)
{
	virtio_console_destroy(priv);
}

/* Nothing in flight (output is written before its chain is returned); input waits while
 * paused (push_input takes none), and resume's kicks offer it again. */
static const struct virtio_dev_ops console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.read_config = console_read_config,
	.activate = console_activate,
	.notify = console_notify,
	.destroy = console_destroy,
};

int virtio_console_create(struct machine *m, unsigned slot, struct stdin_input *input,
			  const struct chardev_config *cfg, struct virtio_console **out,
			  struct errmsg *err)
{
	struct virtio_console *c = calloc(1, sizeof(*c));
	uint64_t features = (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	int ret;

	if (!c)
		return errmsg_set(err, -ENOMEM, "--console: out of memory");
	c->input = input;
	c->out_fd = -1;
	ret = chardev_open_output("--console", cfg, &c->out_fd, &c->owns_out, err);
	if (ret)
		goto fail;
	c->config.max_nr_ports = 1;
	ret = virtio_mmio_create(m, slot, &console_ops, c, 2, features, sizeof(c->config),
				 &c->vdev);
	if (ret) {
		errmsg_set(err, ret, "--console: cannot create the device: %s", strerror(-ret));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	virtio_console_destroy(c);
	return ret;
}

void virtio_console_destroy(struct virtio_console *c)
{
	if (!c)
		return;
	if (c->owns_out && c->out_fd >= 0)
		close(c->out_fd);
	free(c);
}

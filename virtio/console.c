#include "virtio/console.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <string.h>
#include <unistd.h>

#include "virtio/device.h"
#include "vmm/machine.h"
#include "vmm/serial.h"
#include "vmm/state.h"
#include "vmm/stdin_input.h"

#define CONSOLE_RXQ 0
#define CONSOLE_TXQ 1

struct virtio_console {
	struct virtio_dev *vdev;
	struct stdin_input *input;   /* offered more room when receive buffers come */
	struct chardev_out out;      /* non-blocking (vmm/serial.c) */
	struct virtio_console_config config;
	struct vq_chain rx_chain;    /* input: filled and returned at once */
	struct vq_chain tx_chain;    /* output: may be held while the output is full */
	/* Backpressure: the transmit chain the output could not take whole stays popped (its
	 * bytes up to out_done written) and the queue waits, the I/O thread watching out_fd for
	 * room. The guest's ring fills and its writes wait: nothing is dropped, nothing buffered
	 * here, and the I/O thread goes on serving the other devices. */
	bool holding;
	size_t out_done;
	struct ev_handler out_ev;
	bool out_waiting;            /* out_ev is in the event loop */
	/* A pause gives the held chain back to the queue (a snapshot must not lose it); when the
	 * same chain comes again, what was written already is skipped. */
	uint16_t resume_head;
	size_t resume_done;
};

/* Bytes written per call of the transmit handler: an output that never blocks (a regular
 * file) would otherwise take a chain of up to 4 GiB in one go, the I/O thread with it. */
#define CONSOLE_TX_BUDGET (16 * VIRTIO_BATCH_UNIT)

/* Writes the held chain's readable bytes from out_done on, at most *@budget of them. 0: all
 * written (or the output is gone, EPIPE: dropped like a cut cable); -EAGAIN: the output
 * takes no more now; -EBUSY: the budget is spent. */
static int console_write_chain(struct virtio_console *c, size_t *budget)
{
	size_t skip = c->out_done;

	for (unsigned i = 0; i < c->tx_chain.nr_readable && c->out.fd >= 0; i++) {
		const uint8_t *p = c->tx_chain.iov[i].iov_base;
		size_t left = c->tx_chain.iov[i].iov_len;

		if (skip >= left) {
			skip -= left;
			continue;
		}
		p += skip;
		left -= skip;
		skip = 0;
		while (left) {
			ssize_t n;

			if (!*budget)
				return -EBUSY;
			n = write(c->out.fd, p, left < *budget ? left : *budget);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return -EAGAIN;
			if (n <= 0)
				return 0;
			p += n;
			left -= (size_t)n;
			c->out_done += (size_t)n;
			*budget -= (size_t)n;
		}
	}
	return 0;
}

/* I/O thread: the output has room again; the queue's kick handler takes the held chain up. */
static void console_output_ready(struct ev_handler *h, uint32_t events)
{
	struct virtio_console *c = h->opaque;
	struct virtio_dev *d = c->vdev;

	(void)events;
	pthread_mutex_lock(&d->lock);
	if (c->out_waiting) {
		evloop_del(d->m->loop, &c->out_ev);
		c->out_waiting = false;
		virtio_dev_kick(d, CONSOLE_TXQ);
	}
	pthread_mutex_unlock(&d->lock);
}

static void console_stop_waiting(struct virtio_console *c)
{
	if (c->out_waiting)
		evloop_del(c->vdev->m->loop, &c->out_ev);
	c->out_waiting = false;
}

/* Transmit: a chain is returned only once the output took all of it, so a slow or stalled
 * reader holds the guest back (its ring fills) instead of the I/O thread or a buffer here. */
static void console_tx(struct virtio_console *c, struct virtqueue *vq)
{
	struct virtio_dev *d = c->vdev;
	size_t budget = CONSOLE_TX_BUDGET;
	unsigned taken = 0;
	int ret, wr;

	do {
		vq_set_notify(vq, false);
		for (;;) {
			if (!c->holding) {
				if ((ret = virtio_pop(d, CONSOLE_TXQ, &c->tx_chain, &taken)) != 1)
					break;
				c->holding = true;
				c->out_done = c->tx_chain.head == c->resume_head ? c->resume_done : 0;
				c->resume_done = 0;
			}
			wr = console_write_chain(c, &budget);
			if (wr == -EBUSY) {
				virtio_dev_kick(d, CONSOLE_TXQ); /* the rest at the next call */
				goto out;
			}
			if (wr == -EAGAIN) {
				c->out_ev = (struct ev_handler){ c->out.fd, console_output_ready, c };
				if (c->out_waiting || !evloop_add(d->m->loop, &c->out_ev, EPOLLOUT)) {
					c->out_waiting = true;
					goto out; /* notifications stay off: the ring is ours to take */
				}
				/* cannot wait for this output: drop the rest of the chain */
			}
			vq_push(vq, c->tx_chain.head, 0);
			c->holding = false;
		}
	} while (ret == 0 && vq_set_notify(vq, true));
out:
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
	while (done < len && virtio_pop(d, CONSOLE_RXQ, &c->rx_chain, &taken) == 1) {
		size_t n;

		/* A receive buffer must be device-writable; one that is not would take no input
		 * and come back, as often as the driver offers it again. */
		if (!c->rx_chain.writable_len) {
			virtio_dev_fail(d, "queue %u: receive chain without a writable buffer",
					CONSOLE_RXQ);
			break;
		}
		n = vq_chain_write(&c->rx_chain, 0, buf + done, len - done);
		vq_mark_written(vq, &c->rx_chain, n);
		vq_push(vq, c->rx_chain.head, (uint32_t)n);
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

static void console_reset(struct virtio_dev *d)
{
	struct virtio_console *c = d->priv;

	console_stop_waiting(c);
	c->holding = false;
	c->resume_done = 0;
}

/* Runs without d->lock on the I/O thread: the held chain goes back to the queue, unfinished,
 * so that a snapshot or a migration keeps it; resume's kick pops it again. */
static int console_pause(struct virtio_dev *d)
{
	struct virtio_console *c = d->priv;
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	console_stop_waiting(c);
	if (c->holding) {
		ret = vq_unpop(&d->vqs[CONSOLE_TXQ], &c->tx_chain.head, 1);
		c->resume_head = c->tx_chain.head;
		c->resume_done = c->out_done;
		c->holding = false;
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

/* A chain the output had taken in part when the VM paused: after a restore the same chain
 * comes again and its first resume_done bytes are not written twice. */
static int console_save(struct virtio_dev *d, void *fdt, int node)
{
	struct virtio_console *c = d->priv;
	int ret = state_put_u32(fdt, node, "tx-resume-head", c->resume_head);

	return ret ? ret : state_put_u64(fdt, node, "tx-resume-done", c->resume_done);
}

/* Hostile values are harmless here: a head no chain has is never matched, and a count past a
 * chain's length skips that chain whole (console_write_chain). */
static int console_load(struct virtio_dev *d, const void *fdt, int node, struct errmsg *err)
{
	struct virtio_console *c = d->priv;
	uint64_t done;
	uint16_t head;
	int ret = state_get_u16(fdt, node, "tx-resume-head", &head, err);

	if (!ret)
		ret = state_get_u64(fdt, node, "tx-resume-done", &done, err);
	if (ret)
		return ret;
	c->resume_head = head;
	c->resume_done = (size_t)done;
	return 0;
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

/* Input waits while paused (push_input takes none), and resume's kicks offer it again. */
static const struct virtio_dev_ops console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.read_config = console_read_config,
	.activate = console_activate,
	.reset = console_reset,
	.pause = console_pause,
	.save = console_save,
	.load = console_load,
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
	c->out.fd = -1;
	ret = chardev_open_output("--console", cfg, &c->out, err);
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
	if (c->vdev)
		console_stop_waiting(c);
	chardev_close_output(&c->out);
	free(c);
}

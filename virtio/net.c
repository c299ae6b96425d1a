/* virtio-net over a tap device.
 *
 * Queues: receive 2i, transmit 2i+1 for pair i, the control queue last (with MQ). Frames carry
 * the 12-byte virtio_net_hdr_mrg_rxbuf in front (VERSION_1), and the tap is set to the same
 * vnet header size, so transmit chains go to the tap as they are (one writev) and the tap's
 * header is what the guest receives: checksum and TSO offloads pass through untouched.
 *
 * Receive backpressure: the tap descriptor is in the event loop only while the guest has
 * posted buffers. A frame read from the tap waits (one per queue pair, never more) until
 * buffers arrive; meanwhile the tap is left alone, so the kernel's queue holds (and, when
 * full, drops) further frames — no loop spins and nothing grows here. */
#include "virtio/net.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/tap.h"
#include "virtio/device.h"
#include "vmm/machine.h"
#include "vmm/state.h"

#define NET_HDR_LEN 12                     /* struct virtio_net_hdr_mrg_rxbuf */
#define NET_MAX_FRAME (65535 + 14 + 4)     /* a TSO frame: 64 KiB IP packet + Ethernet + VLAN */
#define NET_BUF (NET_HDR_LEN + NET_MAX_FRAME)
#define NET_RX_BATCH 256

struct net_pair {
	struct virtio_net *net;
	unsigned index;
	int fd;
	struct ev_handler ev;
	bool registered, armed;
	bool detached;                         /* the backend sends this pair nothing */
	/* The frame read from the tap and not yet delivered (flen 0: none). */
	uint8_t *frame;
	size_t flen, off;
	unsigned nheld;                        /* chains written so far (MRG_RXBUF) */
	uint16_t heads[VQ_MAX_SIZE];
	uint32_t lens[VQ_MAX_SIZE];
	uint8_t *nb_lo, *nb_hi;                /* num_buffers of the first chain */
	/* A receive chain popped ahead, that the next frame is read into directly. */
	bool have_chain;
	struct vq_chain pre;
	struct iovec riov[VQ_MAX_SIZE + 1];
};

struct virtio_net {
	struct virtio_dev *vdev;
	struct evloop *loop;
	const struct net_backend_ops *be;
	unsigned pairs, active_pairs;
	bool owns_fds;
	struct virtio_net_config config;
	struct net_pair pair[NET_MAX_PAIRS];
	/* Scratch chains, one per path: a control command (VQ_PAIRS_SET) runs the receive path
	 * while it still holds its own chain. */
	struct vq_chain rx_chain, tx_chain, ctrl_chain;
};

static ssize_t tap_read(int fd, const struct iovec *iov, int cnt)
{
	return readv(fd, iov, cnt);
}

static ssize_t tap_write(int fd, const struct iovec *iov, int cnt)
{
	return writev(fd, iov, cnt);
}

static const struct net_backend_ops tap_backend = {
	.read = tap_read,
	.write = tap_write,
	.set_offload = tap_set_offload,
	.set_queue = tap_set_queue,
};

void net_default_mac(const struct net_config *cfg, uint8_t mac[6])
{
	char key[64];
	uint32_t h = 2166136261u;

	snprintf(key, sizeof(key), "%s/%d/%u", cfg->tap ? cfg->tap : "", cfg->tap ? -1 : cfg->fd,
		 cfg->index);
	for (const char *p = key; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

int virtio_net_announce(struct virtio_net *n)
{
	uint8_t hdr[NET_HDR_LEN] = { 0 }, f[60] = { 0 };
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { f, sizeof(f) } };
	const uint8_t *mac = n->config.mac;

	memset(f, 0xff, 6);                        /* broadcast */
	memcpy(f + 6, mac, 6);
	f[12] = 0x80, f[13] = 0x35;                /* RARP */
	f[14] = 0, f[15] = 1;                      /* Ethernet */
	f[16] = 0x08, f[17] = 0x00;                /* IPv4 */
	f[18] = 6, f[19] = 4;
	f[20] = 0, f[21] = 3;                      /* reverse request */
	memcpy(f + 22, mac, 6);                    /* sender MAC, sender IP 0 */
	memcpy(f + 32, mac, 6);                    /* target MAC, target IP 0 */
	for (int i = 0; i < 3; i++)
		if (n->be->write(n->pair[0].fd, iov, 2) < 0)
			return -errno;
	return 0;
}

static void pair_arm(struct net_pair *p, bool on)
{
	if (p->armed == on || !p->registered)
		return;
	p->armed = on;
	evloop_mod(p->net->loop, &p->ev, on ? EPOLLIN : 0);
}

/* tun spreads the frames it knows no flow for over every queue attached to it: the queue of a
 * pair the driver does not use (no MQ, or fewer pairs than the NIC has, as Linux picks with
 * fewer vCPUs) would take its share and never be read, and a peer whose flows hash there could
 * not reach the guest. Such queues are detached (as QEMU does), attached again when the driver
 * asks for their pairs. */
static int set_active_pairs(struct virtio_net *n, unsigned active)
{
	int ret = 0;

	for (unsigned i = 1; i < n->pairs && n->be->set_queue; i++) {
		struct net_pair *p = &n->pair[i];
		bool on = i < active;
		int r;

		if (p->detached == !on)
			continue;
		if ((r = n->be->set_queue(p->fd, on)))
			ret = ret ? ret : r;
		else
			p->detached = !on;
	}
	if (!ret)
		n->active_pairs = active;
	return ret;
}

static bool rx_ready(struct virtio_net *n, struct net_pair *p)
{
	struct virtio_dev *d = n->vdev;

	return !d->broken && !d->paused && (d->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       d->vqs[2 * p->index].enabled && p->index < n->active_pairs;
}

static bool rx_chain_ok(struct virtio_net *n, struct net_pair *p, const struct vq_chain *c)
{
	if (c->nr_readable || c->writable_len < (p->nheld ? 1 : NET_HDR_LEN)) {
		virtio_dev_fail(n->vdev, "queue %u: receive chain without room for the %d-byte header",
				2 * p->index, NET_HDR_LEN);
		return false;
	}
	return true;
}

/* Pops the next receive chain and checks it. 1: @c filled; 0: none posted; -1: the driver broke
 * a rule (device failed). */
static int rx_pop(struct virtio_net *n, struct net_pair *p, struct vq_chain *c)
{
	/* Not counted against a batch: net_rx() bounds its own rounds, and a frame holds at
	 * most the queue's size of chains. */
	int ret = virtio_pop(n->vdev, 2 * p->index, c, NULL);

	if (ret < 0)
		return -1;
	return ret == 0 ? 0 : rx_chain_ok(n, p, c) ? 1 : -1;
}

/* No buffers (@ret 0) or a failed device (@ret < 0): leave the tap alone. True when buffers
 * arrived meanwhile, so the caller goes on. */
static bool rx_stalled_retry(struct net_pair *p, struct virtqueue *vq, int ret)
{
	pair_arm(p, false);
	return ret == 0 && vq_set_notify(vq, true);
}

/* Remembers where the first chain's num_buffers (bytes 10-11, maybe split) is. */
static void rx_locate_num_buffers(struct net_pair *p, const struct vq_chain *c)
{
	size_t skip = 10;
	unsigned i = 0;

	while (skip >= c->iov[i].iov_len)
		skip -= c->iov[i++].iov_len;
	p->nb_lo = (uint8_t *)c->iov[i].iov_base + skip;
	if (++skip >= c->iov[i].iov_len) {
		i++;
		skip = 0;
	}
	p->nb_hi = (uint8_t *)c->iov[i].iov_base + skip;
}

/* Moves the rest of a frame that overflowed its first chain (in the bounce buffer) into more
 * receive chains (MRG_RXBUF). 1: delivered; 0: needs more buffers; -1: the driver broke a rule
 * (device failed). */
static int rx_deliver(struct virtio_net *n, struct net_pair *p)
{
	struct virtio_dev *d = n->vdev;
	struct virtqueue *vq = &d->vqs[2 * p->index];
	struct vq_chain *c = &n->rx_chain;
	int ret;

	while (p->off < p->flen) {
		size_t w;

		/* Checked before holding one more chain, not after: heads[] and lens[] have room for
		 * VQ_MAX_SIZE, and a frame that needs more chains than the queue has entries cannot
		 * be delivered whatever the driver posts next (with a queue of one entry, the first
		 * chain alone fills it). */
		if (p->nheld >= vq->num) {
			virtio_dev_fail(d, "queue %u: a %zu-byte frame is larger than all posted receive buffers",
					2 * p->index, p->nheld ? p->flen + p->lens[0] : p->flen);
			return -1;
		}
		ret = rx_pop(n, p, c);
		if (ret <= 0)
			return ret;
		w = vq_chain_write(c, 0, p->frame + p->off, p->flen - p->off);
		vq_mark_written(vq, c, w);
		p->heads[p->nheld] = c->head;
		p->lens[p->nheld] = (uint32_t)w;
		p->nheld++;
		p->off += w;
	}
	*p->nb_lo = (uint8_t)p->nheld;
	*p->nb_hi = (uint8_t)(p->nheld >> 8);
	gm_mark_dirty_hva(vq->mem, p->nb_lo, 1);
	gm_mark_dirty_hva(vq->mem, p->nb_hi, 1);
	for (unsigned i = 0; i < p->nheld; i++)
		vq_push(vq, p->heads[i], p->lens[i]);
	p->flen = p->off = 0;
	p->nheld = 0;
	return 1;
}

static void net_rx(struct virtio_net *n, struct net_pair *p)
{
	struct virtio_dev *d = n->vdev;
	struct virtqueue *vq = &d->vqs[2 * p->index];
	unsigned frames = 0, rounds = 0;

	if (!rx_ready(n, p)) {
		pair_arm(p, false);
		return;
	}
	/* Rounds too, not only frames: runts, dropped frames and EINTR deliver none. When the
	 * batch ends with frames left, the tap is still armed and epoll brings us back. */
	while (frames < NET_RX_BATCH && rounds++ < 2 * NET_RX_BATCH) {
		int ret;

		if (!p->flen) {
			struct vq_chain *c = &p->pre;
			ssize_t len;
			unsigned cnt;

			/* Read straight into the next receive chain; only what overflows it lands in
			 * the bounce buffer (then more chains follow with MRG_RXBUF). */
			if (!p->have_chain) {
				ret = rx_pop(n, p, c);
				if (ret <= 0) {
					if (rx_stalled_retry(p, vq, ret))
						continue;
					break;
				}
				p->have_chain = true;
			}
			cnt = c->nr_writable;
			memcpy(p->riov, c->iov, cnt * sizeof(c->iov[0]));
			p->riov[cnt] = (struct iovec){ p->frame, NET_BUF };
			len = n->be->read(p->fd, p->riov, (int)cnt + 1);
			if (len < 0 && errno == EINTR)
				continue;
			if (len < 0) {
				/* EAGAIN: drained; wait for the tap. Other errors: the same. */
				pair_arm(p, true);
				break;
			}
			if (len <= NET_HDR_LEN)
				continue; /* runt from the tap: the chain stays for the next frame */
			/* tun returns a frame's whole length even when it cut the copy to our buffers
			 * (possible with some host MTU or XDP setups): the rest was never read, and
			 * len must not lead us past the bounce buffer. Dropped, as on a wire; the
			 * chain stays for the next frame. */
			if ((size_t)len > c->writable_len + NET_BUF)
				continue;
			/* Without MRG_RXBUF a frame must fit one buffer. One that does not comes from
			 * the network, not from the driver, so it costs the frame, not the device (any
			 * peer able to send a large frame would otherwise disable the guest's NIC). */
			if ((size_t)len > c->writable_len &&
			    !virtio_has_feature(d, VIRTIO_NET_F_MRG_RXBUF))
				continue;
			p->have_chain = false;
			/* The tap wrote the frame straight into the chain: mark it for a migration. */
			vq_mark_written(vq, c, (size_t)len);
			rx_locate_num_buffers(p, c);
			if ((size_t)len <= c->writable_len) {
				*p->nb_lo = 1;
				*p->nb_hi = 0;
				/* Marked after the write: a mark before it could be collected first. */
				gm_mark_dirty_hva(vq->mem, p->nb_lo, 1);
				gm_mark_dirty_hva(vq->mem, p->nb_hi, 1);
				vq_push(vq, c->head, (uint32_t)len);
				frames++;
				continue;
			}
			/* The rest is in the bounce buffer: more chains take it. */
			p->heads[0] = c->head;
			p->lens[0] = c->writable_len;
			p->nheld = 1;
			p->flen = (size_t)len - c->writable_len;
			p->off = 0;
		}
		ret = rx_deliver(n, p);
		if (ret <= 0) {
			/* Out of buffers: stop reading the tap until the driver posts more. */
			if (rx_stalled_retry(p, vq, ret))
				continue;
			break;
		}
		frames++;
	}
	if (frames)
		virtio_dev_used(d, 2 * p->index);
}

static void net_tx(struct virtio_net *n, struct net_pair *p)
{
	struct virtio_dev *d = n->vdev;
	unsigned q = 2 * p->index + 1;
	struct virtqueue *vq = &d->vqs[q];
	struct vq_chain *c = &n->tx_chain;
	unsigned taken = 0;
	int ret;

	do {
		unsigned count = 0;

		vq_set_notify(vq, false);
		while ((ret = virtio_pop(d, q, c, &taken)) == 1) {
			if (c->readable_len < NET_HDR_LEN) {
				virtio_dev_fail(d, "queue %u: a %u-byte transmit chain is shorter than the %d-byte vnet header",
						q, c->readable_len, NET_HDR_LEN);
				ret = -EINVAL;
				break;
			}
			if (c->readable_len > NET_BUF) {
				virtio_dev_fail(d, "queue %u: a %u-byte transmit frame is larger than 64 KiB",
						q, c->readable_len);
				ret = -EINVAL;
				break;
			}
			/* A frame the tap refuses (bad GSO header, down link) is dropped, as on a wire. */
			while (n->be->write(p->fd, c->iov, c->nr_readable) < 0 && errno == EINTR)
				;
			vq_push(vq, c->head, 0);
			count++;
		}
		if (count)
			virtio_dev_used(d, q);
	} while (ret == 0 && vq_set_notify(vq, true));
}

static void net_ctrl(struct virtio_net *n)
{
	struct virtio_dev *d = n->vdev;
	unsigned q = 2 * n->pairs;
	struct virtqueue *vq = &d->vqs[q];
	struct vq_chain *c = &n->ctrl_chain;
	bool pushed = false;
	unsigned taken = 0;

	while (virtio_pop(d, q, c, &taken) == 1) {
		uint8_t hdr[2], status = VIRTIO_NET_ERR;
		uint16_t pairs;

		if (c->readable_len < 2 || c->writable_len < 1) {
			virtio_dev_fail(d, "queue %u: control command without header or ack byte", q);
			break;
		}
		vq_chain_read(c, 0, hdr, 2);
		if (hdr[0] == VIRTIO_NET_CTRL_MQ && hdr[1] == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET &&
		    vq_chain_read(c, 2, &pairs, 2) == 2 && le16toh(pairs) >= 1 &&
		    le16toh(pairs) <= n->pairs) {
			/* A queue the backend will not attach: refused, the pairs as they were. */
			if (!set_active_pairs(n, le16toh(pairs)))
				status = VIRTIO_NET_OK;
			for (unsigned i = 0; i < n->pairs; i++) {
				if (i >= n->active_pairs)
					pair_arm(&n->pair[i], false);
				else
					net_rx(n, &n->pair[i]);
			}
		}
		vq_chain_write(c, 0, &status, 1);
		vq_mark_written(vq, c, 1);
		vq_push(vq, c->head, 1);
		pushed = true;
	}
	if (pushed)
		virtio_dev_used(d, q);
}

static void net_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_net *n = d->priv;

	if (n->pairs > 1 && q == 2 * n->pairs)
		net_ctrl(n);
	else if (q / 2 < n->pairs && (q & 1))
		net_tx(n, &n->pair[q / 2]);
	else if (q / 2 < n->pairs)
		net_rx(n, &n->pair[q / 2]); /* new receive buffers */
}

static void net_on_tap(struct ev_handler *h, uint32_t events)
{
	struct net_pair *p = h->opaque;
	struct virtio_dev *d = p->net->vdev;

	(void)events;
	pthread_mutex_lock(&d->lock);
	net_rx(p->net, p);
	pthread_mutex_unlock(&d->lock);
}

static unsigned tun_offloads(const struct virtio_dev *d)
{
	unsigned f = 0;

	if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_CSUM)) {
		f |= TUN_F_CSUM;
		if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_TSO4))
			f |= TUN_F_TSO4;
		if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_TSO6))
			f |= TUN_F_TSO6;
	}
	return f;
}

static int net_activate(struct virtio_dev *d)
{
	struct virtio_net *n = d->priv;

	for (unsigned i = 0; i < n->pairs; i++) {
		int ret = n->be->set_offload(n->pair[i].fd, tun_offloads(d));

		if (ret)
			return ret;
	}
	/* Pair 0 only until the driver asks for more (a detach that fails leaves that queue's
	 * share of the frames unread: not a reason to refuse the device). */
	(void)set_active_pairs(n, 1);
	n->active_pairs = 1;
	pair_arm(&n->pair[0], true);
	return 0;
}

static void net_reset(struct virtio_dev *d)
{
	struct virtio_net *n = d->priv;

	for (unsigned i = 0; i < n->pairs; i++) {
		struct net_pair *p = &n->pair[i];

		pair_arm(p, false);
		p->flen = p->off = 0;
		p->nheld = 0;
		p->have_chain = false;
		(void)n->be->set_offload(p->fd, 0);
	}
	(void)set_active_pairs(n, 1);
	n->active_pairs = 1;
}

static void net_read_config(struct virtio_dev *d, uint32_t offset, void *data, uint32_t len)
{
	struct virtio_net *n = d->priv;

	memcpy(data, (uint8_t *)&n->config + offset, len);
}

/* Stops reading the tap and gives back the receive chains a frame was being read into (that
 * frame is dropped, as a wire may drop one): a snapshot holds no half-delivered frame and no
 * chain the device kept. Transmit completes each batch before returning, so it holds none. */
static int net_pause(struct virtio_dev *d)
{
	struct virtio_net *n = d->priv;
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < n->pairs && !ret; i++) {
		struct net_pair *p = &n->pair[i];
		struct virtqueue *vq = &d->vqs[2 * i];

		pair_arm(p, false);
		if (p->have_chain)
			ret = vq_unpop(vq, &p->pre.head, 1);
		else if (p->flen)
			ret = vq_unpop(vq, p->heads, p->nheld);
		p->have_chain = false;
		p->flen = p->off = 0;
		p->nheld = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

/* What the guest chose (queue pairs in use) and what it saw (the MAC). */
static int net_save(struct virtio_dev *d, void *fdt, int node)
{
	struct virtio_net *n = d->priv;
	int ret = state_put_blob(fdt, node, "mac", n->config.mac, 6);

	return ret ? ret : state_put_u32(fdt, node, "active-pairs", n->active_pairs);
}

static int net_load(struct virtio_dev *d, const void *fdt, int node, struct errmsg *err)
{
	struct virtio_net *n = d->priv;
	uint8_t mac[6];
	uint32_t active;
	int ret = state_get_blob(fdt, node, "mac", mac, 6, err);

	ret = ret ? ret : state_get_u32(fdt, node, "active-pairs", &active, err);
	if (ret)
		return ret;
	if (memcmp(mac, n->config.mac, 6))
		return errmsg_set(err, -EINVAL,
				  "saved with MAC %02x:%02x:%02x:%02x:%02x:%02x, this NIC has another (give mac=)",
				  mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	if (active < 1 || active > n->pairs)
		return errmsg_set(err, -EINVAL, "%u queue pairs in use, this NIC has %u", active,
				  n->pairs);
	if ((ret = set_active_pairs(n, active)))
		return errmsg_set(err, ret, "cannot attach the tap's queues of %u pairs: %s", active,
				  strerror(-ret));
	return 0;
}

static int net_describe(struct virtio_dev *d, void *fdt, int node)
{
	struct virtio_net *n = d->priv;
	int ret = state_put_blob(fdt, node, "mac", n->config.mac, 6);

	return ret ? ret : state_put_u32(fdt, node, "pairs", n->pairs);
}

static void net_destroy(void *priv)
{
	virtio_net_destroy(priv);
}

static const struct virtio_dev_ops net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.read_config = net_read_config,
	.activate = net_activate,
	.reset = net_reset,
	.notify = net_notify,
	.pause = net_pause,
	.save = net_save,
	.load = net_load,
	.destroy = net_destroy,
	.describe = net_describe,
};

int virtio_net_create(struct machine *m, unsigned slot, const struct net_config *cfg,
		      struct virtio_net **out, struct errmsg *err)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	uint64_t features = (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
			    (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
			    (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |
			    (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
			    (1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			    (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	int fds[NET_MAX_PAIRS];
	const char *what = cfg->tap ? cfg->tap : "fd";
	int ret;

	if (!n)
		return errmsg_set(err, -ENOMEM, "--net: out of memory");
	n->loop = m->loop;
	n->be = cfg->backend ? cfg->backend : &tap_backend;
	n->pairs = cfg->pairs ? cfg->pairs : 1;
	n->active_pairs = 1;
	for (unsigned i = 0; i < NET_MAX_PAIRS; i++)
		n->pair[i].fd = -1;
	if (n->pairs > NET_MAX_PAIRS) {
		ret = errmsg_set(err, -EINVAL, "--net: at most %d queue pairs", NET_MAX_PAIRS);
		goto fail;
	}
	if (cfg->backend) {
		memcpy(fds, cfg->backend_fds, n->pairs * sizeof(fds[0]));
		n->owns_fds = true;
	} else if (cfg->tap) {
		ret = tap_open(cfg->tap, n->pairs, fds, err);
		if (ret)
			goto fail;
		n->owns_fds = true;
	} else {
		if (n->pairs != 1) {
			ret = errmsg_set(err, -EINVAL, "--net fd=%d: one queue pair only with fd=", cfg->fd);
			goto fail;
		}
		ret = tap_adopt_fd(cfg->fd, err);
		if (ret)
			goto fail;
		fds[0] = cfg->fd;
		n->owns_fds = true; /* handed to us: closed with the device */
	}
	for (unsigned i = 0; i < n->pairs; i++)
		n->pair[i].fd = fds[i];
	for (unsigned i = 0; i < n->pairs; i++) {
		struct net_pair *p = &n->pair[i];

		p->net = n;
		p->index = i;
		p->frame = malloc(NET_BUF);
		if (!p->frame) {
			ret = errmsg_set(err, -ENOMEM, "--net: out of memory");
			goto fail;
		}
		if ((!cfg->backend && (ret = tap_set_vnet_hdr_len(p->fd, NET_HDR_LEN))) ||
		    (ret = n->be->set_offload(p->fd, 0))) {
			errmsg_set(err, ret, "--net %s: setting the vnet header: %s", what, strerror(-ret));
			goto fail;
		}
		p->ev = (struct ev_handler){ p->fd, net_on_tap, p };
		if (m->loop->epfd >= 0) {
			if ((ret = evloop_add(m->loop, &p->ev, 0))) {
				errmsg_set(err, ret, "--net %s: %s", what, strerror(-ret));
				goto fail;
			}
			p->registered = true;
		}
	}
	/* Until a driver asks for more pairs, frames go to pair 0 only. */
	if ((ret = set_active_pairs(n, 1))) {
		errmsg_set(err, ret, "--net %s: detaching the tap's other queues: %s", what,
			   strerror(-ret));
		goto fail;
	}
	if (cfg->has_mac)
		memcpy(n->config.mac, cfg->mac, 6);
	else
		net_default_mac(cfg, n->config.mac);
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->config.max_virtqueue_pairs = htole16((uint16_t)n->pairs);
	if (n->pairs > 1)
		features |= (1ULL << VIRTIO_NET_F_MQ) | (1ULL << VIRTIO_NET_F_CTRL_VQ);
	ret = virtio_mmio_create(m, slot, &net_ops, n, 2 * n->pairs + (n->pairs > 1), features, 12,
				 &n->vdev);
	if (ret) {
		errmsg_set(err, ret, "--net %s: cannot create the device: %s", what, strerror(-ret));
		goto fail;
	}
	*out = n;
	return 0;
fail:
	virtio_net_destroy(n);
	return ret;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	for (unsigned i = 0; i < NET_MAX_PAIRS; i++) {
		struct net_pair *p = &n->pair[i];

		if (p->registered)
			evloop_del(n->loop, &p->ev);
		if (p->fd >= 0 && n->owns_fds)
			close(p->fd);
		free(p->frame);
	}
	free(n);
}

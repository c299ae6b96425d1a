#include "virtio/blk.h"

#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/disk_worker.h"
#include "block/iov.h"
#include "virtio/device.h"
#include "vmm/machine.h"
#include "vmm/state.h"

#define SECTOR 512ULL
#define BLK_HDR_LEN 16
#define BLK_SEG_MAX (VQ_MAX_SIZE - 2)      /* header and status take one descriptor each */
#define BLK_SIZE_MAX (1U << 20)
#define BLK_MAX_RANGE (32U << 20 >> 9) /* sectors: 32 MiB, one discard or write-zeroes */
#define BLK_ID_LEN VIRTIO_BLK_ID_BYTES

struct blk_req {
	struct disk_req dreq;
	struct virtio_blk *blk;
	unsigned q;
	uint16_t head;
	uint32_t gen;
	uint8_t *status;                       /* last writable byte of the chain */
	uint32_t written;                      /* bytes the device wrote into the chain */
	int iovcnt;
	struct iovec iov[VQ_MAX_SIZE];
};

struct virtio_blk {
	struct virtio_dev *vdev;
	struct disk *disk;
	char serial[BLK_ID_LEN];
	struct virtio_blk_config config;
	unsigned nr_queues;
	unsigned inflight;
	bool draining;                         /* reset with requests in flight */
	uint32_t completed_mask;               /* queues with completions not yet signalled */
	struct blk_req *reqs;                  /* [queue][head] */
	struct vq_chain chain;                 /* scratch for vq_pop */
};

static uint8_t *last_writable_byte(const struct vq_chain *c)
{
	const struct iovec *v = &c->iov[c->nr_readable + c->nr_writable - 1];

	return (uint8_t *)v->iov_base + v->iov_len - 1;
}

/* Returns a request to the driver; the interrupt is sent once per completion batch. */
static void blk_finish(struct blk_req *r, uint8_t status)
{
	struct virtio_dev *d = r->blk->vdev;

	*r->status = status;
	/* For a migration: read data (written by the engine, maybe io_uring) and the status. */
	if (r->dreq.op == BLK_OP_READ && status == VIRTIO_BLK_S_OK)
		for (int i = 0; i < r->iovcnt; i++)
			gm_mark_dirty_hva(d->vqs[r->q].mem, r->iov[i].iov_base, r->iov[i].iov_len);
	gm_mark_dirty_hva(d->vqs[r->q].mem, r->status, 1);
	vq_push(&d->vqs[r->q], r->head, r->written + 1);
	r->blk->completed_mask |= 1U << r->q;
}

/* Interrupts the driver for every queue that had completions since the last call. */
static void blk_signal_locked(struct virtio_blk *b)
{
	for (unsigned q = 0; q < b->nr_queues; q++)
		if (b->completed_mask & (1U << q))
			virtio_dev_used(b->vdev, q);
	b->completed_mask = 0;
}

static void blk_batch_done(void *opaque)
{
	struct virtio_blk *b = opaque;

	pthread_mutex_lock(&b->vdev->lock);
	blk_signal_locked(b);
	pthread_mutex_unlock(&b->vdev->lock);
}

static void blk_done(struct disk_req *dr, int err)
{
	struct blk_req *r = dr->opaque;
	struct virtio_blk *b = r->blk;
	struct virtio_dev *d = b->vdev;

	pthread_mutex_lock(&d->lock);
	b->inflight--;
	if (r->gen == d->generation && !d->broken) {
		if (err)
			r->written = 0;
		blk_finish(r, err ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
	}
	if (b->draining && !b->inflight) {
		b->draining = false;
		for (unsigned q = 0; q < b->nr_queues; q++)
			virtio_dev_kick(d, q);
	}
	pthread_mutex_unlock(&d->lock);
}

/* Discard and write-zeroes carry one range (we advertise max_*_seg = 1). */
static int blk_range(struct virtio_blk *b, const struct vq_chain *c, uint32_t type,
		     struct blk_req *r)
{
	struct virtio_blk_discard_write_zeroes seg;
	uint64_t sectors = b->disk->size / SECTOR;

	if (c->readable_len - BLK_HDR_LEN != sizeof(seg))
		return VIRTIO_BLK_S_UNSUPP;
	vq_chain_read(c, BLK_HDR_LEN, &seg, sizeof(seg));
	if (type == VIRTIO_BLK_T_DISCARD && (seg.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
		return VIRTIO_BLK_S_UNSUPP;
	if (seg.flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		return VIRTIO_BLK_S_UNSUPP;
	if (seg.sector > sectors || seg.num_sectors > sectors - seg.sector)
		return VIRTIO_BLK_S_IOERR;
	/* Over the limit we announce: the driver broke the rule, the range is not touched. */
	if (seg.num_sectors > BLK_MAX_RANGE)
		return VIRTIO_BLK_S_IOERR;
	/* Discard is a hint the storage may not act on (9p cannot punch holes); write-zeroes,
	 * with UNMAP or not, must read back as zeros whatever the storage offers. */
	if (type == VIRTIO_BLK_T_DISCARD)
		r->dreq.op = BLK_OP_DISCARD;
	else if (seg.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		r->dreq.op = BLK_OP_WRITE_ZEROES_UNMAP;
	else
		r->dreq.op = BLK_OP_WRITE_ZEROES;
	r->dreq.offset = seg.sector * SECTOR;
	r->dreq.len = (uint64_t)seg.num_sectors * SECTOR;
	return -1;
}

/* Parses one chain into a disk request. Returns -1 when the request was submitted, else the
 * status to complete it with now. */
static int blk_start(struct virtio_blk *b, const struct vq_chain *c,
		     struct blk_req *r)
{
	struct virtio_blk_outhdr hdr;
	uint64_t sectors = b->disk->size / SECTOR;
	size_t data_len;
	int ret, st;

	vq_chain_read(c, 0, &hdr, sizeof(hdr));
	r->dreq = (struct disk_req){ .done = blk_done, .opaque = r };
	r->written = 0;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (hdr.type == VIRTIO_BLK_T_IN) {
			data_len = c->writable_len - 1;
			r->iovcnt = iov_slice(&c->iov[c->nr_readable], c->nr_writable, 0, data_len,
					      r->iov, VQ_MAX_SIZE);
			r->dreq.op = BLK_OP_READ;
			r->written = (uint32_t)data_len;
		} else {
			data_len = c->readable_len - BLK_HDR_LEN;
			r->iovcnt = iov_slice(c->iov, c->nr_readable, BLK_HDR_LEN, data_len, r->iov,
					      VQ_MAX_SIZE);
			r->dreq.op = BLK_OP_WRITE;
		}
		if (data_len % SECTOR || hdr.sector > sectors ||
		    data_len / SECTOR > sectors - hdr.sector) {
			r->written = 0;
			return VIRTIO_BLK_S_IOERR;
		}
		r->dreq.iov = r->iov;
		r->dreq.iovcnt = r->iovcnt;
		r->dreq.offset = hdr.sector * SECTOR;
		break;
	case VIRTIO_BLK_T_FLUSH:
		r->dreq.op = BLK_OP_FLUSH;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = c->writable_len - 1 < BLK_ID_LEN ? c->writable_len - 1 : BLK_ID_LEN;

		r->written = (uint32_t)vq_chain_write(c, 0, b->serial, n);
		vq_mark_written(&b->vdev->vqs[r->q], c, r->written);
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		st = blk_range(b, c, hdr.type, r);
		if (st >= 0)
			return st;
		break;
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
	ret = disk_submit(b->disk, &r->dreq);
	if (ret) {
		r->written = 0;
		return VIRTIO_BLK_S_IOERR; /* -EROFS, -ERANGE or an engine failure */
	}
	b->inflight++;
	return -1;
}

static void blk_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_blk *b = d->priv;
	struct virtqueue *vq = &d->vqs[q];
	unsigned taken = 0;
	int ret;

	if (b->draining)
		return;
	do {
		vq_set_notify(vq, false);
		while ((ret = virtio_pop(d, q, &b->chain, &taken)) == 1) {
			struct vq_chain *c = &b->chain;
			struct blk_req *r = &b->reqs[q * VQ_MAX_SIZE + c->head];
			int st;

			if (c->readable_len < BLK_HDR_LEN || c->writable_len < 1) {
				virtio_dev_fail(d, "queue %u: request without header or status byte",
						q);
				goto out;
			}
			r->blk = b;
			r->q = q;
			r->head = c->head;
			r->gen = d->generation;
			r->status = last_writable_byte(c);
			st = blk_start(b, c, r);
			if (st >= 0)
				blk_finish(r, (uint8_t)st); /* answered without I/O */
		}
	} while (ret == 0 && vq_set_notify(vq, true));
out:
	/* Also after a broken chain: requests submitted before it in this batch are in flight
	 * and must be started (and later completed), or a reset would wait for them forever. */
	disk_kick(b->disk);
	blk_signal_locked(b);
}

static void blk_read_config(struct virtio_dev *d, uint32_t offset, void *data, uint32_t len)
{
	struct virtio_blk *b = d->priv;

	memcpy(data, (uint8_t *)&b->config + offset, len);
}

static void blk_reset(struct virtio_dev *d)
{
	struct virtio_blk *b = d->priv;

	/* Requests still in flight complete into the old generation and are dropped; new ones
	 * wait until they are gone, since they would reuse the same slots. Completions already
	 * returned but not yet signalled belong to the old rings: a vCPU's reset can come between
	 * a request's completion and the batch's interrupt (separate locked sections). */
	b->draining = b->inflight > 0;
	b->completed_mask = 0;
}

/* Every request in flight completes and the image is made stable: a snapshot then holds no
 * half-done request, and the image on disk is whole for a restore elsewhere. */
static int blk_pause(struct virtio_dev *d)
{
	struct virtio_blk *b = d->priv;

	return disk_quiesce(b->disk);
}

/* The guest saw this capacity: a restore onto a disk of another size is refused. */
static int blk_save(struct virtio_dev *d, void *fdt, int node)
{
	struct virtio_blk *b = d->priv;

	return state_put_u64(fdt, node, "capacity", b->config.capacity);
}

static int blk_load(struct virtio_dev *d, const void *fdt, int node, struct errmsg *err)
{
	struct virtio_blk *b = d->priv;
	uint64_t cap;
	int ret = state_get_u64(fdt, node, "capacity", &cap, err);

	if (ret)
		return ret;
	if (cap != b->config.capacity)
		return errmsg_set(err, -EINVAL, "disk of %llu sectors saved, %s has %llu",
				  (unsigned long long)cap, b->disk->path,
				  (unsigned long long)b->config.capacity);
	return 0;
}

static int blk_describe(struct virtio_dev *d, void *fdt, int node)
{
	struct virtio_blk *b = d->priv;
	const char *fmt = b->disk->fmt->name;
	int ret = state_put_blob(fdt, node, "format", fmt, strlen(fmt) + 1);

	ret = ret ? ret : state_put_u64(fdt, node, "size", b->disk->size);
	return ret ? ret : state_put_u32(fdt, node, "readonly", b->disk->readonly);
}

static void blk_destroy(void *priv)
{
	virtio_blk_destroy(priv);
}

static const struct virtio_dev_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.read_config = blk_read_config,
	.reset = blk_reset,
	.notify = blk_notify,
	.pause = blk_pause,
	.save = blk_save,
	.load = blk_load,
	.destroy = blk_destroy,
	.describe = blk_describe,
};

int virtio_blk_create(struct machine *m, unsigned slot, const struct disk_config *cfg,
		      struct virtio_blk **out, struct errmsg *err)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	uint64_t features = (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			    (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_BLK_F_FLUSH) |
			    (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
			    (1ULL << VIRTIO_BLK_F_SIZE_MAX);
	uint64_t sectors;
	int ret;

	if (!b)
		return errmsg_set(err, -ENOMEM, "--disk: out of memory");
	b->nr_queues = cfg->num_queues ? cfg->num_queues : 1;
	ret = disk_open(cfg, m->loop, &b->disk, err);
	if (ret)
		goto fail;
	b->reqs = calloc((size_t)b->nr_queues * VQ_MAX_SIZE, sizeof(*b->reqs));
	if (!b->reqs) {
		ret = errmsg_set(err, -ENOMEM, "--disk: out of memory");
		goto fail;
	}
	snprintf(b->serial, sizeof(b->serial), "%s", cfg->id ? cfg->id : "");
	if (!cfg->id)
		snprintf(b->serial, sizeof(b->serial), "minivmm-disk%u", slot);
	sectors = b->disk->size / SECTOR;
	b->config.capacity = sectors;
	b->config.size_max = BLK_SIZE_MAX;
	b->config.seg_max = BLK_SEG_MAX;
	b->config.blk_size = SECTOR;
	b->config.num_queues = (uint16_t)b->nr_queues;
	if (b->disk->readonly) {
		features |= 1ULL << VIRTIO_BLK_F_RO;
	} else {
		uint32_t max = sectors > 0xffffffffULL ? 0xffffffffU : (uint32_t)sectors;

		features |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
		/* Where the storage has neither fallocate mode, write-zeroes writes the zeros on the
		 * I/O thread (block/engine.c), and qcow2 zeroes or frees cluster by cluster on its
		 * worker, lock held: one request of the whole disk would hold either for seconds
		 * (a pause, a snapshot and the exit wait for the worker). Drivers split larger ranges
		 * themselves. */
		max = max < BLK_MAX_RANGE ? max : BLK_MAX_RANGE;
		b->config.max_discard_sectors = max;
		b->config.max_discard_seg = 1;
		b->config.discard_sector_alignment = 1;
		b->config.max_write_zeroes_sectors = max;
		b->config.max_write_zeroes_seg = 1;
		b->config.write_zeroes_may_unmap = 1;
	}
	if (b->nr_queues > 1)
		features |= 1ULL << VIRTIO_BLK_F_MQ;
	blk_engine_set_batch_done(b->disk->engine, blk_batch_done, b);
	ret = virtio_mmio_create(m, slot, &blk_ops, b, b->nr_queues, features, sizeof(b->config),
				 &b->vdev);
	if (ret) {
		errmsg_set(err, ret, "--disk path=%s: cannot create the device: %s", cfg->path,
			   strerror(-ret));
		goto fail;
	}
	*out = b;
	return 0;
fail:
	virtio_blk_destroy(b);
	return ret;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	disk_close(b->disk); /* waits for in-flight I/O: its buffers are guest memory */
	free(b->reqs);
	free(b);
}

int virtio_blk_start_worker(struct virtio_blk *b, int (*thread_init)(void *arg), void *arg)
{
	return disk_worker_start(b->disk, thread_init, arg);
}

int virtio_blk_activate(struct virtio_blk *b, struct errmsg *err)
{
	return disk_activate(b->disk, err);
}

void virtio_blk_inactivate(struct virtio_blk *b)
{
	disk_inactivate(b->disk);
}

struct disk *virtio_blk_disk(const struct virtio_blk *b)
{
	return b->disk;
}

const char *virtio_blk_note(const struct virtio_blk *b)
{
	return b->disk->note;
}

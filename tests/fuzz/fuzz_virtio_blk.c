/* libFuzzer target: virtio-blk (tests/fuzz/fuzz_vdev.h drives it) with two queues. Built four
 * times: the sync and io_uring engines (FUZZ_URING), on a raw image probed as such and on a
 * qcow2 image with 4 KiB clusters (FUZZ_QCOW2), each 1 MiB in /dev/shm.
 *
 * Creating the device allocates a request slot per head (1.1 MiB a queue): under ASan that
 * costs more than most inputs, so a device serves 64 inputs (FZ_RECREATE), reset in between;
 * a raw image is zeroed for every input, a qcow2 image is rewritten from its pristine copy
 * when the device is created (its metadata caches live with the open image). FZ_FRESH=1
 * replays an input on a new device and image. Extra op:
 *   REQ q head type sector16 len16   a well-formed request (header, data, status) */
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/qcow2.h"

#define FZ_RECREATE 64
#include "tests/fuzz/fuzz_vdev.h"
#include "virtio/blk.h"

#define DISK_SIZE (1ULL << 20)

static struct virtio_blk *blk;
static char path[64];
static uint8_t *image;      /* the pristine image, written back before every input */
static size_t image_len;

static void make_image(void)
{
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/fuzz-virtio-blk-%d", (int)getpid());
#ifdef FUZZ_QCOW2
	{
		struct qcow2_create_opts o = { .size = DISK_SIZE, .cluster_size = 4096 };
		struct errmsg err;

		unlink(path);
		if (qcow2_create(path, &o, &err))
			abort();
	}
#else
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, DISK_SIZE))
		abort();
	close(fd);
#endif
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		abort();
	image_len = (size_t)st.st_size;
	image = malloc(image_len);
	if (!image || pread(fd, image, image_len, 0) != (ssize_t)image_len)
		abort();
	close(fd);
}

static int fz_dev_create(struct fz *f)
{
	struct disk_config dc = { .path = path, .format = DISK_FORMAT_AUTO, .engine_set = true,
#ifdef FUZZ_URING
				  .engine = BLK_ENGINE_IO_URING,
#else
				  .engine = BLK_ENGINE_SYNC,
#endif
				  .num_queues = 2 };
	struct errmsg err;
	int fd;

	if (!image)
		make_image();
	/* A fresh image for every input, so that a crash replays from its input alone: a raw
	 * one is all zeros (truncated to nothing and back), a qcow2 one its few metadata
	 * clusters. */
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -1;
#ifdef FUZZ_QCOW2
	if (pwrite(fd, image, image_len, 0) != (ssize_t)image_len) {
		close(fd);
		return -1;
	}
#else
	if (ftruncate(fd, DISK_SIZE)) {
		close(fd);
		return -1;
	}
#endif
	close(fd);
	if (virtio_blk_create(&f->v.m, vdrv_slot(&f->v), &dc, &blk, &err)) {
		fprintf(stderr, "fuzz_virtio_blk: %s\n", err.text);
		return -1;
	}
	f->nq = dc.num_queues;
	return 0;
}

static void fz_dev_renew(struct fz *f)
{
	(void)f;
#ifndef FUZZ_QCOW2
	if (truncate(path, 0) || truncate(path, DISK_SIZE))
		abort();
#endif
}

static void fz_dev_destroy(struct fz *f)
{
	(void)f;
	vdrv_destroy_devices(&f->v);
	blk = NULL;
}

static unsigned fz_dev_nops(void)
{
	return 1;
}

static void fz_dev_op(struct fz *f, unsigned op)
{
	unsigned q = fz_q(f);
	uint16_t head = fz_u8(f), num = f->v.q[q].num;
	uint8_t type = fz_u8(f);
	uint16_t sector = fz_u16(f), len = fz_u16(f);
	static const uint32_t types[] = { VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH,
					  VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_DISCARD,
					  VIRTIO_BLK_T_WRITE_ZEROES, 99 };
	uint32_t t = types[type % 7];
	uint64_t hdr, data = 0, status;
	struct virtio_blk_outhdr *h;

	(void)op;
	if (!num)
		return;
	len = (uint16_t)(len % 16384);
	if (type & 0x80)
		len = (uint16_t)(len & ~511);  /* mostly whole sectors */
	hdr = vdrv_alloc(&f->v, 16 + 16);
	h = vdrv_ptr(&f->v, hdr, 16);
	h->type = t;
	h->sector = sector % (DISK_SIZE / 512 + 8);
	if (t == VIRTIO_BLK_T_DISCARD || t == VIRTIO_BLK_T_WRITE_ZEROES) {
		struct virtio_blk_discard_write_zeroes *seg = vdrv_ptr(&f->v, hdr + 16, 16);

		seg->sector = h->sector;
		seg->num_sectors = len / 512 + 1;
		seg->flags = type & 0x40 ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
	}
	status = vdrv_alloc(&f->v, 1);
	if (len && t != VIRTIO_BLK_T_DISCARD && t != VIRTIO_BLK_T_WRITE_ZEROES)
		data = vdrv_alloc(&f->v, len);
	vdrv_desc(&f->v, q, head, hdr, data || t == VIRTIO_BLK_T_FLUSH || t == 99 ? 16 : 32,
		  VRING_DESC_F_NEXT, (uint16_t)((head + 1) % num));
	if (data) {
		vdrv_desc(&f->v, q, (uint16_t)(head + 1), data, len,
			  VRING_DESC_F_NEXT | (t == VIRTIO_BLK_T_OUT ? 0 : VRING_DESC_F_WRITE),
			  (uint16_t)((head + 2) % num));
		vdrv_desc(&f->v, q, (uint16_t)(head + 2), status, 1, VRING_DESC_F_WRITE, 0);
	} else {
		vdrv_desc(&f->v, q, (uint16_t)(head + 1), status, 1, VRING_DESC_F_WRITE, 0);
	}
	fz_publish(f, q, (uint16_t)(head % num));
}

/* libFuzzer target: virtio-net (tests/fuzz/fuzz_vdev.h drives it) with two queue pairs and the
 * control queue (whether the driver negotiates MQ is up to the input), a socketpair per pair
 * standing in for the tap; frames of fuzzer-chosen sizes (up to 70000 bytes, more than the
 * device's bounce buffer) come from the network end, read with tun's semantics (the whole
 * frame's length even when cut). A device serves 64 inputs (FZ_RECREATE), reset and with both
 * ends of every socketpair drained in between; FZ_FRESH=1 replays an input on a new one.
 * Extra ops:
 *   RXBUF pair head len16     a one-buffer receive chain
 *   TXFRAME pair head len16   a one-buffer transmit chain (vnet header first)
 *   FRAME pair len16 ext      a frame from the network
 *   CTRL head cmd[4]          a control command (class, command, 2 bytes) and its ack byte
 *   DRAIN                     the network reads what the device transmitted
 *   REFILL pair n16 len16 k8  a driver's receive refill loop: n one-buffer chains of len
 *                             bytes at the heads that follow the avail index (wrapping at the
 *                             queue's size), a kick (and the used ring read) after every 1, 4
 *                             or 16 of them (k % 4 = 1, 2, 3: iPXE's refill kicks after each
 *                             buffer) or once at the end (k % 4 = 0: Linux's try_fill_recv).
 *                             Every kick counts against FZ_MAX_OPS. */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define FZ_RECREATE 64
#include "tests/fuzz/fuzz_vdev.h"
#include "virtio/net.h"

static struct virtio_net *net;
static int peer[NET_MAX_PAIRS], dev_end[NET_MAX_PAIRS];
static unsigned pairs;
static uint8_t frame[70000];

static int fz_dev_create(struct fz *f)
{
	struct net_config nc = { .fd = -1, .backend = &vdrv_sock_backend };
	struct errmsg err;

	pairs = 2;
	nc.pairs = pairs;
	if (vdrv_sock_pairs(pairs, nc.backend_fds, peer))
		return -1;
	memcpy(dev_end, nc.backend_fds, sizeof(dev_end));
	if (virtio_net_create(&f->v.m, vdrv_slot(&f->v), &nc, &net, &err)) {
		fprintf(stderr, "fuzz_virtio_net: %s\n", err.text);
		return -1;
	}
	f->nq = 2 * pairs + (pairs > 1);
	return 0;
}

static void fz_dev_destroy(struct fz *f)
{
	(void)f;
	vdrv_destroy_devices(&f->v);
	net = NULL;
	for (unsigned i = 0; i < pairs; i++)
		close(peer[i]);
}

/* Reads every frame waiting on @fd. Only EAGAIN ends it: with the other end open, recv() on a
 * SOCK_SEQPACKET socket returns 0 for an empty record (FRAME of length 0), and stopping there
 * left the frames behind it to the next input (a crash that its input alone did not repeat). */
static void drain(int fd)
{
	while (recv(fd, frame, sizeof(frame), MSG_DONTWAIT) >= 0)
		;
}

static void fz_dev_renew(struct fz *f)
{
	(void)f;
	/* Nothing of the last input may still be on its way. */
	for (unsigned i = 0; i < pairs; i++) {
		drain(peer[i]);
		drain(dev_end[i]);
	}
}

static unsigned fz_dev_nops(void)
{
	return 6;
}

static void one_buffer(struct fz *f, unsigned q, uint16_t head, uint16_t len, bool writable)
{
	uint16_t num = f->v.q[q].num;
	uint64_t gpa;

	if (!num)
		return;
	len = len ? len : 1;
	gpa = vdrv_alloc(&f->v, len);
	if (!writable && len >= 12)
		memset(vdrv_ptr(&f->v, gpa, 12), 0, 12);  /* a plain vnet header */
	vdrv_desc(&f->v, q, head, gpa, len, writable ? VRING_DESC_F_WRITE : 0, 0);
	fz_publish(f, q, (uint16_t)(head % num));
}

static void fz_dev_op(struct fz *f, unsigned op)
{
	unsigned pair;

	switch (op) {
	case 0: /* RXBUF */
		pair = fz_u8(f) % pairs;
		{
			uint16_t head = fz_u8(f);

			one_buffer(f, 2 * pair, head, fz_u16(f) % 4096, true);
		}
		break;
	case 1: /* TXFRAME */
		pair = fz_u8(f) % pairs;
		{
			uint16_t head = fz_u8(f);

			one_buffer(f, 2 * pair + 1, head, fz_u16(f) % 9000, false);
		}
		break;
	case 2: { /* FRAME */
		size_t len;
		uint8_t ext;

		pair = fz_u8(f) % pairs;
		len = fz_u16(f);
		ext = fz_u8(f);
		if (ext & 1)
			len = len % (sizeof(frame) - 65536) + 65536;
		memset(frame, ext, len < sizeof(frame) ? len : sizeof(frame));
		memset(frame, 0, len < 12 ? len : 12);
		if (send(peer[pair], frame, len, MSG_DONTWAIT) < 0) {
			/* full: the network drops it */
		}
		vdrv_run(&f->v, 64);
		break;
	}
	case 3: { /* CTRL */
		unsigned q = 2 * pairs;
		uint16_t head = fz_u8(f), num;
		uint64_t cmd;

		if (pairs < 2 || !(num = f->v.q[q].num)) {
			f->p += f->p + 4 <= f->end ? 4 : 0;
			break;
		}
		cmd = vdrv_alloc(&f->v, 16);
		for (int i = 0; i < 4; i++)
			*(uint8_t *)vdrv_ptr(&f->v, cmd + i, 1) = fz_u8(f);
		vdrv_desc(&f->v, q, head, cmd, 4, VRING_DESC_F_NEXT, (uint16_t)((head + 1) % num));
		vdrv_desc(&f->v, q, (uint16_t)(head + 1), cmd + 8, 1, VRING_DESC_F_WRITE, 0);
		fz_publish(f, q, (uint16_t)(head % num));
		break;
	}
	case 4: /* DRAIN */
		for (unsigned i = 0; i < pairs; i++)
			drain(peer[i]);
		break;
	case 5: { /* REFILL */
		unsigned q, n, every, i;
		uint16_t len;
		uint8_t k;

		pair = fz_u8(f) % pairs;
		q = 2 * pair;
		n = fz_u16(f) % 1024 + 1;
		len = fz_u16(f) % 4096;
		k = fz_u8(f) % 4;
		every = k ? 1u << (2 * (k - 1)) : n;
		for (i = 0; i < n && f->v.q[q].num && f->ops < FZ_MAX_OPS; i++) {
			one_buffer(f, q, (uint16_t)(f->v.q[q].avail_idx % f->v.q[q].num), len, true);
			if ((i + 1) % every == 0) {
				/* Read back what came before posting more, as a driver does: the
				 * used ring holds only the queue's size of entries. */
				fz_kick(f, q);
				fz_reap(f);
				f->ops++;
			}
		}
		if (i % every)
			fz_kick(f, q);
		break;
	}
	}
}

/* virtio-net host-side: the real device behind the real transport, with a socketpair standing
 * in for the tap (tests/unit/vdrv.h). Frames are injected from the "network" end. */
#include <libfdt.h>
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "tests/unit/vdrv.h"
#include "virtio/net.h"
#include "vmm/state.h"

#define RAM (1ULL << 20)
#define HDR 12
#define RXQ 0
#define TXQ 1
#define F(bit) (1ULL << (bit))

static struct vdrv v;
static struct virtio_net *net;
static int peer[NET_MAX_PAIRS];

static void create(unsigned pairs)
{
	struct net_config nc = { .fd = -1, .pairs = pairs, .backend = &vdrv_sock_backend };
	struct errmsg err;

	ck_assert_int_eq(vdrv_sock_pairs(pairs, nc.backend_fds, peer), 0);
	ck_assert_msg(virtio_net_create(&v.m, vdrv_slot(&v), &nc, &net, &err) == 0, "%s", err.text);
	vdrv_attach(&v);
}

static void setup(void)
{
	ck_assert_int_eq(vdrv_init(&v, RAM), 0);
	net = NULL;
	for (unsigned i = 0; i < NET_MAX_PAIRS; i++)
		peer[i] = -1;
}

static void teardown(void)
{
	vdrv_destroy_devices(&v);
	for (unsigned i = 0; i < NET_MAX_PAIRS; i++)
		if (peer[i] >= 0)
			close(peer[i]);
	vdrv_fini(&v);
}

/* Sends a frame of @len bytes (vnet header included) from the network side of pair @p. */
static void inject(unsigned p, size_t len, uint8_t fill)
{
	uint8_t *f = malloc(len);

	memset(f, fill, len);
	memset(f, 0, len < HDR ? len : HDR);
	ck_assert_int_eq(send(peer[p], f, len, 0), (ssize_t)len);
	free(f);
}

/* A one-buffer receive chain of @len bytes as descriptor @i, published. */
static uint64_t post_rx(unsigned q, uint16_t i, uint32_t len)
{
	uint64_t gpa = vdrv_alloc(&v, len);

	vdrv_desc(&v, q, i, gpa, len, VRING_DESC_F_WRITE, 0);
	vdrv_publish(&v, q, i);
	return gpa;
}

START_TEST(receive_and_transmit)
{
	uint64_t buf, tx;
	uint32_t id, len;
	uint8_t out[256];

	create(1);
	ck_assert(vdrv_start(&v, F(VIRTIO_NET_F_MRG_RXBUF), 2, 8));
	buf = post_rx(RXQ, 3, 2048);
	vdrv_kick(&v, RXQ);
	inject(0, HDR + 100, 0xab);
	vdrv_run(&v, 16);
	ck_assert(vdrv_used(&v, RXQ, &id, &len));
	ck_assert_uint_eq(id, 3);
	ck_assert_uint_eq(len, HDR + 100);
	ck_assert_uint_eq(*(uint16_t *)vdrv_ptr(&v, buf + 10, 2), 1);   /* num_buffers */
	ck_assert_uint_eq(*(uint8_t *)vdrv_ptr(&v, buf + HDR + 99, 1), 0xab);

	tx = vdrv_alloc(&v, HDR + 60);
	memset(vdrv_ptr(&v, tx, HDR + 60), 0x5c, HDR + 60);
	vdrv_desc(&v, TXQ, 0, tx, HDR + 60, 0, 0);
	vdrv_publish(&v, TXQ, 0);
	vdrv_kick(&v, TXQ);
	ck_assert(vdrv_used(&v, TXQ, &id, &len));
	ck_assert_int_eq(recv(peer[0], out, sizeof(out), 0), HDR + 60);
	ck_assert_uint_eq(out[HDR], 0x5c);
	ck_assert(!vdrv_needs_reset(&v));
}
END_TEST

/* Finding 1 (issue 13): MRG_RXBUF with a receive queue of one entry. The frame overflows the
 * first buffer; the driver re-posts its only head again and again with a 1-byte buffer. The
 * device must stop at the queue's size (here: at once, a frame that cannot fit) instead of
 * recording held chains past the end of its arrays. */
START_TEST(mrg_rx_queue_of_one)
{
	uint32_t id, len;
	unsigned kicks = 0;

	create(1);
	ck_assert(vdrv_start(&v, F(VIRTIO_NET_F_MRG_RXBUF), 2, 1));
	post_rx(RXQ, 0, HDR);
	vdrv_kick(&v, RXQ);
	inject(0, 60000, 0x11);
	vdrv_run(&v, 16);
	while (!vdrv_needs_reset(&v) && kicks++ < 400) {
		post_rx(RXQ, 0, 1);
		vdrv_kick(&v, RXQ);
	}
	ck_assert_msg(vdrv_needs_reset(&v), "device still running after %u re-posts", kicks);
	ck_assert_uint_le(kicks, 2);
	ck_assert(!vdrv_used(&v, RXQ, &id, &len));
}
END_TEST

/* The same bound with distinct heads: a queue of 4 one-byte buffers cannot take a 1500-byte
 * frame; the device fails once all four are held, and returns none of them half-filled. */
START_TEST(mrg_rx_frame_larger_than_ring)
{
	uint32_t id, len;

	create(1);
	ck_assert(vdrv_start(&v, F(VIRTIO_NET_F_MRG_RXBUF), 2, 4));
	post_rx(RXQ, 0, HDR);
	for (uint16_t i = 1; i < 4; i++)
		post_rx(RXQ, i, 1);
	vdrv_kick(&v, RXQ);
	inject(0, 1500, 0x22);
	vdrv_run(&v, 16);
	ck_assert(vdrv_needs_reset(&v));
	ck_assert(!vdrv_used(&v, RXQ, &id, &len));
}
END_TEST

/* Issue 13, finding 5: tun reports a frame's whole length even when it had to cut it to the
 * buffers it was given. A frame larger than the receive chain plus the device's bounce buffer
 * made the device copy host heap past that buffer into the guest's next chains. Such a frame
 * must be dropped; the next one is delivered normally. */
START_TEST(frame_longer_than_what_was_read)
{
	uint32_t id, len;
	uint64_t first;

	create(1);
	ck_assert(vdrv_start(&v, F(VIRTIO_NET_F_MRG_RXBUF), 2, 128));
	first = post_rx(RXQ, 0, 2048);
	for (uint16_t i = 1; i < 100; i++)
		post_rx(RXQ, i, 2048);
	vdrv_kick(&v, RXQ);
	inject(0, 2048 + 65565 + 100, 0x33);   /* chain + bounce buffer + 100 */
	vdrv_run(&v, 16);
	ck_assert(!vdrv_used(&v, RXQ, &id, &len));
	ck_assert(!vdrv_needs_reset(&v));
	inject(0, HDR + 1000, 0x44);
	vdrv_run(&v, 16);
	ck_assert(vdrv_used(&v, RXQ, &id, &len));
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(len, HDR + 1000);
	ck_assert_uint_eq(*(uint8_t *)vdrv_ptr(&v, first + HDR + 999, 1), 0x44);
}
END_TEST

/* Issue 13, finding 7: VQ_PAIRS_SET lets pending receive traffic go on (net_rx) while the
 * control command is being answered. Both used the device's one scratch chain: the receive
 * path popped into the chain the command still held, so the ack landed in a receive buffer
 * and a receive head was returned on the control queue (the control head never was). */
START_TEST(control_command_while_a_frame_waits)
{
	uint64_t cmd;
	uint32_t id, len;
	unsigned rx_used = 0;

	create(2);
	ck_assert(vdrv_start(&v, F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_MQ) |
				       F(VIRTIO_NET_F_CTRL_VQ), 5, 16));
	post_rx(RXQ, 0, HDR);
	vdrv_kick(&v, RXQ);
	inject(0, 1500, 0x55);                 /* waits: 12 bytes in chain 0, no more buffers */
	vdrv_run(&v, 16);
	post_rx(RXQ, 1, 2048);                 /* posted, not notified */

	cmd = vdrv_alloc(&v, 64);
	memcpy(vdrv_ptr(&v, cmd, 4), "\x04\x00\x02\x00", 4);   /* MQ, VQ_PAIRS_SET, 2 */
	*(uint8_t *)vdrv_ptr(&v, cmd + 32, 1) = 0xff;
	vdrv_desc(&v, 4, 7, cmd, 4, VRING_DESC_F_NEXT, 8);
	vdrv_desc(&v, 4, 8, cmd + 32, 1, VRING_DESC_F_WRITE, 0);
	vdrv_publish(&v, 4, 7);
	vdrv_kick(&v, 4);

	ck_assert(vdrv_used(&v, 4, &id, &len));
	ck_assert_uint_eq(id, 7);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(*(uint8_t *)vdrv_ptr(&v, cmd + 32, 1), 0);  /* VIRTIO_NET_OK */
	ck_assert(!vdrv_used(&v, 4, &id, &len));
	while (vdrv_used(&v, RXQ, &id, &len))
		ck_assert_uint_eq(id, rx_used++);
	ck_assert_uint_eq(rx_used, 2);         /* the waiting frame, in heads 0 and 1 */
	ck_assert(!vdrv_needs_reset(&v));
}
END_TEST

/* A multiqueue "tap" that records which queues are attached (by descriptor). */
static int attached_fd[2 * NET_MAX_PAIRS], set_queue_calls;

static int recording_set_queue(int fd, bool attached)
{
	set_queue_calls++;
	for (unsigned i = 0; i < 2 * NET_MAX_PAIRS; i++)
		if (attached_fd[i] == fd || (attached && attached_fd[i] < 0)) {
			attached_fd[i] = attached ? fd : -1;
			return 0;
		}
	return attached ? -ENOSPC : 0;
}

static bool is_attached(int fd)
{
	for (unsigned i = 0; i < 2 * NET_MAX_PAIRS; i++)
		if (attached_fd[i] == fd)
			return true;
	return false;
}

static const struct net_backend_ops queue_backend = {
	.read = vdrv_sock_read, .write = vdrv_sock_write, .set_offload = vdrv_sock_offload,
	.set_queue = recording_set_queue,
};

static void pairs_set(uint16_t head, uint8_t pairs)
{
	uint64_t cmd = vdrv_alloc(&v, 64);
	uint8_t c[4] = { 4, 0, pairs, 0 };     /* MQ, VQ_PAIRS_SET, pairs */
	uint32_t id, len;

	memcpy(vdrv_ptr(&v, cmd, 4), c, 4);
	vdrv_desc(&v, 4, head, cmd, 4, VRING_DESC_F_NEXT, (uint16_t)(head + 1));
	vdrv_desc(&v, 4, (uint16_t)(head + 1), cmd + 32, 1, VRING_DESC_F_WRITE, 0);
	vdrv_publish(&v, 4, head);
	vdrv_kick(&v, 4);
	ck_assert(vdrv_used(&v, 4, &id, &len));
	ck_assert_uint_eq(*(uint8_t *)vdrv_ptr(&v, cmd + 32, 1), 0);  /* VIRTIO_NET_OK */
}

/* Found in review: tun spreads the frames it knows no flow for over every attached queue; the
 * queues of pairs the driver does not use stayed attached and unread, so a peer whose flows
 * hashed there could not reach the guest (no MQ, or Linux with fewer vCPUs than pairs). They
 * are detached from creation until the driver asks for their pairs, and again at a reset. */
START_TEST(unused_pairs_are_detached_from_the_tap)
{
	struct net_config nc = { .fd = -1, .pairs = 2, .backend = &queue_backend };
	int fds[2];
	struct errmsg err;

	ck_assert_int_eq(vdrv_sock_pairs(2, nc.backend_fds, peer), 0);
	memcpy(fds, nc.backend_fds, sizeof(fds));
	for (unsigned i = 0; i < 2 * NET_MAX_PAIRS; i++)
		attached_fd[i] = i < 2 ? fds[i] : -1;   /* a tap opens every queue attached */
	ck_assert_msg(virtio_net_create(&v.m, vdrv_slot(&v), &nc, &net, &err) == 0, "%s", err.text);
	vdrv_attach(&v);
	ck_assert(is_attached(fds[0]));
	ck_assert(!is_attached(fds[1]));
	/* A driver without MQ: pair 0 only. */
	ck_assert(vdrv_start(&v, F(VIRTIO_NET_F_MRG_RXBUF), 2, 16));
	ck_assert(is_attached(fds[0]) && !is_attached(fds[1]));
	/* With MQ: attached when asked for, detached when given up, and at a reset. */
	ck_assert(vdrv_start(&v, F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_MQ) |
				       F(VIRTIO_NET_F_CTRL_VQ), 5, 16));
	ck_assert(!is_attached(fds[1]));
	pairs_set(0, 2);
	ck_assert(is_attached(fds[0]) && is_attached(fds[1]));
	pairs_set(2, 1);
	ck_assert(is_attached(fds[0]) && !is_attached(fds[1]));
	pairs_set(4, 2);
	ck_assert(is_attached(fds[1]));
	vdrv_wr(&v, VIRTIO_MMIO_STATUS, 0);
	ck_assert(is_attached(fds[0]) && !is_attached(fds[1]));
	ck_assert_int_le(set_queue_calls, 5);  /* only changes reach the backend */
}
END_TEST

/* A "tap" for transmit_yields_the_io_thread whose every write is also the guest on another
 * vCPU: it offers again the chain the device returned just before (the device pushes a chain
 * right after writing it). Single-threaded, so the interleaving is exact. */
static unsigned tx_writes;

static ssize_t recycling_write(int fd, const struct iovec *iov, int cnt)
{
	uint32_t id, len;

	(void)fd;
	(void)iov;
	(void)cnt;
	if (++tx_writes < 5000)
		while (vdrv_used(&v, TXQ, &id, &len))
			vdrv_publish(&v, TXQ, (uint16_t)id);
	return HDR + 60;
}

static const struct net_backend_ops recycling_backend = {
	.read = vdrv_sock_read, .write = recycling_write, .set_offload = vdrv_sock_offload,
};

/* Issue 13, finding 8: a guest that keeps the transmit ring ahead (recycling each chain as it
 * comes back) held the I/O thread in net_tx() for as long as it kept going: the transmit loop's
 * 'continue' skipped its 256-frame limit. A handler takes at most VIRTIO_BATCH chains per call
 * and queues itself again. */
START_TEST(transmit_yields_the_io_thread)
{
	struct net_config nc = { .fd = -1, .pairs = 1, .backend = &recycling_backend };
	struct errmsg err;
	uint64_t frame = vdrv_alloc(&v, HDR + 60);

	ck_assert_int_eq(vdrv_sock_pairs(1, nc.backend_fds, peer), 0);
	ck_assert_msg(virtio_net_create(&v.m, vdrv_slot(&v), &nc, &net, &err) == 0, "%s", err.text);
	vdrv_attach(&v);
	ck_assert(vdrv_start(&v, 0, 2, 256));
	for (uint16_t i = 0; i < 256; i++) {
		vdrv_desc(&v, TXQ, i, frame, HDR + 60, 0, 0);
		vdrv_publish(&v, TXQ, i);
	}
	tx_writes = 0;
	vdrv_wr(&v, VIRTIO_MMIO_QUEUE_NOTIFY, TXQ);
	ck_assert_int_eq(evloop_run_once(&v.loop, 0), 1);   /* one call of the handler */
	ck_assert_msg(tx_writes <= VIRTIO_BATCH, "%u frames in one call", tx_writes);
	ck_assert_int_eq(evloop_run_once(&v.loop, 0), 1);   /* it queued itself again */
	ck_assert_uint_le(tx_writes, 2 * VIRTIO_BATCH);
	ck_assert(!vdrv_needs_reset(&v));
}
END_TEST

/* Issue 13, finding 8, for the control queue: net_ctrl() answered commands until the queue
 * was empty; with each command recycled as soon as it was answered it never was. */
START_TEST(control_queue_yields_the_io_thread)
{
	uint64_t pages[64];
	uint16_t heads[64];

	vdrv_fini(&v);
	ck_assert_int_eq(vdrv_init(&v, 2 * RAM), 0);
	create(2);
	ck_assert(vdrv_start(&v, F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CTRL_VQ), 5, 256));
	for (uint16_t i = 0; i < 64; i++) {
		uint64_t cmd = vdrv_alloc(&v, 16);

		memcpy(vdrv_ptr(&v, cmd, 4), "\x04\x00\x01\x00", 4);   /* VQ_PAIRS_SET 1 */
		pages[i] = vdrv_alloc_page(&v);
		heads[i] = (uint16_t)(2 * i);
		vdrv_desc(&v, 4, heads[i], cmd, 4, VRING_DESC_F_NEXT, (uint16_t)(heads[i] + 1));
		vdrv_desc(&v, 4, (uint16_t)(heads[i] + 1), pages[i], 1, VRING_DESC_F_WRITE, 0);
		vdrv_publish(&v, 4, heads[i]);
	}
	ck_assert_int_eq(vdrv_recycle_start(&v, 4, 64, pages, heads, 5000), 0);
	vdrv_wr(&v, VIRTIO_MMIO_QUEUE_NOTIFY, 4);
	ck_assert_int_eq(evloop_run_once(&v.loop, 0), 1);   /* one call of the handler */
	vdrv_recycle_stop();
	ck_assert_msg(vdrv_used_idx(&v, 4) <= VIRTIO_BATCH, "%u commands in one call",
		      vdrv_used_idx(&v, 4));
	ck_assert(!vdrv_needs_reset(&v));
	ck_assert_int_eq(evloop_run_once(&v.loop, 0), 1);   /* it queued itself again */
}
END_TEST

/* Issue 13, finding 11: without MRG_RXBUF a frame must fit one receive buffer. One that does
 * not comes from the network, not from the driver: it used to set NEEDS_RESET, so any peer
 * that could send a large frame (a jumbo or GSO frame) disabled the guest's NIC. It is dropped
 * instead, and the buffer takes the next frame that fits. */
START_TEST(frame_larger_than_buffer_without_mrg)
{
	uint32_t id, len;

	create(1);
	ck_assert(vdrv_start(&v, 0, 2, 8));
	post_rx(RXQ, 2, 256);
	vdrv_kick(&v, RXQ);
	inject(0, 1500, 0x66);
	vdrv_run(&v, 16);
	ck_assert(!vdrv_needs_reset(&v));
	ck_assert(!vdrv_used(&v, RXQ, &id, &len));
	inject(0, 200, 0x77);
	vdrv_run(&v, 16);
	ck_assert(vdrv_used(&v, RXQ, &id, &len));
	ck_assert_uint_eq(id, 2);
	ck_assert_uint_eq(len, 200);
}
END_TEST

static int save_fill(void *fdt, void *arg)
{
	int node = state_add_node(fdt, 0, "devices");

	return node < 0 ? node : dev_list_save(arg, fdt, node);
}

/* The device list's state as a snapshot records it (0 or the save's error). */
static int save_devices(void **fdt)
{
	size_t len;

	return state_build(save_fill, &v.devices, 1 << 20, fdt, &len);
}

/* Pause gives back the receive chain the device popped ahead of the next frame (vq_unpop).
 * The avail ring is guest memory: a guest that rewrote the entry it had published (another
 * vCPU, after the device took it) made the give-back fail, so pause, snapshot and migration
 * failed, and the head stayed held with the device's record of it gone, so every later
 * snapshot failed too (vq_save: -EBUSY) until the driver reset the NIC. */
START_TEST(pause_after_the_guest_rewrote_a_taken_avail_entry)
{
	uint16_t *avail;
	uint32_t id, len;
	void *fdt = NULL;

	create(1);
	ck_assert(vdrv_start(&v, F(VIRTIO_NET_F_MRG_RXBUF), 2, 8));
	post_rx(RXQ, 3, 2048);
	vdrv_kick(&v, RXQ);                    /* popped ahead: no frame yet */
	avail = vdrv_ptr(&v, v.q[RXQ].avail, 6 + 2 * 8);
	vdrv_desc(&v, RXQ, 5, vdrv_alloc(&v, 2048), 2048, VRING_DESC_F_WRITE, 0);
	avail[2] = 5;                          /* slot 0 named head 3 when it was taken */
	ck_assert_int_eq(dev_list_pause(&v.devices), 0);
	ck_assert_int_eq(save_devices(&fdt), 0);
	free(fdt);
	dev_list_resume(&v.devices);
	vdrv_run(&v, 16);
	inject(0, HDR + 100, 0x5a);
	vdrv_run(&v, 16);
	ck_assert(vdrv_used(&v, RXQ, &id, &len));
	ck_assert_uint_eq(id, 5);              /* what the ring says now */
	ck_assert_uint_eq(len, HDR + 100);
	ck_assert(!vdrv_needs_reset(&v));
	ck_assert_int_eq(dev_list_pause(&v.devices), 0);
	ck_assert_int_eq(save_devices(&fdt), 0);
	free(fdt);
}
END_TEST

/* A driver that broke a rule after the device had taken its chain (here a transmit chain
 * shorter than the vnet header) leaves the device NEEDS_RESET with that head taken: no reply
 * is owed on a broken device and the driver's reset gives everything back. Saving such a
 * device failed (vq_save: -EBUSY for any taken head), so a guest could refuse every snapshot
 * and migration of itself by breaking a device once and never resetting it. */
START_TEST(broken_device_with_a_taken_chain_is_saved)
{
	struct errmsg err;
	uint32_t id, len;
	uint64_t tx = vdrv_alloc(&v, HDR);
	void *fdt = NULL;

	create(1);
	ck_assert(vdrv_start(&v, 0, 2, 8));
	vdrv_desc(&v, TXQ, 2, tx, HDR - 2, 0, 0);
	vdrv_publish(&v, TXQ, 2);
	vdrv_kick(&v, TXQ);
	ck_assert(vdrv_needs_reset(&v));
	ck_assert_int_eq(dev_list_pause(&v.devices), 0);
	ck_assert_int_eq(save_devices(&fdt), 0);
	/* Loaded back, it is the same broken device; the driver's reset brings it back. */
	ck_assert_msg(dev_list_load(&v.devices, fdt, fdt_subnode_offset(fdt, 0, "devices"),
				    &err) == 0, "%s", err.text);
	free(fdt);
	dev_list_resume(&v.devices);
	ck_assert(vdrv_needs_reset(&v));
	ck_assert(vdrv_start(&v, 0, 2, 8));
	post_rx(RXQ, 1, 2048);
	vdrv_kick(&v, RXQ);
	inject(0, HDR + 10, 0x6b);
	vdrv_run(&v, 16);
	ck_assert(vdrv_used(&v, RXQ, &id, &len));
	ck_assert_uint_eq(id, 1);
}
END_TEST

/* A migrated or restored NIC announces its MAC: three RARP broadcasts behind a zero vnet
 * header, before the guest has sent anything. */
START_TEST(announce_sends_rarp_from_the_mac)
{
	struct net_config nc = { .fd = -1, .pairs = 1, .backend = &vdrv_sock_backend, .has_mac = true,
				 .mac = { 0x02, 0, 0, 0x12, 0x34, 0x56 } };
	struct errmsg err;
	uint8_t f[128], zero[HDR] = { 0 };

	ck_assert_int_eq(vdrv_sock_pairs(1, nc.backend_fds, peer), 0);
	ck_assert_msg(virtio_net_create(&v.m, vdrv_slot(&v), &nc, &net, &err) == 0, "%s", err.text);
	vdrv_attach(&v);
	ck_assert_int_eq(virtio_net_announce(net), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(recv(peer[0], f, sizeof(f), MSG_DONTWAIT), HDR + 60);
		ck_assert_int_eq(memcmp(f, zero, HDR), 0);
		ck_assert_int_eq(memcmp(f + HDR, "\xff\xff\xff\xff\xff\xff\x02\0\0\x12\x34\x56\x80\x35", 14), 0);
		ck_assert_int_eq(memcmp(f + HDR + 14, "\0\x01\x08\0\x06\x04\0\x03", 8), 0);
		ck_assert_int_eq(memcmp(f + HDR + 22, nc.mac, 6), 0);
		ck_assert_int_eq(memcmp(f + HDR + 32, nc.mac, 6), 0);
	}
	ck_assert_int_lt(recv(peer[0], f, sizeof(f), MSG_DONTWAIT), 0);
}
END_TEST

Suite *suite_virtio_net(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *tc = tcase_create("device");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, receive_and_transmit);
	tcase_add_test(tc, mrg_rx_queue_of_one);
	tcase_add_test(tc, mrg_rx_frame_larger_than_ring);
	tcase_add_test(tc, frame_longer_than_what_was_read);
	tcase_add_test(tc, control_command_while_a_frame_waits);
	tcase_add_test(tc, unused_pairs_are_detached_from_the_tap);
	tcase_add_test(tc, transmit_yields_the_io_thread);
	tcase_add_test(tc, control_queue_yields_the_io_thread);
	tcase_add_test(tc, frame_larger_than_buffer_without_mrg);
	tcase_add_test(tc, pause_after_the_guest_rewrote_a_taken_avail_entry);
	tcase_add_test(tc, broken_device_with_a_taken_chain_is_saved);
	tcase_add_test(tc, announce_sends_rarp_from_the_mac);
	suite_add_tcase(s, tc);
	return s;
}

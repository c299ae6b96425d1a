/* Drives minivmm's virtio-net device model host-side: synthetic receive and transmit queues in
 * ordinary memory, programmed through the real virtio-mmio register handler, completed by the
 * real event loop and tap backend. No guest, no KVM. Also the plain tap loop (the limit) and a
 * frame source for the receive direction.
 *   net_bench dev   TAP tx|rx SIZE SECONDS [tso]   device model; prints "pps Gbps cpu-ns/frame"
 *   net_bench plain TAP tx|rx SIZE SECONDS [tso]   read()/writev() on the tap directly
 *   net_bench send  TAP SIZE SECONDS [gso]         AF_PACKET sender into the tap (rx source)
 * SIZE is the Ethernet frame size; tso sends 64 KiB TCP segments with a GSO header. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "net/tap.h"
#include "virtio/device.h"
#include "virtio/net.h"
#include "vmm/machine.h"

#define QSIZE 256
#define MEM (256ULL << 20)
#define RING(q) (0x10000ULL + (q) * 0x10000ULL)
#define BUFS(q) (0x1000000ULL + (q) * 0x4000000ULL)
#define HDR 12
#define RXBUF 2048
#define TSO_FRAME 65536

static struct guest_mem mem;
static struct bus pio_bus, mmio_bus;
static struct evloop loop;
static struct dev_list devices;
static struct machine machine;
static struct virtio_dev *dev;

static void wr(uint64_t off, uint32_t v) { virtio_mmio_io(NULL, off, (uint8_t *)&v, 4, true, dev); }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

/* CPU seconds this process spent, user and kernel: the cost per frame, apart from how fast the
 * other side (the sender, the kernel's drop path) happened to run. */
static double cpu_secs(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static void report(uint64_t frames, uint64_t bytes, double t0, double c0)
{
	double secs = now() - t0;

	printf("%.0f %.3f %.0f\n", frames / secs, bytes * 8 / secs / 1e9,
	       frames ? (cpu_secs() - c0) * 1e9 / frames : 0.0);
}

/* An Ethernet/IPv4/UDP frame (or a TCP segment for TSO) to a host that is not there. */
static size_t make_frame(uint8_t *f, size_t size, int tso, struct virtio_net_hdr_v1 *h)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x99 }, src[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	size_t len = tso ? TSO_FRAME : size;
	uint16_t ip_len = (uint16_t)(len - 14);

	memset(f, 0, len);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)(ip_len >> 8);
	f[17] = (uint8_t)ip_len;
	f[22] = 64;
	f[23] = tso ? 6 : 17;
	memcpy(f + 26, "\x0a\x00\x02\x0f\x0a\x00\x02\x63", 8);
	memset(h, 0, sizeof(*h));
	if (tso) {
		f[46] = 0x50; /* TCP data offset 5 */
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		h->hdr_len = 54;
		h->gso_size = 1448;
		h->csum_start = 34;
		h->csum_offset = 16;
	}
	return len;
}

/* The limit: the same frames, from as many distinct buffers as the device's queue holds (so
 * both copy from the same working set), written to or read from the tap in a loop. */
static int plain(const char *tap, int tx, size_t size, double secs, int tso)
{
	struct virtio_net_hdr_v1 h;
	size_t stride = TSO_FRAME + HDR, len = 0;
	uint8_t *all = malloc(stride * QSIZE);
	struct errmsg err;
	uint64_t n = 0, bytes = 0, k = 0;
	double t0, t1, c0;
	int fd;

	if (tap_open(tap, 1, &fd, &err) || tap_set_vnet_hdr_len(fd, HDR))
		return fprintf(stderr, "net_bench: %s\n", err.text), 1;
	for (unsigned i = 0; i < QSIZE; i++) {
		len = make_frame(all + stride * i + HDR, size, tso, &h);
		memcpy(all + stride * i, &h, sizeof(h));
	}
	c0 = cpu_secs();
	t0 = now();
	t1 = t0 + secs;
	while (now() < t1) {
		for (int i = 0; i < 64; i++) {
			uint8_t *f = all + stride * (k++ % QSIZE);
			ssize_t r = tx ? write(fd, f, HDR + len) : read(fd, f, TSO_FRAME + HDR);

			if (r < 0 && errno == EAGAIN && !tx) {
				struct pollfd p = { fd, POLLIN, 0 };

				poll(&p, 1, 10);
				break;
			}
			if (r > HDR) {
				n++;
				bytes += (uint64_t)r - HDR;
			}
		}
	}
	report(n, bytes, t0, c0);
	return 0;
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Frames of SIZE bytes into the tap. Plain: one sendmmsg per 64 frames; ~as fast per frame as
 * the tap's reader, which makes the result bistable (see bench/net.sh). gso: 64 KiB TCP
 * segments with a vnet header, which the kernel cuts into SIZE-byte frames for the tap (the
 * reader negotiated no offloads): ~830k frames/s offered against ~680k for plain sends here, so
 * the tap drops about half and the reader is what limits. (For 64 B frames it is slower.) */
static int sender(const char *tap, size_t size, double secs, int gso)
{
	static uint8_t f[TSO_FRAME];
	struct virtio_net_hdr_v1 h;
	size_t len = make_frame(f, size, gso, &h);
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(tap),
				  .sll_halen = 6 };
	int s = socket(AF_PACKET, SOCK_RAW, 0), one = 1;
	struct mmsghdr m[64];
	struct iovec v[2] = { { &h, sizeof(struct virtio_net_hdr) }, { f, len } };
	unsigned batch = gso ? 4 : 64;
	double t1 = now() + secs;

	memcpy(sa.sll_addr, f, 6);
	if (s < 0 || !sa.sll_ifindex)
		return perror("net_bench send"), 1;
	if (gso) {
		uint16_t c = ip_checksum(f + 14, 20); /* the kernel's segmentation checks it */

		f[24] = (uint8_t)(c >> 8);
		f[25] = (uint8_t)c;
		h.gso_size = (uint16_t)(size - h.hdr_len);
		if (setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)))
			return perror("net_bench send: PACKET_VNET_HDR"), 1;
	}
	for (unsigned i = 0; i < batch; i++)
		m[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &sa, .msg_namelen = sizeof(sa),
						      .msg_iov = gso ? v : v + 1, .msg_iovlen = gso ? 2 : 1 } };
	while (now() < t1)
		if (sendmmsg(s, m, batch, 0) < 0 && errno != ENOBUFS)
			return perror("net_bench send"), 1;
	return 0;
}

static void post(unsigned q, uint16_t *avail, uint16_t *idx, uint16_t d)
{
	avail[2 + *idx % QSIZE] = d;
	(*idx)++;
	__atomic_store_n(&avail[1], *idx, __ATOMIC_RELEASE);
	(void)q;
}

static int device(const char *tap, int tx, size_t size, double secs, int tso)
{
	struct net_config nc = { .tap = tap, .fd = -1, .pairs = 1 };
	struct virtio_net *net;
	struct virtio_net_hdr_v1 h;
	struct errmsg err;
	unsigned q = tx ? 1 : 0;
	struct vring_desc *desc;
	uint16_t *avail, *used_idx, idx = 0, last = 0;
	uint32_t feat = (1u << VIRTIO_NET_F_MRG_RXBUF) | (tso ? (1u << VIRTIO_NET_F_CSUM) | (1u << VIRTIO_NET_F_HOST_TSO4) : 0);
	uint64_t n = 0, bytes = 0, slot_size = tx ? (tso ? TSO_FRAME + HDR : 2048) : RXBUF;
	size_t len;
	double t0, t1, c0;

	bus_init(&pio_bus, "pio");
	bus_init(&mmio_bus, "mmio");
	if (gm_init(&mem, MEM, false) || evloop_init(&loop))
		return 1;
	machine = (struct machine){ .mem = &mem, .pio = &pio_bus, .mmio = &mmio_bus, .loop = &loop,
				    .vm_fd = -1, .devices = &devices };
	if (virtio_net_create(&machine, 0, &nc, &net, &err))
		return fprintf(stderr, "net_bench: %s\n", err.text), 1;
	dev = devices.devs[0].priv;
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, feat);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned i = 0; i < 2; i++) {
		wr(VIRTIO_MMIO_QUEUE_SEL, i);
		wr(VIRTIO_MMIO_QUEUE_NUM, QSIZE);
		wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)RING(i));
		wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)(RING(i) + 0x1000));
		wr(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(RING(i) + 0x2000));
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	desc = gm_ptr(&mem, RING(q), 16 * QSIZE);
	avail = gm_ptr(&mem, RING(q) + 0x1000, 4 + 2 * QSIZE);
	used_idx = gm_ptr(&mem, RING(q) + 0x2002, 2);
	for (unsigned i = 0; i < QSIZE; i++) {
		uint8_t *b = gm_ptr(&mem, BUFS(q) + slot_size * i, slot_size);

		len = tx ? make_frame(b + HDR, size, tso, &h) : 0;
		if (tx)
			memcpy(b, &h, sizeof(h));
		desc[i] = (struct vring_desc){ BUFS(q) + slot_size * i,
					       (uint32_t)(tx ? HDR + len : RXBUF),
					       (uint16_t)(tx ? 0 : VRING_DESC_F_WRITE), 0 };
		post(q, avail, &idx, (uint16_t)i);
	}
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	c0 = cpu_secs();
	t0 = now();
	t1 = t0 + secs;
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
	while (now() < t1) {
		bool reaped = false;

		while (last != __atomic_load_n(used_idx, __ATOMIC_ACQUIRE)) {
			uint32_t e[2];

			memcpy(e, gm_ptr(&mem, RING(q) + 0x2004 + 8 * (last % QSIZE), 8), 8);
			last++;
			n++;
			bytes += tx ? desc[e[0]].len - HDR : e[1] - HDR;
			post(q, avail, &idx, (uint16_t)e[0]);
			reaped = true;
		}
		if (reaped)
			wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
		else
			evloop_run_once(&loop, 10);
	}
	report(n, bytes, t0, c0);
	dev_list_destroy(&devices);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "send"))
		return sender(argv[2], strtoul(argv[3], NULL, 0), atof(argv[4]),
			      argc > 5 && !strcmp(argv[5], "gso"));
	if (argc >= 6 && (!strcmp(argv[1], "dev") || !strcmp(argv[1], "plain"))) {
		int tx = !strcmp(argv[3], "tx"), tso = argc > 6 && !strcmp(argv[6], "tso");

		return (argv[1][0] == 'd' ? device : plain)(argv[2], tx, strtoul(argv[4], NULL, 0),
							     atof(argv[5]), tso);
	}
	fprintf(stderr, "usage: net_bench dev|plain TAP tx|rx SIZE SECONDS [tso] | send TAP SIZE SECONDS [gso]\n");
	return 2;
}

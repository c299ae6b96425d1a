/* scenario=net-echo ip=A.B.C.D [port=N]: a minimal virtio-net driver (VERSION_1, MAC,
 * MRG_RXBUF, EVENT_IDX, INDIRECT_DESC negotiated as Linux does) that answers ARP requests and
 * ICMP echo requests for its address and echoes UDP datagrams sent to its port. A datagram
 * whose payload is "quit" is echoed and then ends the scenario (exit 0).
 *
 * mq=1 negotiates MQ and the control queue, turns on 2 queue pairs (VQ_PAIRS_SET) and serves
 * both, answering on the pair a frame came in on.
 *
 * rxbuf=N posts N-byte receive buffers (default 2048): below a frame's size, the device spreads
 * frames over several buffers (MRG_RXBUF, num_buffers > 1) and the driver gathers them.
 *
 * Each frame is answered in its own receive buffer (addresses swapped; the IP and UDP
 * checksums do not change when source and destination swap, ICMP's is updated for the type
 * change), transmitted, and the buffer posted again once the transmit completes.
 *
 * scenario=net-hostile attack=NAME: breaks one receive or transmit rule and checks that the
 * device reports NEEDS_RESET, then that after a reset it delivers a frame again (the host sends
 * frames throughout). */
#include "guest.h"
#include "scenarios.h"
#include "virtio.h"

#define VIRTIO_ID_NET 1
#define NET_F_MAC 5
#define NET_F_MRG_RXBUF 15
#define NET_F_STATUS 16
#define NET_F_CTRL_VQ 17
#define NET_F_MQ 22
#define CTRLQ 4
#define RXQ 0
#define TXQ 1
#define HDR 12
#define RX_BUFS 64
#define BUF_SIZE 2048
#define QUEUE 128

static struct gdev net;
static uint16_t rx_queue_size = QUEUE;
static uint8_t mac[6];
static uint8_t my_ip[4];
static uint16_t my_port = 7;
static uint8_t *bufs[2][GVQ_MAX];
static unsigned pairs = 1;

static bool parse_ip(const char *s, size_t len, uint8_t ip[4])
{
	unsigned part = 0, v = 0, digits = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (!digits || v > 255 || part > 3)
				return false;
			ip[part++] = (uint8_t)v;
			v = digits = 0;
		} else if (s[i] >= '0' && s[i] <= '9') {
			v = v * 10 + (unsigned)(s[i] - '0');
			digits++;
		} else {
			return false;
		}
	}
	return part == 4;
}

static bool post_rx(unsigned pair, uint8_t *buf, uint32_t size)
{
	struct gbuf b = { buf, size, true };
	int head = gvq_add(&net.vqs[RXQ + 2 * pair], &b, 1, false);

	if (head < 0)
		return false;
	bufs[pair][head] = buf;
	return true;
}

/* VIRTIO_NET_CTRL_MQ / VQ_PAIRS_SET through the control queue; true when the device acks. */
static bool set_pairs(unsigned n, unsigned long spins)
{
	uint8_t *cmd = galloc(64);
	struct gbuf b[2] = { { cmd, 4, false }, { cmd + 32, 1, true } };
	uint16_t head;
	uint32_t len;
	int ctrl_head;

	cmd[0] = 4; /* VIRTIO_NET_CTRL_MQ */
	cmd[1] = 0; /* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET */
	cmd[2] = (uint8_t)n;
	cmd[3] = 0;
	cmd[32] = 0xff;
	ctrl_head = gvq_add(&net.vqs[CTRLQ], b, 2, false);
	if (ctrl_head < 0)
		return false;
	gvq_kick(&net.vqs[CTRLQ]);
	if (!gvq_wait(&net.vqs[CTRLQ], &head, &len, spins)) {
		printk("net: no answer to VQ_PAIRS_SET on the control queue\n");
		return false;
	}
	if (head != ctrl_head || len != 1 || cmd[32] != 0) {
		printk("net: VQ_PAIRS_SET answered with head %u (sent %d), len %u, ack %u\n", head,
		       ctrl_head, len, cmd[32]);
		return false;
	}
	return true;
}

static bool net_setup(uint64_t features, uint32_t rx_size, unsigned rx_bufs)
{
	uint64_t want = features | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	uint32_t w0, w1;

	if (!virtio_find(VIRTIO_ID_NET, 0, &net)) {
		printk("net: no virtio-net device\n");
		return false;
	}
	if (!virtio_negotiate(&net, want))
		return false;
	if (virtio_has(&net, NET_F_MQ)) {
		unsigned max = vmmio_read(&net, 0x108) & 0xffff;

		if (max != 2 || !virtio_has(&net, NET_F_CTRL_VQ)) {
			printk("net: MQ with %u pairs (this driver wants 2 and a control queue)\n", max);
			return false;
		}
		pairs = 2;
	}
	for (unsigned p = 0; p < pairs; p++)
		if (!virtio_setup_queue(&net, RXQ + 2 * p, rx_queue_size) ||
		    !virtio_setup_queue(&net, TXQ + 2 * p, QUEUE))
			return false;
	if (pairs > 1 && !virtio_setup_queue(&net, CTRLQ, 16))
		return false;
	w0 = vmmio_read(&net, 0x100);
	w1 = vmmio_read(&net, 0x104);
	for (int i = 0; i < 4; i++)
		mac[i] = (uint8_t)(w0 >> (8 * i));
	mac[4] = (uint8_t)w1;
	mac[5] = (uint8_t)(w1 >> 8);
	/* Receive buffers go up before DRIVER_OK, as Linux's driver does. */
	for (unsigned p = 0; p < pairs; p++)
		for (unsigned i = 0; i < rx_bufs; i++)
			if (!post_rx(p, galloc(rx_size), rx_size))
				return false;
	virtio_driver_ok(&net);
	if (pairs > 1 && !set_pairs(pairs, 20000000UL)) {
		printk("net: VQ_PAIRS_SET %u not acknowledged\n", pairs);
		return false;
	}
	for (unsigned p = 0; p < pairs; p++)
		gvq_kick(&net.vqs[RXQ + 2 * p]);
	return true;
}

static void swap_bytes(uint8_t *a, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t t = a[i];

		a[i] = b[i];
		b[i] = t;
	}
}

/* Builds the answer to @f in place; returns its length, or 0 to drop. *@quit on "quit". */
static uint32_t answer(uint8_t *f, uint32_t len, bool *quit)
{
	uint16_t type;

	if (len < 14)
		return 0;
	type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == 0x0806 && len >= 42) {
		uint8_t *a = f + 14;

		/* Ethernet/IPv4 request for our address. */
		if (a[0] || a[1] != 1 || a[2] != 8 || a[3] || a[7] != 1 || memcmp(a + 24, my_ip, 4))
			return 0;
		a[7] = 2;
		memcpy(a + 18, a + 8, 6);     /* target hw = sender hw */
		memcpy(a + 24, a + 14, 4);    /* target ip = sender ip */
		memcpy(a + 8, mac, 6);
		memcpy(a + 14, my_ip, 4);
		memcpy(f, a + 18, 6);
		memcpy(f + 6, mac, 6);
		return 42;
	}
	if (type == 0x0800 && len >= 34) {
		uint8_t *ip = f + 14;
		unsigned ihl = (ip[0] & 15u) * 4;
		uint32_t tot = (uint32_t)(ip[2] << 8 | ip[3]);
		uint8_t *l4 = ip + ihl;

		if ((ip[0] >> 4) != 4 || ihl < 20 || 14 + tot > len || tot < ihl + 8 ||
		    memcmp(ip + 16, my_ip, 4))
			return 0;
		if (ip[9] == 1 && l4[0] == 8) {
			uint32_t sum = (uint32_t)(l4[2] << 8 | l4[3]) + 0x0800;

			l4[0] = 0; /* echo reply: the checksum grows by what the type lost */
			sum = (sum & 0xffff) + (sum >> 16);
			l4[2] = (uint8_t)(sum >> 8);
			l4[3] = (uint8_t)sum;
		} else if (ip[9] == 17 && (uint16_t)(l4[2] << 8 | l4[3]) == my_port) {
			uint32_t plen = tot - ihl - 8;

			*quit = plen == 4 && !memcmp(l4 + 8, "quit", 4);
			swap_bytes(l4, l4 + 2, 2);
		} else {
			return 0;
		}
		swap_bytes(ip + 12, ip + 16, 4);
		ip[8] = 64;
		/* TTL changed: recompute the header checksum (20-60 bytes, cheap). */
		ip[10] = ip[11] = 0;
		{
			uint32_t s = 0;

			for (unsigned i = 0; i < ihl; i += 2)
				s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
			while (s >> 16)
				s = (s & 0xffff) + (s >> 16);
			s = ~s & 0xffff;
			ip[10] = (uint8_t)(s >> 8);
			ip[11] = (uint8_t)s;
		}
		memcpy(f, f + 6, 6);
		memcpy(f + 6, mac, 6);
		return 14 + tot;
	}
	return 0;
}

static bool transmit(unsigned pair, uint8_t *buf, uint32_t len)
{
	struct gvq *q = &net.vqs[TXQ + 2 * pair];
	struct gbuf b = { buf, len, false };
	uint16_t head;
	uint32_t used;

	if (gvq_add(q, &b, 1, false) < 0)
		return false;
	gvq_kick(q);
	return gvq_wait(q, &head, &used, 20000000UL);
}

int scn_net_echo(void)
{
	const char *ipstr;
	size_t iplen;
	uint64_t port, rxbuf = BUF_SIZE, mq = 0;
	unsigned long answered = 0, multi = 0, per_pair[2] = { 0, 0 };
	unsigned pair = 0;
	uint32_t rx_size;

	ipstr = cmdline_get("ip", &iplen);
	if (!ipstr || !parse_ip(ipstr, iplen, my_ip)) {
		printk("net-echo: needs ip=A.B.C.D\n");
		return GUEST_EXIT_USAGE;
	}
	if (cmdline_get_u64("port", &port))
		my_port = (uint16_t)port;
	if (cmdline_get_u64("rxbuf", &rxbuf) && (rxbuf < 64 || rxbuf > BUF_SIZE)) {
		printk("net-echo: rxbuf=64..%u\n", BUF_SIZE);
		return GUEST_EXIT_USAGE;
	}
	rx_size = (uint32_t)rxbuf;
	cmdline_get_u64("mq", &mq);
	if (!net_setup((1ULL << NET_F_MAC) | (1ULL << NET_F_MRG_RXBUF) | (1ULL << NET_F_STATUS) |
			       (mq ? (1ULL << NET_F_MQ) | (1ULL << NET_F_CTRL_VQ) : 0),
		       rx_size, RX_BUFS))
		return GUEST_EXIT_FAIL;
	if (mq)
		printk("net-echo: %u queue pairs active\n", pairs);
	printk("net-echo: mac %02x:%02x:%02x:%02x:%02x:%02x ip %u.%u.%u.%u udp port %u, mrg_rxbuf %d, ready\n",
	       mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], my_ip[0], my_ip[1], my_ip[2], my_ip[3],
	       my_port, virtio_has(&net, NET_F_MRG_RXBUF));
	for (;;) {
		static uint8_t big[HDR + 1536];
		uint16_t head, nb;
		uint32_t len, out;
		uint8_t *buf, *frame;
		bool quit = false;

		/* Poll the receive queues in turn; answer on the pair the frame came in on. */
		for (;;) {
			pair = (pair + 1) % pairs;
			if (gvq_get(&net.vqs[RXQ + 2 * pair], &head, &len))
				break;
			__asm__ volatile("pause");
		}
		buf = frame = bufs[pair][head];
		nb = (uint16_t)(buf[10] | buf[11] << 8);
		if (len < HDR || nb == 0 || (nb > 1 && !virtio_has(&net, NET_F_MRG_RXBUF))) {
			printk("net-echo: bad receive: len %u num_buffers %u\n", len, nb);
			return GUEST_EXIT_FAIL;
		}
		if (nb > 1) {
			/* Gather the frame's other buffers (they follow in the used ring). */
			uint32_t total = len;

			if (len > sizeof(big))
				return GUEST_EXIT_FAIL;
			memcpy(big, buf, len);
			for (unsigned k = 1; k < nb; k++) {
				uint16_t h2;
				uint32_t l2;

				if (!gvq_wait(&net.vqs[RXQ + 2 * pair], &h2, &l2, 20000000UL) ||
				    total + l2 > sizeof(big)) {
					printk("net-echo: frame of %u buffers incomplete\n", nb);
					return GUEST_EXIT_FAIL;
				}
				memcpy(big + total, bufs[pair][h2], l2);
				total += l2;
				if (!post_rx(pair, bufs[pair][h2], rx_size))
					return GUEST_EXIT_FAIL;
			}
			frame = big;
			len = total;
			multi++;
		}
		out = answer(frame + HDR, len - HDR, &quit);
		if (out) {
			memset(frame, 0, HDR);
			if (!transmit(pair, frame, HDR + out)) {
				printk("net-echo: transmit did not complete\n");
				return GUEST_EXIT_FAIL;
			}
			answered++;
			per_pair[pair]++;
		}
		if (!post_rx(pair, buf, rx_size))
			return GUEST_EXIT_FAIL;
		gvq_kick(&net.vqs[RXQ + 2 * pair]);
		if (quit) {
			printk("net-echo: quit after %lu answers (%lu frames in several buffers; pair 0: %lu, pair 1: %lu)\n",
			       answered, multi, per_pair[0], per_pair[1]);
			return 0;
		}
	}
}

static bool wait_needs_reset(void)
{
	for (unsigned long i = 0; i < 200000000UL; i++) {
		if (vmmio_read(&net, 0x70) & VIRTIO_STATUS_NEEDS_RESET)
			return true;
		__asm__ volatile("pause");
	}
	return false;
}

/* Waits until the device has taken every receive buffer the driver published (it writes
 * avail_event = its next index after each pop, with EVENT_IDX), or NEEDS_RESET. */
static bool wait_taken(struct gvq *q)
{
	volatile uint16_t *avail_event = (volatile uint16_t *)(q->used + 4 + 8 * (uint64_t)q->num);

	for (unsigned long i = 0; i < 200000000UL; i++) {
		if (*avail_event == q->avail_idx)
			return true;
		if (vmmio_read(&net, 0x70) & VIRTIO_STATUS_NEEDS_RESET)
			return false;
		__asm__ volatile("pause");
	}
	return false;
}

/* mrg-queue-of-one (issue 13, finding 1): MRG_RXBUF with a receive queue of one entry. A frame
 * from the host overflows the first (12-byte) buffer; the driver then re-posts its only head
 * with a 1-byte buffer each time the device took the previous one. A device that counts the
 * chains it holds against the queue size only after adding one never stops: it wrote past its
 * 256-entry arrays (host heap overflow). It must fail instead. */
static void attack_mrg_queue_of_one(void)
{
	struct gvq *q = &net.vqs[RXQ];
	volatile uint16_t *used_idx = (volatile uint16_t *)(q->used + 2);
	uint8_t *one = galloc(4096);
	uint16_t seen = *used_idx;

	for (unsigned i = 0; i < 4000; i++) {
		uint32_t len = 1;

		if (!wait_taken(q))
			return;
		/* A small frame (the host's IPv6 or ARP chatter) may have been completed and
		 * returned: the next chain then starts a frame and needs room for the header. */
		if (*used_idx != seen) {
			seen = *used_idx;
			len = HDR;
		}
		q->desc[0] = (struct gdesc){ (uintptr_t)one, len, VRING_DESC_F_WRITE, 0 };
		q->avail[2 + q->avail_idx % q->num] = 0;
		wmb();
		q->avail_idx++;
		q->avail[1] = q->avail_idx;
		mb();
		vmmio_write(&net, 0x50, RXQ);
	}
}

static int ctrl_while_frame_waits(void)
{
	struct gvq *rx = &net.vqs[RXQ];
	uint8_t *big = galloc(BUF_SIZE);
	unsigned used = 0;
	uint16_t head;
	uint32_t len;

	/* The host sends a 1442-byte frame every 0.2 s: wait well past the first one. */
	for (unsigned i = 0; i < 300000; i++)
		(void)inb(0x80);
	post_rx(0, big, BUF_SIZE);                 /* published, not notified */
	if (!set_pairs(2, 2000000UL))
		return GUEST_EXIT_FAIL;
	while (used < 2 && gvq_wait(rx, &head, &len, 200000UL))
		used++;
	if (used < 2) {
		printk("net-hostile: the waiting frame did not arrive (%u buffers used)\n", used);
		return GUEST_EXIT_FAIL;
	}
	printk("net-hostile: control command answered on the control queue, frame delivered\n");
	return 0;
}

int scn_net_hostile(void)
{
	const char *attack;
	size_t alen;
	void (*after_armed)(void) = NULL;
	bool expect_reset = true;

	attack = cmdline_get("attack", &alen);
	if (!attack) {
		printk("net-hostile: needs attack=NAME\n");
		return GUEST_EXIT_USAGE;
	}
#define IS(s) (alen == sizeof(s) - 1 && !strncmp(attack, s, alen))
	if (IS("short-header")) {
		uint8_t *b = galloc(64);
		struct gbuf g = { b, 6, false };

		if (!net_setup(1ULL << NET_F_MRG_RXBUF, BUF_SIZE, 8))
			return GUEST_EXIT_FAIL;
		gvq_add(&net.vqs[TXQ], &g, 1, false);
		gvq_kick(&net.vqs[TXQ]);
	} else if (IS("no-writable")) {
		/* A receive "buffer" the device may only read: it must not write a frame into it. */
		uint8_t *b = galloc(BUF_SIZE);
		struct gbuf g = { b, BUF_SIZE, false };

		if (!net_setup(1ULL << NET_F_MRG_RXBUF, BUF_SIZE, 0))
			return GUEST_EXIT_FAIL;
		gvq_add(&net.vqs[RXQ], &g, 1, false);
		gvq_kick(&net.vqs[RXQ]);
	} else if (IS("small-rx")) {
		/* Without MRG_RXBUF each frame must fit one buffer: these 32-byte ones cannot (an ARP
		 * request is 54 bytes with the header). No rule of the driver's is broken and the
		 * frames come from the network: the device drops them and stays up (issue 13,
		 * finding 11; it used to set NEEDS_RESET, so a peer could disable the NIC). */
		if (!net_setup(0, 32, 16))
			return GUEST_EXIT_FAIL;
		expect_reset = false;
	} else if (IS("ctrl-while-frame-waits")) {
		/* Issue 13, finding 7: no rule broken. Pair 0 has one 12-byte receive buffer, so a
		 * large frame from the host waits for more; the driver posts one (no notify) and
		 * sends VQ_PAIRS_SET, which lets receive go on while the command is answered. */
		if (!net_setup((1ULL << NET_F_MRG_RXBUF) | (1ULL << NET_F_MQ) | (1ULL << NET_F_CTRL_VQ),
			       HDR, 1) || pairs != 2)
			return GUEST_EXIT_FAIL;
		printk("net-hostile: ctrl-while-frame-waits armed\n");
		return ctrl_while_frame_waits();
	} else if (IS("mrg-queue-of-one")) {
		rx_queue_size = 1;
		if (!net_setup(1ULL << NET_F_MRG_RXBUF, HDR, 1))
			return GUEST_EXIT_FAIL;
		after_armed = attack_mrg_queue_of_one;
	} else {
		printk("net-hostile: unknown attack\n");
		return GUEST_EXIT_USAGE;
	}
#undef IS
	printk("net-hostile: ");
	con_write(attack, alen);
	printk(" armed\n");
	if (after_armed)
		after_armed();
	if (!expect_reset) {
		uint16_t head;
		uint32_t len;

		/* The host sends a frame every 0.2 s: let a few seconds' worth arrive. */
		for (unsigned i = 0; i < 300000; i++)
			(void)inb(0x80);
		if (vmmio_read(&net, 0x70) != 0xf || gvq_get(&net.vqs[RXQ], &head, &len)) {
			printk("net-hostile: status 0x%x after frames that fit no buffer\n",
			       vmmio_read(&net, 0x70));
			return GUEST_EXIT_FAIL;
		}
		printk("net-hostile: frames that fit no buffer dropped, device up\n");
	} else if (!wait_needs_reset()) {
		printk("net-hostile: no NEEDS_RESET (status 0x%x)\n", vmmio_read(&net, 0x70));
		return GUEST_EXIT_FAIL;
	} else {
		printk("net-hostile: device reports NEEDS_RESET\n");
	}
	/* A reset brings the device back: it takes a normal setup and delivers the host's next
	 * frame. */
	vmmio_write(&net, 0x70, 0);
	if (vmmio_read(&net, 0x70) != 0) {
		printk("net-hostile: reset did not clear the status\n");
		return GUEST_EXIT_FAIL;
	}
	rx_queue_size = QUEUE;
	if (!net_setup(1ULL << NET_F_MRG_RXBUF, BUF_SIZE, 8)) {
		printk("net-hostile: setup after reset failed\n");
		return GUEST_EXIT_FAIL;
	}
	{
		uint16_t head;
		uint32_t len;

		if (!gvq_wait(&net.vqs[RXQ], &head, &len, 2000000UL) || len <= HDR) {
			printk("net-hostile: no frame received after reset\n");
			return GUEST_EXIT_FAIL;
		}
	}
	printk("net-hostile: recovered after reset\n");
	return 0;
}

/* For scenario=storm (scn_blk.c): the NIC up with no receive buffer at all, so that frames the
 * host floods in have nowhere to go; the VMM must leave them in the tap's own queue. */
bool net_storm_open(void)
{
	return net_setup(0, 2048, 0);
}

/* Then 16 buffers go up: frames must arrive again. Returns how many came within the wait. */
unsigned net_storm_receive(void)
{
	unsigned got = 0;
	uint16_t head;
	uint32_t len;

	for (unsigned i = 0; i < 16; i++)
		if (!post_rx(0, galloc(2048), 2048))
			return 0;
	gvq_kick(&net.vqs[RXQ]);
	while (got < 16 && gvq_wait(&net.vqs[RXQ], &head, &len, 2000000UL))
		got++;
	return got;
}

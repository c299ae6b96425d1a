/* scenario=console: virtio-console port 0. Prints a greeting through the transmit queue, then
 * echoes input lines from the receive queue until a line ".". */
#include "guest.h"
#include "scenarios.h"
#include "virtio.h"

#define RXQ 0
#define TXQ 1
#define RX_BUFS 8
#define RX_BUF_SIZE 64

static struct gdev con;

static bool con_send(const char *s, size_t n)
{
	char *buf = galloc(n);
	struct gbuf b = { buf, (uint32_t)n, false };
	uint16_t head;
	uint32_t len;

	memcpy(buf, s, n);
	if (gvq_add(&con.vqs[TXQ], &b, 1, false) < 0)
		return false;
	gvq_kick(&con.vqs[TXQ]);
	return gvq_wait(&con.vqs[TXQ], &head, &len, 2000000UL);
}

static void con_print(const char *s)
{
	con_send(s, strlen(s));
}

int scn_console(void)
{
	static char *rx[GVQ_MAX];
	char line[128];
	size_t n = 0;
	uint64_t want = (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC);

	if (!virtio_find(VIRTIO_ID_CONSOLE, 0, &con)) {
		printk("console: no virtio-console device\n");
		return GUEST_EXIT_FAIL;
	}
	if (!virtio_negotiate(&con, want) || !virtio_setup_queue(&con, RXQ, 32) ||
	    !virtio_setup_queue(&con, TXQ, 32))
		return GUEST_EXIT_FAIL;
	/* Receive buffers go up before DRIVER_OK, so no input finds the queue empty. */
	for (unsigned i = 0; i < RX_BUFS; i++) {
		char *buf = galloc(RX_BUF_SIZE);
		struct gbuf b = { buf, RX_BUF_SIZE, true };
		int head = gvq_add(&con.vqs[RXQ], &b, 1, false);

		if (head < 0)
			return GUEST_EXIT_FAIL;
		rx[head] = buf;
	}
	virtio_driver_ok(&con);
	gvq_kick(&con.vqs[RXQ]);
	con_print("virtio-console: hello\n");
	for (;;) {
		uint16_t head;
		uint32_t len;

		if (!gvq_wait(&con.vqs[RXQ], &head, &len, 5000000UL)) {
			printk("console: no input\n");
			return GUEST_EXIT_FAIL;
		}
		for (uint32_t i = 0; i < len && i < RX_BUF_SIZE; i++) {
			char c = rx[head][i];

			if (c != '\n' && c != '\r') {
				if (n < sizeof(line))
					line[n++] = c;
				continue;
			}
			if (n == 1 && line[0] == '.') {
				con_print("virtio-console: done\n");
				return 0;
			}
			con_print("virtio-console: ");
			con_send(line, n);
			con_print("\n");
			n = 0;
		}
		/* Give the buffer back. */
		char *buf = rx[head];
		struct gbuf b = { buf, RX_BUF_SIZE, true };
		int h = gvq_add(&con.vqs[RXQ], &b, 1, false);

		if (h < 0)
			return GUEST_EXIT_FAIL;
		rx[h] = buf;
		gvq_kick(&con.vqs[RXQ]);
	}
}

/* scenario=console-flood (issue 13, finding 8): keeps the transmit ring full for ever, offering
 * each 4 KiB chain again the moment the device returns it (no rule broken). The VMM must still
 * get to its other work: with --timeout it stops the guest (status 124). Before the transmit
 * handler had a batch limit, the I/O thread stayed in it while the guest kept up. */
int scn_console_flood(void)
{
	struct gvq *q;
	uint8_t *data;
	uint64_t want = 1ULL << VIRTIO_RING_F_EVENT_IDX;
	unsigned long recycled = 0;

	if (!virtio_find(VIRTIO_ID_CONSOLE, 0, &con)) {
		printk("console-flood: no virtio-console device\n");
		return GUEST_EXIT_FAIL;
	}
	if (!virtio_negotiate(&con, want) || !virtio_setup_queue(&con, RXQ, 8) ||
	    !virtio_setup_queue(&con, TXQ, 256))
		return GUEST_EXIT_FAIL;
	virtio_driver_ok(&con);
	q = &con.vqs[TXQ];
	data = galloc(4096);
	memset(data, 'x', 4096);
	data[4095] = '\n';
	printk("console-flood: flooding\n");
	for (;;) {
		struct gbuf b = { data, 4096, false };
		uint16_t head;
		uint32_t len;

		while (gvq_add(q, &b, 1, false) >= 0)
			;
		gvq_kick(q);
		while (!gvq_get(q, &head, &len))
			__asm__ volatile("pause");
		if (++recycled % 100000 == 0)
			printk("console-flood: %lu chains\n", recycled);
	}
}

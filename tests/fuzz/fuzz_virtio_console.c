/* libFuzzer target: virtio-console (tests/fuzz/fuzz_vdev.h drives it), output to /dev/null,
 * input pushed as the stdin path does. A device serves 64 inputs (FZ_RECREATE), reset in
 * between; FZ_FRESH=1 replays an input on a new one. Extra ops:
 *   INPUT len8 bytes           input for the guest (virtio_console_push_input)
 *   TXBUF head len16           a one-buffer transmit chain
 *   RXBUF head len16 w         a one-buffer receive chain (w: device-writable or not) */
#include <stdio.h>

#define FZ_RECREATE 64
#include "tests/fuzz/fuzz_vdev.h"
#include "virtio/console.h"

static struct virtio_console *con;

static int fz_dev_create(struct fz *f)
{
	struct chardev_config cc = { .mode = CHARDEV_FILE, .path = "/dev/null" };
	struct errmsg err;

	if (virtio_console_create(&f->v.m, vdrv_slot(&f->v), &f->v.input, &cc, &con, &err)) {
		fprintf(stderr, "fuzz_virtio_console: %s\n", err.text);
		return -1;
	}
	f->nq = 2;
	return 0;
}

static void fz_dev_destroy(struct fz *f)
{
	(void)f;
	vdrv_destroy_devices(&f->v);
	con = NULL;
}

static void fz_dev_renew(struct fz *f)
{
	(void)f; /* nothing outside the device: its output goes to /dev/null */
}

static unsigned fz_dev_nops(void)
{
	return 3;
}

static void fz_dev_op(struct fz *f, unsigned op)
{
	uint8_t buf[256];

	switch (op) {
	case 0: { /* INPUT */
		uint8_t len = fz_u8(f);

		for (unsigned i = 0; i < len; i++)
			buf[i] = fz_u8(f);
		virtio_console_push_input(con, buf, len);
		break;
	}
	case 1:   /* TXBUF */
	case 2: { /* RXBUF */
		unsigned q = op == 1 ? 1 : 0;
		uint16_t head = fz_u8(f), len = fz_u16(f) % 4096 + 1, num = f->v.q[q].num;
		bool w = op == 2 && !(fz_u8(f) & 0x80);

		if (!num)
			break;
		vdrv_desc(&f->v, q, head, vdrv_alloc(&f->v, len), len, w ? VRING_DESC_F_WRITE : 0, 0);
		fz_publish(f, q, (uint16_t)(head % num));
		break;
	}
	}
}

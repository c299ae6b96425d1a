/* virtio-console host-side: the real device behind the real transport (tests/unit/vdrv.h),
 * its output a pipe the test reads. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "tests/unit/vdrv.h"
#include "virtio/console.h"

#define RAM (1ULL << 20)
#define RXQ 0
#define TXQ 1
#define CHUNK 4096

static struct vdrv v;
static struct virtio_console *con;
static int out[2];
static char out_path[64];

static void setup(void)
{
	struct chardev_config cc = { .mode = CHARDEV_FILE, .path = out_path };
	struct errmsg err;

	ck_assert_int_eq(vdrv_init(&v, RAM), 0);
	ck_assert_int_eq(pipe(out), 0);
	snprintf(out_path, sizeof(out_path), "/proc/self/fd/%d", out[1]);
	ck_assert_msg(virtio_console_create(&v.m, vdrv_slot(&v), &v.input, &cc, &con, &err) == 0, "%s", err.text);
	close(out[1]);          /* the console has its own descriptor for the pipe */
	vdrv_attach(&v);
}

static void teardown(void)
{
	vdrv_destroy_devices(&v);
	close(out[0]);
	vdrv_fini(&v);
}

START_TEST(transmit_and_receive)
{
	uint64_t tx = vdrv_alloc(&v, 16), rx = vdrv_alloc(&v, 16);
	uint32_t id, len;
	char got[8] = "";

	ck_assert(vdrv_start(&v, 0, 2, 8));
	memcpy(vdrv_ptr(&v, tx, 5), "hello", 5);
	vdrv_desc(&v, TXQ, 2, tx, 5, 0, 0);
	vdrv_publish(&v, TXQ, 2);
	vdrv_kick(&v, TXQ);
	ck_assert(vdrv_used(&v, TXQ, &id, &len));
	ck_assert_uint_eq(id, 2);
	ck_assert_int_eq(read(out[0], got, sizeof(got)), 5);
	ck_assert(!memcmp(got, "hello", 5));
	vdrv_desc(&v, RXQ, 1, rx, 16, VRING_DESC_F_WRITE, 0);
	vdrv_publish(&v, RXQ, 1);
	vdrv_kick(&v, RXQ);
	ck_assert_uint_eq(virtio_console_push_input(con, (const uint8_t *)"abc", 3), 3);
	ck_assert(vdrv_used(&v, RXQ, &id, &len));
	ck_assert_uint_eq(len, 3);
	ck_assert(!memcmp(vdrv_ptr(&v, rx, 3), "abc", 3));
}
END_TEST

/* The guest of transmit_yields_the_io_thread, on its own thread like a vCPU: it reads the
 * console's output (a one-page pipe, so the device blocks on each 4 KiB chain until it is
 * read) and offers again each chain once the device has returned it, keeping the ring full. */
static volatile int guest_stop;
static uint16_t order[8192];
static unsigned published;

static void *recycling_guest(void *arg)
{
	static uint8_t buf[CHUNK];
	unsigned k = 0;

	(void)arg;
	for (;;) {
		size_t got = 0;

		while (got < CHUNK) {
			ssize_t n = read(out[0], buf + got, CHUNK - got);

			if (n <= 0)
				return NULL;
			got += (size_t)n;
		}
		/* Chain k is written out, so chain k - 1 was returned before it. */
		if (k > 0 && !guest_stop && published < 4000) {
			order[published++] = order[k - 1];
			vdrv_publish(&v, TXQ, order[k - 1]);
		}
		k++;
	}
}

/* Issue 13, finding 8: console_tx() took chains until the ring was empty; a guest recycling
 * them from another vCPU kept it (and so the I/O thread) there. At most VIRTIO_BATCH chains
 * per call, then the handler queues itself again. */
START_TEST(transmit_yields_the_io_thread)
{
	uint64_t data = vdrv_alloc(&v, CHUNK);
	pthread_t t;

	ck_assert_int_ge(fcntl(out[0], F_SETPIPE_SZ, CHUNK), CHUNK);
	ck_assert(vdrv_start(&v, 0, 2, 256));
	for (uint16_t i = 0; i < 256; i++) {
		vdrv_desc(&v, TXQ, i, data, CHUNK, 0, 0);
		order[published++] = i;
		vdrv_publish(&v, TXQ, i);
	}
	guest_stop = 0;
	ck_assert_int_eq(pthread_create(&t, NULL, recycling_guest, NULL), 0);
	vdrv_wr(&v, VIRTIO_MMIO_QUEUE_NOTIFY, TXQ);
	ck_assert_int_eq(evloop_run_once(&v.loop, 0), 1);   /* one call of the handler */
	guest_stop = 1;
	ck_assert_msg(vdrv_used_idx(&v, TXQ) <= VIRTIO_BATCH, "%u chains in one call",
		      vdrv_used_idx(&v, TXQ));
	ck_assert_int_eq(evloop_run_once(&v.loop, 0), 1);   /* it queued itself again */
	vdrv_destroy_devices(&v);                            /* EOF for the reader */
	con = NULL;
	pthread_join(t, NULL);
}
END_TEST

Suite *suite_virtio_console(void)
{
	Suite *s = suite_create("virtio_console");
	TCase *tc = tcase_create("device");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, transmit_and_receive);
	tcase_add_test(tc, transmit_yields_the_io_thread);
	suite_add_tcase(s, tc);
	return s;
}

/* virtio-console host-side: the real device behind the real transport (tests/unit/vdrv.h),
 * its output a pipe the test reads. */
#include <fcntl.h>
#include <libfdt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "tests/unit/vdrv.h"
#include "virtio/console.h"
#include "virtio/transport_state.h"
#include "vmm/state.h"

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

/* Issue 13, finding 8: console_tx() took chains until the ring was empty; a guest recycling
 * them from another vCPU kept it (and so the I/O thread) there. At most VIRTIO_BATCH chains
 * per call, then the handler queues itself again. A full ring of VQ_MAX_SIZE chains to an
 * output that never blocks (a regular file) reaches the limit in one call. */
START_TEST(transmit_yields_the_io_thread)
{
	uint64_t data = vdrv_alloc(&v, CHUNK);

	ck_assert(vdrv_start(&v, 0, 2, VQ_MAX_SIZE));
	for (uint16_t i = 0; i < VQ_MAX_SIZE; i++) {
		vdrv_desc(&v, TXQ, i, data, CHUNK, 0, 0);
		vdrv_publish(&v, TXQ, i);
	}
	vdrv_wr(&v, VIRTIO_MMIO_QUEUE_NOTIFY, TXQ);
	ck_assert_int_eq(evloop_run_once(&v.loop, 0), 1);   /* one call of the handler */
	ck_assert_uint_eq(vdrv_used_idx(&v, TXQ), VIRTIO_BATCH);
	ck_assert_int_eq(evloop_run_once(&v.loop, 0), 1);   /* it queued itself again */
}
END_TEST

/* Found in review: a regular file takes any write whole, so one chain of GiBs (descriptors
 * may repeat the same RAM) held the I/O thread until written. A call writes at most 4 MiB,
 * then queues the handler again, the chain held meanwhile. */
START_TEST(transmit_of_a_huge_chain_yields)
{
	enum { BUFS = 16, BUF = 512 << 10 };
	struct chardev_config cc = { .mode = CHARDEV_FILE };
	char file[] = "/tmp/minivmm-unit-console-XXXXXX";
	struct errmsg err;
	struct stat st;
	uint64_t data;
	int fd = mkstemp(file);

	ck_assert_int_ge(fd, 0);
	vdrv_destroy_devices(&v);
	vdrv_fini(&v);
	ck_assert_int_eq(vdrv_init(&v, RAM), 0);
	cc.path = file;
	ck_assert_msg(virtio_console_create(&v.m, vdrv_slot(&v), &v.input, &cc, &con, &err) == 0,
		      "%s", err.text);
	vdrv_attach(&v);
	ck_assert(vdrv_start(&v, 0, 2, 32));
	data = vdrv_alloc(&v, BUF);
	for (uint16_t k = 0; k < BUFS; k++)
		vdrv_desc(&v, TXQ, k, data, BUF, k + 1 < BUFS ? VRING_DESC_F_NEXT : 0,
			  (uint16_t)(k + 1));
	vdrv_publish(&v, TXQ, 0);
	vdrv_wr(&v, VIRTIO_MMIO_QUEUE_NOTIFY, TXQ);
	ck_assert_int_eq(evloop_run_once(&v.loop, 0), 1);   /* one call of the handler */
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 4 << 20);
	ck_assert_uint_eq(vdrv_used_idx(&v, TXQ), 0);        /* held, not returned */
	ck_assert_int_eq(evloop_run_once(&v.loop, 0), 1);   /* it queued itself again */
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, BUFS * BUF);
	ck_assert_uint_eq(vdrv_used_idx(&v, TXQ), 1);
	close(fd);
	unlink(file);
}
END_TEST

/* Issue 16: the output's reader stops (a one-page pipe nobody reads). The device keeps the
 * chain the pipe could not take whole and returns nothing more; the event loop has nothing to
 * do (it does not spin and does not block); once the reader reads, the output goes on where
 * it stopped, in order, and every chain comes back. */
START_TEST(transmit_waits_for_a_stalled_reader)
{
	enum { CHAINS = 4 };
	uint64_t data[CHAINS];
	static char got[CHAINS * CHUNK];
	size_t n = 0;

	ck_assert_int_ge(fcntl(out[0], F_SETPIPE_SZ, CHUNK), CHUNK);
	ck_assert(vdrv_start(&v, 0, 2, 8));
	for (uint16_t i = 0; i < CHAINS; i++) {
		data[i] = vdrv_alloc(&v, CHUNK);
		memset(vdrv_ptr(&v, data[i], CHUNK), 'a' + i, CHUNK);
		vdrv_desc(&v, TXQ, i, data[i], CHUNK, 0, 0);
		vdrv_publish(&v, TXQ, i);
	}
	vdrv_kick(&v, TXQ);
	ck_assert_uint_eq(vdrv_used_idx(&v, TXQ), 1);       /* the pipe took one chain */
	ck_assert_int_eq(evloop_run_once(&v.loop, 50), 0);  /* and waits: nothing to do */
	ck_assert_uint_eq(vdrv_used_idx(&v, TXQ), 1);
	while (n < sizeof(got)) {
		ssize_t r = read(out[0], got + n, sizeof(got) - n);

		ck_assert_int_gt(r, 0);
		n += (size_t)r;
		/* room again: the wait ends, then the queue's handler writes on */
		while (n < sizeof(got) && evloop_run_once(&v.loop, 0) > 0)
			;
	}
	ck_assert_uint_eq(vdrv_used_idx(&v, TXQ), CHAINS);
	for (unsigned i = 0; i < CHAINS; i++)
		for (unsigned k = 0; k < CHUNK; k++)
			ck_assert_int_eq(got[i * CHUNK + k], 'a' + (int)i);
}
END_TEST

/* Offers @chains transmit chains of @len bytes each (heads 0.., chain i filled with 'a' + i)
 * and kicks the queue once. */
static void queue_tx_chains(uint16_t chains, uint32_t len)
{
	for (uint16_t i = 0; i < chains; i++) {
		uint64_t data = vdrv_alloc(&v, len);

		memset(vdrv_ptr(&v, data, len), 'a' + i, len);
		vdrv_desc(&v, TXQ, i, data, len, 0, 0);
		vdrv_publish(&v, TXQ, i);
	}
	vdrv_kick(&v, TXQ);
}

/* Reads the console's output pipe (made non-blocking) into @buf while the event loop of @vm
 * runs, until the device has returned @chains transmit chains, then what is left in the pipe.
 * Returns the bytes read. */
static size_t drain_output(struct vdrv *vm, uint16_t chains, char *buf, size_t cap)
{
	size_t n = 0;

	ck_assert_int_eq(fcntl(out[0], F_SETFL, O_NONBLOCK), 0);
	for (int round = 0; round < 200 && vdrv_used_idx(vm, TXQ) < chains; round++) {
		ssize_t r = read(out[0], buf + n, cap - n);

		if (r > 0)
			n += (size_t)r;
		while (evloop_run_once(&vm->loop, 5) > 0)
			;
	}
	for (ssize_t r; (r = read(out[0], buf + n, cap - n)) > 0;)
		n += (size_t)r;
	return n;
}

/* Found in review: input that arrives while a transmit chain is held must not touch the held
 * chain (the two paths once shared one struct vq_chain: the held output was lost and its head
 * stayed held for ever). Then a pause gives the held chain back and the resume writes on where
 * it stopped: every byte once, in order. */
START_TEST(input_and_pause_while_transmit_held)
{
	enum { CHAINS = 3 };
	uint64_t rx = vdrv_alloc(&v, 16);
	static char got[CHAINS * CHUNK + 1];
	size_t n = 0;
	uint32_t id, len;
	struct virtio_dev *d = v.dev;

	ck_assert_int_ge(fcntl(out[0], F_SETPIPE_SZ, CHUNK), CHUNK);
	ck_assert(vdrv_start(&v, 0, 2, 8));
	queue_tx_chains(CHAINS, CHUNK);
	ck_assert_uint_eq(vdrv_used_idx(&v, TXQ), 1);
	vdrv_desc(&v, RXQ, 5, rx, 16, VRING_DESC_F_WRITE, 0);
	vdrv_publish(&v, RXQ, 5);
	ck_assert_uint_eq(virtio_console_push_input(con, (const uint8_t *)"abc", 3), 3);
	ck_assert(vdrv_used(&v, RXQ, &id, &len));
	ck_assert_uint_eq(id, 5);
	ck_assert(!memcmp(vdrv_ptr(&v, rx, 3), "abc", 3));
	/* half of the second chain out, then a pause and a resume */
	ck_assert_int_eq(read(out[0], got, CHUNK / 2), CHUNK / 2);
	n = CHUNK / 2;
	while (evloop_run_once(&v.loop, 0) > 0)
		;
	ck_assert_int_eq(virtio_dev_list_ops.pause(d), 0);
	virtio_dev_list_ops.resume(d);
	n += drain_output(&v, CHAINS, got + n, sizeof(got) - n);
	ck_assert_uint_eq(vdrv_used_idx(&v, TXQ), CHAINS);
	ck_assert_uint_eq(n, CHAINS * CHUNK);
	for (unsigned i = 0; i < CHAINS * CHUNK; i++)
		ck_assert_int_eq(got[i], 'a' + (int)(i / CHUNK));
	ck_assert(!vdrv_needs_reset(&v));
}
END_TEST

static int save_fill(void *fdt, void *arg)
{
	int node = state_add_node(fdt, 0, "devices");

	return node < 0 ? node : dev_list_save(arg, fdt, node);
}

/* A snapshot taken while the output held a chain half written, restored into a new device:
 * the restored VM must not write that half again (it once did: the count of bytes written
 * was not in the saved state, so the first chain after a restore came out whole again). */
START_TEST(restore_while_transmit_held_writes_each_byte_once)
{
	enum { CHAINS = 2, LEN = CHUNK + CHUNK / 2 };
	static char got[2 * CHAINS * LEN];
	static struct vdrv v2;
	struct chardev_config cc = { .mode = CHARDEV_FILE, .path = out_path };
	struct errmsg err;
	void *fdt = NULL;
	size_t n, fdt_len;
	int queued;

	/* A pipe of two pages: the first chain and a third of the second fit. */
	ck_assert_int_eq(fcntl(out[0], F_SETPIPE_SZ, 2 * CHUNK), 2 * CHUNK);
	ck_assert(vdrv_start(&v, 0, 2, 8));
	queue_tx_chains(CHAINS, LEN);
	ck_assert_uint_eq(vdrv_used_idx(&v, TXQ), 1);   /* the second chain is held */
	ck_assert_int_eq(ioctl(out[0], FIONREAD, &queued), 0);
	ck_assert_int_eq(queued, 2 * CHUNK);             /* part of it written */
	ck_assert_int_eq(dev_list_pause(&v.devices), 0);
	ck_assert_int_eq(state_build(save_fill, &v.devices, 1 << 20, &fdt, &fdt_len), 0);

	/* The restore: a new VM with the same RAM, its console (its own descriptor for the
	 * pipe) loads the saved state; the old one is gone. */
	ck_assert_int_eq(vdrv_init(&v2, RAM), 0);
	memcpy(v2.ram, v.ram, RAM);
	memcpy(v2.q, v.q, sizeof(v.q));
	v2.brk = v.brk;
	vdrv_destroy_devices(&v);
	snprintf(out_path, sizeof(out_path), "/proc/self/fd/%d", out[0]); /* the pipe, to write */
	ck_assert_msg(virtio_console_create(&v2.m, vdrv_slot(&v2), &v2.input, &cc, &con, &err) == 0,
		      "%s", err.text);
	vdrv_attach(&v2);
	ck_assert_msg(dev_list_load(&v2.devices, fdt, fdt_subnode_offset(fdt, 0, "devices"), &err) == 0,
		      "%s", err.text);
	free(fdt);
	dev_list_resume(&v2.devices);

	n = drain_output(&v2, CHAINS, got, sizeof(got));
	ck_assert_uint_eq(vdrv_used_idx(&v2, TXQ), CHAINS);
	/* each chain once */
	ck_assert_uint_eq(n, CHAINS * LEN);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(got[i], i < LEN ? 'a' : 'b');
	ck_assert(!vdrv_needs_reset(&v2));
	vdrv_fini(&v2);
}
END_TEST

static char file_path[64];

/* The output a regular file, which never blocks. */
static void setup_file(void)
{
	struct chardev_config cc = { .mode = CHARDEV_FILE, .path = file_path };
	struct errmsg err;
	int fd;

	snprintf(file_path, sizeof(file_path), "/tmp/minivmm-unit-console.XXXXXX");
	ck_assert_int_ge(fd = mkstemp(file_path), 0);
	close(fd);
	ck_assert_int_eq(vdrv_init(&v, RAM), 0);
	ck_assert_msg(virtio_console_create(&v.m, vdrv_slot(&v), &v.input, &cc, &con, &err) == 0, "%s", err.text);
	vdrv_attach(&v);
	out[0] = -1;
}

static void teardown_file(void)
{
	vdrv_destroy_devices(&v);
	vdrv_fini(&v);
	unlink(file_path);
}

Suite *suite_virtio_console(void)
{
	Suite *s = suite_create("virtio_console");
	TCase *tc = tcase_create("device");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, transmit_and_receive);
	tcase_add_test(tc, transmit_waits_for_a_stalled_reader);
	tcase_add_test(tc, input_and_pause_while_transmit_held);
	tcase_add_test(tc, restore_while_transmit_held_writes_each_byte_once);
	suite_add_tcase(s, tc);
	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup_file, teardown_file);
	tcase_add_test(tc, transmit_yields_the_io_thread);
	tcase_add_test(tc, transmit_of_a_huge_chain_yields);
	suite_add_tcase(s, tc);
	return s;
}

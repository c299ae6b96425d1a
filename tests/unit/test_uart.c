#include <fcntl.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "devices/uart.h"
#include "tests/unit/unit.h"

struct irq_log {
	int level;
	int changes;
	int ready;
};

static void log_irq(void *opaque, int level)
{
	struct irq_log *l = opaque;

	l->level = level;
	l->changes++;
}

static void log_ready(void *opaque)
{
	((struct irq_log *)opaque)->ready++;
}

static const struct uart_ops ops = { log_irq, log_ready };

static uint8_t rd(struct uart *u, unsigned reg)
{
	uint8_t v = 0xee;

	uart_io(NULL, reg, &v, 1, false, u);
	return v;
}

static void wr(struct uart *u, unsigned reg, uint8_t v)
{
	uart_io(NULL, reg, &v, 1, true, u);
}

START_TEST(reset_state_and_transmit)
{
	struct irq_log l = { 0 };
	int p[2];
	char out[8] = "";
	struct uart *u;

	ck_assert_int_eq(pipe(p), 0);
	u = uart_create(p[1], &ops, &l);
	ck_assert_uint_eq(rd(u, 5), 0x60);          /* LSR: THRE | TEMT */
	ck_assert_uint_eq(rd(u, 2), 0x01);          /* IIR: no interrupt, FIFO off */
	ck_assert_uint_eq(rd(u, 6) & 0xb0, 0xb0);   /* MSR: DCD DSR CTS */
	wr(u, 0, 'h');
	wr(u, 0, 'i');
	ck_assert_int_eq(read(p[0], out, sizeof(out)), 2);
	ck_assert(!memcmp(out, "hi", 2));
	ck_assert_int_eq(l.changes, 0);             /* no IER: no interrupt */
	uart_destroy(u);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(divisor_latch_and_scratch)
{
	struct uart *u = uart_create(-1, NULL, NULL);

	wr(u, 3, 0x80);
	wr(u, 0, 0x01);
	wr(u, 1, 0x02);
	ck_assert_uint_eq(rd(u, 0), 0x01);
	ck_assert_uint_eq(rd(u, 1), 0x02);
	wr(u, 3, 0x03);
	ck_assert_uint_eq(rd(u, 1), 0x00);          /* IER again, untouched by DLM */
	ck_assert_uint_eq(rd(u, 3), 0x03);
	wr(u, 7, 0x5a);
	ck_assert_uint_eq(rd(u, 7), 0x5a);
	uart_destroy(u);
}
END_TEST

START_TEST(thr_empty_interrupt_semantics)
{
	struct irq_log l = { 0 };
	struct uart *u = uart_create(-1, &ops, &l);

	wr(u, 1, 0x02);                             /* enable THRI while THR is empty */
	ck_assert_int_eq(l.level, 1);
	ck_assert_uint_eq(rd(u, 2) & 0x0f, 0x02);   /* IIR: THRI, and reading acknowledges it */
	ck_assert_int_eq(l.level, 0);
	ck_assert_uint_eq(rd(u, 2) & 0x0f, 0x01);
	wr(u, 0, 'x');                              /* transmitted at once: THRI again */
	ck_assert_int_eq(l.level, 1);
	wr(u, 1, 0x00);                             /* masking lowers the line */
	ck_assert_int_eq(l.level, 0);
	uart_destroy(u);
}
END_TEST

START_TEST(receive_priority_fifo_and_backpressure)
{
	struct irq_log l = { 0 };
	struct uart *u = uart_create(-1, &ops, &l);
	uint8_t in[20];

	for (int i = 0; i < 20; i++)
		in[i] = (uint8_t)('a' + i);
	wr(u, 2, 0x01);                             /* FIFO on */
	wr(u, 1, 0x03);                             /* RDI + THRI */
	ck_assert_uint_eq(uart_push_input(u, in, 20), UART_FIFO_SIZE); /* 16 fit */
	ck_assert_uint_eq(rd(u, 5) & 0x01, 0x01);   /* LSR.DR */
	ck_assert_uint_eq(rd(u, 2), 0xc4);          /* RDI outranks THRI; FIFO bits set */
	for (int i = 0; i < UART_FIFO_SIZE; i++)
		ck_assert_uint_eq(rd(u, 0), 'a' + i);
	ck_assert_uint_eq(rd(u, 5) & 0x01, 0);
	ck_assert_int_eq(l.ready, 1);               /* the blocked producer is told */
	ck_assert_uint_eq(rd(u, 2), 0xc2);          /* THRI left */
	ck_assert_uint_eq(rd(u, 0), 0);             /* empty RBR reads 0 */
	/* Clearing the receive FIFO through FCR drops pending input. */
	ck_assert_uint_eq(uart_push_input(u, in, 3), 3);
	wr(u, 2, 0x03);
	ck_assert_uint_eq(rd(u, 5) & 0x01, 0);
	uart_destroy(u);
}
END_TEST

START_TEST(loopback)
{
	struct uart *u = uart_create(-1, NULL, NULL);
	uint8_t c = 'q';

	wr(u, 4, 0x1a);                             /* LOOP | OUT2 | RTS, as Linux's probe */
	ck_assert_uint_eq(rd(u, 6) & 0xf0, 0x90);   /* DCD | CTS */
	wr(u, 4, 0x1f);
	ck_assert_uint_eq(rd(u, 6) & 0xf0, 0xf0);
	ck_assert_uint_eq(uart_push_input(u, &c, 1), 0); /* outside input is cut off */
	wr(u, 0, 'L');
	ck_assert_uint_eq(rd(u, 5) & 0x01, 0x01);
	ck_assert_uint_eq(rd(u, 0), 'L');
	uart_destroy(u);
}
END_TEST

START_TEST(overrun_and_line_status_interrupt)
{
	struct irq_log l = { 0 };
	struct uart *u = uart_create(-1, &ops, &l);
	uint8_t c = 'x';

	wr(u, 1, 0x04);                             /* RLSI only */
	wr(u, 4, 0x10);                             /* loopback to overrun from inside */
	for (int i = 0; i < UART_FIFO_SIZE + 1; i++)
		wr(u, 0, c);
	ck_assert_int_eq(l.level, 1);
	ck_assert_uint_eq(rd(u, 2) & 0x0f, 0x06);
	ck_assert_uint_eq(rd(u, 5) & 0x02, 0x02);   /* OE, cleared by the read */
	ck_assert_uint_eq(rd(u, 5) & 0x02, 0);
	ck_assert_int_eq(l.level, 0);
	uart_destroy(u);
}
END_TEST

START_TEST(wide_and_out_of_range_accesses)
{
	struct uart *u = uart_create(-1, NULL, NULL);
	uint8_t v[4] = { 0x11, 0x22, 0x33, 0x44 };

	uart_io(NULL, 7, v, 4, true, u);            /* only SCR is written */
	ck_assert_uint_eq(rd(u, 7), 0x11);
	uart_io(NULL, 8, v, 1, true, u);            /* ignored */
	uart_destroy(u);
}
END_TEST

/* Issue 13, finding 10: a producer that found no room waits for rx_ready. Room also appears
 * when the guest clears the receive FIFO through FCR, and input flows again when it leaves
 * loopback; neither told the producer, so input stalled until something else woke it. */
START_TEST(fifo_clear_and_loopback_exit_wake_the_producer)
{
	struct irq_log l = { 0 };
	struct uart *u = uart_create(-1, &ops, &l);
	uint8_t in[20] = { 0 };

	wr(u, 2, 0x01);
	ck_assert_uint_eq(uart_push_input(u, in, 20), UART_FIFO_SIZE);
	ck_assert_int_eq(l.ready, 0);
	wr(u, 2, 0x03);                             /* FIFO on, clear receive FIFO */
	ck_assert_int_eq(l.ready, 1);
	ck_assert_uint_eq(uart_push_input(u, in, 4), 4);
	wr(u, 2, 0x03);                             /* nobody waits: no wake-up */
	ck_assert_int_eq(l.ready, 1);

	wr(u, 4, 0x18);                             /* loopback: outside input cut off */
	ck_assert_uint_eq(uart_push_input(u, in, 1), 0);
	wr(u, 4, 0x18);                             /* still in loopback */
	ck_assert_int_eq(l.ready, 1);
	wr(u, 4, 0x08);                             /* out of loopback */
	ck_assert_int_eq(l.ready, 2);
	ck_assert_uint_eq(uart_push_input(u, in, 1), 1);
	uart_destroy(u);
}
END_TEST

/* Issue 16: the output's reader stops (a one-page non-blocking pipe nobody reads). The first
 * byte that finds no room waits UART_STALL_WAIT_MS once; the rest are dropped and counted at
 * once, until the reader reads again. */
START_TEST(stalled_reader_costs_one_wait_then_drops)
{
	struct irq_log l = { 0 };
	static char buf[8192];
	struct timespec t0, t1;
	int p[2];
	struct uart *u;
	double ms;

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	ck_assert_int_ge(fcntl(p[0], F_SETPIPE_SZ, 4096), 4096);
	u = uart_create(p[1], &ops, &l);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 5000; i++)
		wr(u, 0, (uint8_t)('a' + i % 26));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	ck_assert_msg(ms >= UART_STALL_WAIT_MS * 0.9 && ms < UART_STALL_WAIT_MS * 20, "%.0f ms", ms);
	ck_assert_uint_eq(uart_tx_dropped(u), 5000 - 4096);
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 4096);
	for (int i = 0; i < 4096; i++)
		ck_assert_int_eq(buf[i], 'a' + i % 26);
	wr(u, 0, 'z');                              /* the reader read: output flows again */
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 1);
	ck_assert_uint_eq(uart_tx_dropped(u), 5000 - 4096);
	uart_destroy(u);
	close(p[0]);
	close(p[1]);
}
END_TEST

Suite *suite_uart(void)
{
	Suite *s = suite_create("uart");
	TCase *tc = tcase_create("16550");

	tcase_add_test(tc, reset_state_and_transmit);
	tcase_add_test(tc, divisor_latch_and_scratch);
	tcase_add_test(tc, thr_empty_interrupt_semantics);
	tcase_add_test(tc, receive_priority_fifo_and_backpressure);
	tcase_add_test(tc, loopback);
	tcase_add_test(tc, overrun_and_line_status_interrupt);
	tcase_add_test(tc, wide_and_out_of_range_accesses);
	tcase_add_test(tc, fifo_clear_and_loopback_exit_wake_the_producer);
	tcase_add_test(tc, stalled_reader_costs_one_wait_then_drops);
	suite_add_tcase(s, tc);
	return s;
}

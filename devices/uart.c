#include "devices/uart.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Register offsets and bits, named as in Linux's include/uapi/linux/serial_reg.h. */
#define UART_RX 0
#define UART_TX 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_RDI 0x01
#define UART_IER_THRI 0x02
#define UART_IER_RLSI 0x04
#define UART_IER_MSI 0x08

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_FIFO_ENABLED 0xc0

#define UART_FCR_ENABLE_FIFO 0x01
#define UART_FCR_CLEAR_RCVR 0x02

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

struct uart {
	pthread_mutex_t lock;
	int out_fd;
	const struct uart_ops *ops;
	void *opaque;

	uint8_t ier, lcr, mcr, lsr, scr, fcr, dll, dlm;
	bool thr_ipending;  /* THR-empty interrupt pending until IIR read or THR write */
	bool rx_blocked;    /* the producer found the FIFO full and waits for rx_ready */
	bool tx_stalled;    /* the output's reader stopped: bytes are dropped until it reads */
	uint64_t tx_dropped;
	int irq_level;

	uint8_t fifo[UART_FIFO_SIZE];
	unsigned fifo_head, fifo_count;
};

uint64_t uart_tx_dropped(struct uart *u)
{
	uint64_t n;

	pthread_mutex_lock(&u->lock);
	n = u->tx_dropped;
	pthread_mutex_unlock(&u->lock);
	return n;
}

struct uart *uart_create(int out_fd, const struct uart_ops *ops, void *opaque)
{
	struct uart *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	pthread_mutex_init(&u->lock, NULL);
	u->out_fd = out_fd;
	u->ops = ops;
	u->opaque = opaque;
	u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
	u->mcr = UART_MCR_OUT2;
	u->dll = 0x0c; /* 9600 baud */
	return u;
}

void uart_destroy(struct uart *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/* Highest-priority pending and enabled interrupt, as the 16550 reports it in IIR. */
static uint8_t uart_iir_locked(const struct uart *u)
{
	if ((u->ier & UART_IER_RLSI) && (u->lsr & UART_LSR_OE))
		return UART_IIR_RLSI;
	if ((u->ier & UART_IER_RDI) && u->fifo_count)
		return UART_IIR_RDI;
	if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		return UART_IIR_THRI;
	return UART_IIR_NO_INT;
}

static void uart_update_irq_locked(struct uart *u)
{
	int level = uart_iir_locked(u) != UART_IIR_NO_INT;

	if (level != u->irq_level) {
		u->irq_level = level;
		if (u->ops && u->ops->set_irq)
			u->ops->set_irq(u->opaque, level);
	}
}

static void uart_rx_put_locked(struct uart *u, uint8_t c)
{
	if (u->fifo_count == UART_FIFO_SIZE) {
		u->lsr |= UART_LSR_OE;
		return;
	}
	u->fifo[(u->fifo_head + u->fifo_count) % UART_FIFO_SIZE] = c;
	u->fifo_count++;
	u->lsr |= UART_LSR_DR;
}

/* Milliseconds until @deadline, starting it at now + UART_STALL_WAIT_MS on the first call. */
static int wait_left_ms(struct timespec *deadline, bool *started)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!*started) {
		*deadline = now;
		deadline->tv_nsec += (long)UART_STALL_WAIT_MS * 1000000L;
		deadline->tv_sec += deadline->tv_nsec / 1000000000L;
		deadline->tv_nsec %= 1000000000L;
		*started = true;
	}
	ms = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (int)ms : 0;
}

/* The output is non-blocking (vmm/serial.c). A reader that falls behind gets up to
 * UART_STALL_WAIT_MS per byte: the vCPU waits, as a real line holds the transmitter. A reader
 * that stops altogether costs that wait once; after it, bytes are dropped and counted until
 * the reader takes one again. Holding THR instead (no THRE until the reader drains) would stop
 * a polling driver for ever and Linux's console writes each byte anyway after 10 ms, so the
 * byte is lost either way. The wait happens without the UART's lock, which the I/O thread
 * needs to push input. */
static void uart_output_locked(struct uart *u, uint8_t c)
{
	struct timespec deadline;
	bool started = false;

	for (;;) {
		ssize_t n = write(u->out_fd, &c, 1);
		int e = n < 0 ? errno : 0, left;

		if (n == 1) {
			u->tx_stalled = false;
			return;
		}
		if (e == EINTR)
			continue;
		if (e == EAGAIN && !u->tx_stalled && (left = wait_left_ms(&deadline, &started)) > 0) {
			struct pollfd p = { .fd = u->out_fd, .events = POLLOUT };

			pthread_mutex_unlock(&u->lock);
			(void)poll(&p, 1, left); /* woken, timed out or a kick (EINTR): write again */
			pthread_mutex_lock(&u->lock);
			continue;
		}
		if (e == EAGAIN)
			u->tx_stalled = true;
		u->tx_dropped++; /* or the output is gone (EPIPE): like a cut cable */
		return;
	}
}

static void uart_transmit_locked(struct uart *u, uint8_t c)
{
	if (u->mcr & UART_MCR_LOOP) {
		uart_rx_put_locked(u, c);
	} else if (u->out_fd >= 0) {
		uart_output_locked(u, c);
	}
	u->thr_ipending = true;
}

static uint8_t uart_msr_locked(const struct uart *u)
{
	uint8_t msr = 0;

	if (!(u->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	/* Loopback wires the modem outputs back to the inputs. */
	if (u->mcr & UART_MCR_RTS)
		msr |= UART_MSR_CTS;
	if (u->mcr & UART_MCR_DTR)
		msr |= UART_MSR_DSR;
	if (u->mcr & UART_MCR_OUT1)
		msr |= UART_MSR_RI;
	if (u->mcr & UART_MCR_OUT2)
		msr |= UART_MSR_DCD;
	return msr;
}

/* Returns true when the reader freed FIFO space that a blocked producer waits for. */
static bool uart_read_locked(struct uart *u, unsigned reg, uint8_t *val)
{
	bool wake = false;
	uint8_t iir;

	switch (reg) {
	case UART_RX:
		if (u->lcr & UART_LCR_DLAB) {
			*val = u->dll;
			break;
		}
		*val = 0;
		if (u->fifo_count) {
			*val = u->fifo[u->fifo_head];
			u->fifo_head = (u->fifo_head + 1) % UART_FIFO_SIZE;
			u->fifo_count--;
		}
		if (!u->fifo_count) {
			u->lsr &= ~UART_LSR_DR;
			wake = u->rx_blocked;
			u->rx_blocked = false;
		}
		break;
	case UART_IER:
		*val = (u->lcr & UART_LCR_DLAB) ? u->dlm : u->ier;
		break;
	case UART_IIR:
		iir = uart_iir_locked(u);
		/* Reading IIR acknowledges a THR-empty interrupt (and only that one). */
		if (iir == UART_IIR_THRI)
			u->thr_ipending = false;
		*val = iir | ((u->fcr & UART_FCR_ENABLE_FIFO) ? UART_IIR_FIFO_ENABLED : 0);
		break;
	case UART_LCR:
		*val = u->lcr;
		break;
	case UART_MCR:
		*val = u->mcr;
		break;
	case UART_LSR:
		*val = u->lsr;
		u->lsr &= ~UART_LSR_OE; /* error bits clear on read */
		break;
	case UART_MSR:
		*val = uart_msr_locked(u);
		break;
	case UART_SCR:
		*val = u->scr;
		break;
	}
	return wake;
}

/* Returns true when input can flow again for a producer that waits for rx_ready: the FIFO was
 * cleared, or the line left loopback (where outside input is cut off). */
static bool uart_write_locked(struct uart *u, unsigned reg, uint8_t val)
{
	bool room = false;

	switch (reg) {
	case UART_TX:
		if (u->lcr & UART_LCR_DLAB)
			u->dll = val;
		else
			uart_transmit_locked(u, val);
		break;
	case UART_IER:
		if (u->lcr & UART_LCR_DLAB) {
			u->dlm = val;
			break;
		}
		/* Enabling THRI while THR is empty raises it at once, as on the real chip. */
		if (!(u->ier & UART_IER_THRI) && (val & UART_IER_THRI))
			u->thr_ipending = true;
		u->ier = val & 0x0f;
		break;
	case UART_FCR:
		u->fcr = val & 0xc9;
		if (val & UART_FCR_CLEAR_RCVR) {
			u->fifo_count = 0;
			u->lsr &= ~UART_LSR_DR;
			room = true;
		}
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		room = (u->mcr & UART_MCR_LOOP) && !(val & UART_MCR_LOOP);
		u->mcr = val & 0x1f;
		break;
	case UART_SCR:
		u->scr = val;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
	if (!room || !u->rx_blocked)
		return false;
	u->rx_blocked = false;
	return true;
}

void uart_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len, bool is_write,
	     void *opaque)
{
	struct uart *u = opaque;
	bool wake = false;

	(void)vcpu;
	/* Byte registers: a wider access touches only the addressed one (as on ISA). */
	if (offset >= UART_NR_REGS || len == 0)
		return;
	pthread_mutex_lock(&u->lock);
	if (is_write)
		wake = uart_write_locked(u, (unsigned)offset, data[0]);
	else
		wake = uart_read_locked(u, (unsigned)offset, &data[0]);
	uart_update_irq_locked(u);
	pthread_mutex_unlock(&u->lock);
	if (wake && u->ops && u->ops->rx_ready)
		u->ops->rx_ready(u->opaque);
}

size_t uart_push_input(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	/* In loopback the line is disconnected from the outside world. */
	if (!(u->mcr & UART_MCR_LOOP)) {
		while (n < len && u->fifo_count < UART_FIFO_SIZE)
			uart_rx_put_locked(u, buf[n++]);
	}
	if (n < len)
		u->rx_blocked = true;
	uart_update_irq_locked(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

void uart_get_state(struct uart *u, struct uart_state *s)
{
	pthread_mutex_lock(&u->lock);
	*s = (struct uart_state){ u->ier, u->lcr, u->mcr, u->lsr, u->scr, u->fcr, u->dll, u->dlm,
				  u->thr_ipending, (uint8_t)u->fifo_count, { 0 } };
	for (unsigned i = 0; i < u->fifo_count; i++)
		s->fifo[i] = u->fifo[(u->fifo_head + i) % UART_FIFO_SIZE];
	pthread_mutex_unlock(&u->lock);
}

int uart_set_state(struct uart *u, const struct uart_state *s)
{
	if (s->fifo_count > UART_FIFO_SIZE || (s->ier & ~0x0f) || (s->mcr & ~0x1f) ||
	    (s->fcr & ~0xc9) || s->thr_ipending > 1)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	u->ier = s->ier;
	u->lcr = s->lcr;
	u->mcr = s->mcr;
	u->scr = s->scr;
	u->fcr = s->fcr;
	u->dll = s->dll;
	u->dlm = s->dlm;
	u->thr_ipending = s->thr_ipending;
	u->fifo_head = 0;
	u->fifo_count = s->fifo_count;
	memcpy(u->fifo, s->fifo, sizeof(u->fifo));
	/* DR follows the FIFO; THRE/TEMT are always set (output is written at once). */
	u->lsr = (uint8_t)((s->lsr & UART_LSR_OE) | UART_LSR_THRE | UART_LSR_TEMT |
			   (s->fifo_count ? UART_LSR_DR : 0));
	u->rx_blocked = false;
	uart_update_irq_locked(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

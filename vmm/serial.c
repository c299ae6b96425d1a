#include "vmm/serial.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/uart.h"
#include "vmm/vm.h"

static void serial_set_irq(void *opaque, int level)
{
	struct serial_backend *s = opaque;
	struct kvm_irq_level irq = { .irq = UART_COM1_IRQ, .level = (uint32_t)level };

	ioctl(s->vm->vm_fd, KVM_IRQ_LINE, &irq);
}

/* vCPU thread: the guest emptied the FIFO. Hand the refill to the I/O thread. */
static void serial_rx_ready(void *opaque)
{
	struct serial_backend *s = opaque;
	uint64_t one = 1;

	if (write(s->ready_ev.fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow in practice; nothing to recover. */
	}
}

static const struct uart_ops serial_uart_ops = {
	.set_irq = serial_set_irq,
	.rx_ready = serial_rx_ready,
};

/* Pushes what is pending; while some is left, stdin is not read (backpressure). */
static void serial_flush_pending(struct serial_backend *s)
{
	size_t n = uart_push_input(s->uart, s->pending, s->pending_len);

	memmove(s->pending, s->pending + n, s->pending_len - n);
	s->pending_len -= n;
	if (s->in_registered)
		evloop_mod(&s->vm->loop, &s->in_ev, s->pending_len ? 0 : EPOLLIN);
}

/* Keeps from @buf what the guest should see, applying the Ctrl-A escape on a terminal. */
static size_t serial_filter(struct serial_backend *s, const uint8_t *buf, size_t len,
			    uint8_t *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		switch (s->term.raw ? term_escape_feed(&s->esc, buf[i]) : TERM_KEY_PASS) {
		case TERM_KEY_PASS:
			out[n++] = buf[i];
			break;
		case TERM_KEY_PASS_ESCAPE:
			out[n++] = 0x01;
			out[n++] = buf[i];
			break;
		case TERM_KEY_QUIT:
			vm_request_stop(s->vm, VM_STOP_QUIT, 0, NULL);
			return n;
		case TERM_KEY_SWALLOW:
			break;
		}
	}
	return n;
}

/* Reads one chunk of stdin into pending and pushes what the UART takes. */
static void serial_read_input(struct serial_backend *s)
{
	uint8_t buf[SERIAL_PENDING_MAX / 2];
	ssize_t n;

	n = read(s->in_ev.fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* EOF or error on stdin: the guest simply gets no more input. */
		if (s->in_registered)
			evloop_del(&s->vm->loop, &s->in_ev);
		s->in_registered = 0;
		s->in_is_file = 0;
		return;
	}
	s->pending_len += serial_filter(s, buf, (size_t)n, s->pending + s->pending_len);
	serial_flush_pending(s);
}

/* A regular file never signals readiness: read on whenever everything read so far is taken. */
static void serial_refill_from_file(struct serial_backend *s)
{
	while (s->in_is_file && !s->pending_len)
		serial_read_input(s);
}

static void serial_on_ready(struct ev_handler *h, uint32_t events)
{
	struct serial_backend *s = h->opaque;
	uint64_t cnt;

	(void)events;
	if (read(h->fd, &cnt, sizeof(cnt)) < 0) {
		/* spurious wakeup: nothing to drain */
	}
	if (s->pending_len)
		serial_flush_pending(s);
	serial_refill_from_file(s);
}

static void serial_on_input(struct ev_handler *h, uint32_t events)
{
	(void)events;
	serial_read_input(h->opaque);
}

int serial_setup(struct vm *vm, struct serial_backend *s, const struct chardev_config *cfg,
		 struct errmsg *err)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->vm = vm;
	s->out_fd = -1;
	s->in_ev.fd = -1;
	s->ready_ev.fd = -1;
	if (cfg->mode == CHARDEV_STDIO) {
		s->out_fd = STDOUT_FILENO;
	} else if (cfg->mode == CHARDEV_FILE) {
		s->out_fd = open(cfg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (s->out_fd < 0)
			return errmsg_set(err, -errno, "--serial file=%s: %s", cfg->path,
					  strerror(errno));
		s->owns_out = 1;
	}
	s->uart = uart_create(s->out_fd, &serial_uart_ops, s);
	if (!s->uart)
		return errmsg_set(err, -ENOMEM, "serial: out of memory");
	ret = bus_register(&vm->pio_bus, UART_COM1_BASE, UART_NR_REGS, uart_io, s->uart, "com1");
	if (ret)
		return errmsg_set(err, ret, "serial: cannot register COM1 ports");
	return 0;
}

int serial_start_input(struct serial_backend *s)
{
	struct stat st;
	int ret;

	if (s->vm->cfg->serial.mode != CHARDEV_STDIO)
		return 0;
	s->ready_ev = (struct ev_handler){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
					   serial_on_ready, s };
	if (s->ready_ev.fd < 0)
		return -errno;
	ret = evloop_add(&s->vm->loop, &s->ready_ev, EPOLLIN);
	if (ret)
		return ret;
	s->in_ev = (struct ev_handler){ STDIN_FILENO, serial_on_input, s };
	ret = evloop_add(&s->vm->loop, &s->in_ev, EPOLLIN);
	if (ret == 0) {
		s->in_registered = 1;
		term_enter_raw(&s->term, STDIN_FILENO);
	} else if (ret == -EPERM && fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) {
		/* Regular files cannot be polled: feed them as the guest consumes input. */
		s->in_is_file = 1;
		serial_refill_from_file(s);
	}
	return 0;
}

void serial_teardown(struct serial_backend *s)
{
	term_restore(&s->term);
	if (s->in_registered)
		evloop_del(&s->vm->loop, &s->in_ev);
	s->in_registered = 0;
	if (s->ready_ev.fd >= 0)
		close(s->ready_ev.fd);
	s->ready_ev.fd = -1;
	uart_destroy(s->uart);
	s->uart = NULL;
	if (s->owns_out && s->out_fd >= 0)
		close(s->out_fd);
	s->out_fd = -1;
}

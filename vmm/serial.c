#include "vmm/serial.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/uart.h"
#include "vmm/machine.h"
#include "vmm/state.h"
#include "vmm/stdin_input.h"

static void serial_set_irq(void *opaque, int level)
{
	struct serial_backend *s = opaque;
	struct kvm_irq_level irq = { .irq = UART_COM1_IRQ, .level = (uint32_t)level };

	if (s->m->vm_fd >= 0)
		ioctl(s->m->vm_fd, KVM_IRQ_LINE, &irq);
}

/* vCPU thread: the guest emptied the FIFO; the input side may offer more. */
static void serial_rx_ready(void *opaque)
{
	struct serial_backend *s = opaque;

	stdin_input_ready(s->input);
}

static const struct uart_ops serial_uart_ops = {
	.set_irq = serial_set_irq,
	.rx_ready = serial_rx_ready,
};

size_t serial_push_input(void *serial_backend, const uint8_t *buf, size_t len)
{
	struct serial_backend *s = serial_backend;

	return uart_push_input(s->uart, buf, len);
}

/* A device must never block on its output's reader (a stalled pipe or terminal would stop
 * the thread: the I/O thread serves every disk and network queue). So the output gets a
 * non-blocking file description of its own: a pipe or terminal on stdout is opened again
 * through /proc/self/fd/1 (O_NONBLOCK on the inherited description would also change it for
 * the shell or pipeline that shares it). Where that is refused (a pipe or terminal of another
 * user, for a minivmm started unprivileged) and for a socket (which cannot be reopened), the
 * shared description becomes non-blocking until chardev_close_output() puts its flags back.
 * Regular files are left as they are: they block only on NFS or FUSE servers that stall. */
static int nonblocking_output(const char *flag, struct chardev_out *o, struct errmsg *err)
{
	struct stat st;
	int nfd, fl;

	if (fstat(o->fd, &st) < 0)
		return errmsg_set(err, -errno, "%s: %s", flag, strerror(errno));
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return 0;
	if ((S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) && !o->owned) {
		char path[32];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", o->fd);
		nfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (nfd >= 0) {
			o->fd = nfd;
			o->owned = true;
			return 0;
		}
	}
	if ((fl = fcntl(o->fd, F_GETFL)) < 0 || fcntl(o->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return errmsg_set(err, -errno, "%s: cannot make the output non-blocking: %s", flag,
				  strerror(errno));
	if (!o->owned && !(fl & O_NONBLOCK))
		o->restore_fl = fl;
	return 0;
}

int chardev_open_output(const char *flag, const struct chardev_config *cfg,
			struct chardev_out *o, struct errmsg *err)
{
	int ret;

	*o = (struct chardev_out){ .fd = -1, .restore_fl = -1 };
	if (cfg->mode == CHARDEV_STDIO) {
		o->fd = STDOUT_FILENO;
	} else if (cfg->mode == CHARDEV_FILE) {
		o->fd = open(cfg->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (o->fd < 0)
			return errmsg_set(err, -errno, "%s file=%s: %s", flag, cfg->path,
					  strerror(errno));
		o->owned = true;
	} else {
		return 0;
	}
	ret = nonblocking_output(flag, o, err);
	if (ret)
		chardev_close_output(o);
	return ret;
}

void chardev_close_output(struct chardev_out *o)
{
	if (o->fd >= 0 && o->restore_fl >= 0 && fcntl(o->fd, F_SETFL, o->restore_fl) < 0) {
		/* nothing more to do: the description stays non-blocking */
	}
	if (o->fd >= 0 && o->owned)
		close(o->fd);
	*o = (struct chardev_out){ .fd = -1, .restore_fl = -1 };
}

static int serial_save(void *dev, void *fdt, int node)
{
	struct serial_backend *s = dev;
	struct uart_state st;

	uart_get_state(s->uart, &st);
	return state_put_blob(fdt, node, "regs", &st, sizeof(st));
}

static int serial_load(void *dev, const void *fdt, int node, struct errmsg *err)
{
	struct serial_backend *s = dev;
	struct uart_state st;
	int ret = state_get_blob(fdt, node, "regs", &st, sizeof(st), err);

	if (ret)
		return ret;
	if (uart_set_state(s->uart, &st))
		return errmsg_set(err, -EINVAL, "UART registers a guest could not have set");
	return 0;
}

static const struct dev_ops serial_dev_ops = {
	.kind = "uart",
	.save = serial_save,
	.load = serial_load,
};

int serial_setup(struct machine *m, struct stdin_input *input, struct serial_backend *s,
		 const struct chardev_config *cfg, struct errmsg *err)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->m = m;
	s->input = input;
	ret = chardev_open_output("--serial", cfg, &s->out, err);
	if (ret)
		return ret;
	s->uart = uart_create(s->out.fd, &serial_uart_ops, s);
	if (!s->uart)
		return errmsg_set(err, -ENOMEM, "serial: out of memory");
	ret = bus_register(m->pio, UART_COM1_BASE, UART_NR_REGS, uart_io, s->uart, "com1");
	if (ret)
		return errmsg_set(err, ret, "serial: cannot register COM1 ports");
	ret = dev_list_add(m->devices, &serial_dev_ops, s, "uart@3f8");
	if (ret)
		return errmsg_set(err, ret, "serial: cannot add COM1 to the device list");
	return 0;
}

void serial_teardown(struct serial_backend *s)
{
	uint64_t dropped = s->uart ? uart_tx_dropped(s->uart) : 0;

	if (dropped)
		fprintf(stderr, "minivmm: serial: %llu bytes of guest output dropped: the output's reader did not keep up\n",
			(unsigned long long)dropped);
	uart_destroy(s->uart);
	s->uart = NULL;
	chardev_close_output(&s->out);
}

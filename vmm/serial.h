/* The host side of COM1: where the UART's output goes (stdout, a file, nowhere); its input
 * comes through vmm/stdin_input when COM1 owns stdin. */
#ifndef MINIVMM_SERIAL_H
#define MINIVMM_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/config.h"
#include "vmm/errmsg.h"

struct machine;
struct stdin_input;
struct uart;

/* A console output: see chardev_open_output(). */
struct chardev_out {
	int fd;                      /* -1: output off */
	bool owned;                  /* ours to close */
	int restore_fl;              /* the shared description's flags to put back, or -1 */
};

struct serial_backend {
	struct machine *m;
	struct stdin_input *input;   /* woken when the guest drained the FIFO */
	struct uart *uart;
	struct chardev_out out;
};

/* Creates COM1 (UART, IRQ 4) on the machine's port bus, wires its output to @cfg and adds it
 * to the machine's device list ("uart@3f8": its registers and FIFO are saved and loaded). */
int serial_setup(struct machine *m, struct stdin_input *input, struct serial_backend *s,
		 const struct chardev_config *cfg, struct errmsg *err)
	__attribute__((warn_unused_result));

/* stdin_push_fn for COM1. */
size_t serial_push_input(void *serial_backend, const uint8_t *buf, size_t len);

void serial_teardown(struct serial_backend *s);

/* Opens a console output per @cfg: stdout, a file (truncated), or fd -1 for off. The
 * descriptor is non-blocking (a write to a stalled reader fails with EAGAIN; poll it for
 * POLLOUT). Shared by COM1 and virtio-console; chardev_close_output() undoes it. */
int chardev_open_output(const char *flag, const struct chardev_config *cfg,
			struct chardev_out *out, struct errmsg *err)
	__attribute__((warn_unused_result));
void chardev_close_output(struct chardev_out *out);

#endif

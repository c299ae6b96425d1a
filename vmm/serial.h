/* The host side of COM1: where the UART's output goes (stdout, a file, nowhere) and the input
 * path from stdin, with backpressure (stdin is not read while the UART's FIFO is full) and the
 * Ctrl-A escape when stdin is a terminal. */
#ifndef MINIVMM_SERIAL_H
#define MINIVMM_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/config.h"
#include "vmm/errmsg.h"
#include "vmm/evloop.h"
#include "vmm/term.h"

struct vm;
struct uart;

#define SERIAL_PENDING_MAX 256

struct serial_backend {
	struct vm *vm;
	struct uart *uart;
	int out_fd;
	int owns_out;
	struct term term;
	struct term_escape esc;
	struct ev_handler in_ev;      /* stdin */
	struct ev_handler ready_ev;   /* eventfd: the UART drained its FIFO */
	int in_registered;
	int in_is_file;               /* stdin is a regular file: always readable, not pollable */
	uint8_t pending[SERIAL_PENDING_MAX];
	size_t pending_len;
};

/* Creates COM1 (UART, IRQ 4) on @vm's port bus and wires it to @cfg. */
int serial_setup(struct vm *vm, struct serial_backend *s, const struct chardev_config *cfg,
		 struct errmsg *err) __attribute__((warn_unused_result));

/* Starts reading stdin (called once the vCPUs run) and puts a terminal in raw mode. */
int serial_start_input(struct serial_backend *s);

void serial_teardown(struct serial_backend *s);

#endif

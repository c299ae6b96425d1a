/* Guest input from the host's stdin, for whichever console device owns it (COM1 or
 * virtio-console): read only as fast as the device takes bytes (backpressure, nothing dropped),
 * regular files fed as the device drains, a terminal put in raw mode with QEMU's Ctrl-A escape. */
#ifndef MINIVMM_STDIN_INPUT_H
#define MINIVMM_STDIN_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/evloop.h"
#include "vmm/term.h"

struct machine;

/* Offers bytes to the device; returns how many it took. Called on the I/O thread. */
typedef size_t (*stdin_push_fn)(void *sink, const uint8_t *buf, size_t len);

#define STDIN_PENDING_MAX 256

struct stdin_input {
	struct machine *m;
	stdin_push_fn push;
	void *sink;
	struct term term;
	struct term_escape esc;
	struct ev_handler in_ev;      /* stdin */
	struct ev_handler ready_ev;   /* eventfd: the device can take more */
	int registered;
	int is_file;                  /* a regular file: always readable, not pollable */
	uint8_t pending[STDIN_PENDING_MAX];
	size_t pending_len;
};

void stdin_input_init(struct stdin_input *in);
/* Starts feeding stdin to @push/@sink (on the I/O thread's loop). */
int stdin_input_start(struct stdin_input *in, struct machine *m, stdin_push_fn push, void *sink)
	__attribute__((warn_unused_result));
/* The device drained what it had (any thread): pending input is offered again. */
void stdin_input_ready(struct stdin_input *in);
void stdin_input_stop(struct stdin_input *in);

#endif

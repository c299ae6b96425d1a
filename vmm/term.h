/* The host terminal on stdin: raw mode while the VM runs, restored on every way out. */
#ifndef MINIVMM_TERM_H
#define MINIVMM_TERM_H

#include <stdbool.h>
#include <termios.h>

struct term {
	int fd;
	bool raw;
	struct termios saved;
};

/* Puts @fd in raw mode if it is a terminal (keeping output post-processing so "\n" still
 * returns the carriage). No-op otherwise. */
void term_enter_raw(struct term *t, int fd);
void term_restore(struct term *t);

/* Ctrl-A escape handling, QEMU's convention: Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A. */
struct term_escape {
	bool pending;
};
enum term_key { TERM_KEY_PASS, TERM_KEY_SWALLOW, TERM_KEY_QUIT, TERM_KEY_PASS_ESCAPE };
enum term_key term_escape_feed(struct term_escape *e, unsigned char c);

#endif

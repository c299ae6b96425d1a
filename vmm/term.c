#include "vmm/term.h"

#include <unistd.h>

#define CTRL_A 0x01

void term_enter_raw(struct term *t, int fd)
{
	struct termios raw;

	t->fd = fd;
	t->raw = false;
	if (!isatty(fd) || tcgetattr(fd, &t->saved) < 0)
		return;
	raw = t->saved;
	cfmakeraw(&raw);
	raw.c_oflag |= OPOST;
	if (tcsetattr(fd, TCSANOW, &raw) == 0)
		t->raw = true;
}

void term_restore(struct term *t)
{
	if (t->raw)
		tcsetattr(t->fd, TCSANOW, &t->saved);
	t->raw = false;
}

enum term_key term_escape_feed(struct term_escape *e, unsigned char c)
{
	if (!e->pending) {
		if (c == CTRL_A) {
			e->pending = true;
			return TERM_KEY_SWALLOW;
		}
		return TERM_KEY_PASS;
	}
	e->pending = false;
	if (c == 'x' || c == 'X')
		return TERM_KEY_QUIT;
	if (c == CTRL_A)
		return TERM_KEY_PASS;
	/* Unknown escape: deliver both the Ctrl-A and this key. */
	return TERM_KEY_PASS_ESCAPE;
}

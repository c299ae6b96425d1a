#include "vmm/stdin_input.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/machine.h"

void stdin_input_init(struct stdin_input *in)
{
	memset(in, 0, sizeof(*in));
	in->in_ev.fd = -1;
	in->ready_ev.fd = -1;
}

/* Offers what is pending; while some is left, stdin is not read (backpressure). */
static void stdin_flush_pending(struct stdin_input *in)
{
	size_t n = in->push(in->sink, in->pending, in->pending_len);

	memmove(in->pending, in->pending + n, in->pending_len - n);
	in->pending_len -= n;
	if (in->registered)
		evloop_mod(in->m->loop, &in->in_ev, in->pending_len ? 0 : EPOLLIN);
}

/* Keeps from @buf what the guest should see, applying the Ctrl-A escape on a terminal. */
static size_t stdin_filter(struct stdin_input *in, const uint8_t *buf, size_t len, uint8_t *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		switch (in->term.raw ? term_escape_feed(&in->esc, buf[i]) : TERM_KEY_PASS) {
		case TERM_KEY_PASS:
			out[n++] = buf[i];
			break;
		case TERM_KEY_PASS_ESCAPE:
			out[n++] = 0x01;
			out[n++] = buf[i];
			break;
		case TERM_KEY_QUIT:
			machine_request_stop(in->m, VM_STOP_QUIT, 0, NULL);
			return n;
		case TERM_KEY_SWALLOW:
			break;
		}
	}
	return n;
}

/* Reads one chunk of stdin into pending and offers it. */
static void stdin_read(struct stdin_input *in)
{
	uint8_t buf[STDIN_PENDING_MAX / 2];
	ssize_t n;

	n = read(in->in_ev.fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* EOF or error on stdin: the guest simply gets no more input. */
		if (in->registered)
			evloop_del(in->m->loop, &in->in_ev);
		in->registered = 0;
		in->is_file = 0;
		return;
	}
	in->pending_len += stdin_filter(in, buf, (size_t)n, in->pending + in->pending_len);
	stdin_flush_pending(in);
}

/* A regular file never signals readiness: read on whenever everything read so far is taken. */
static void stdin_refill_from_file(struct stdin_input *in)
{
	while (in->is_file && !in->pending_len)
		stdin_read(in);
}

static void stdin_on_ready(struct ev_handler *h, uint32_t events)
{
	struct stdin_input *in = h->opaque;
	uint64_t cnt;

	(void)events;
	if (read(h->fd, &cnt, sizeof(cnt)) < 0) {
		/* spurious wakeup: nothing to drain */
	}
	if (in->pending_len)
		stdin_flush_pending(in);
	stdin_refill_from_file(in);
}

static void stdin_on_input(struct ev_handler *h, uint32_t events)
{
	(void)events;
	stdin_read(h->opaque);
}

void stdin_input_ready(struct stdin_input *in)
{
	uint64_t one = 1;

	if (in->ready_ev.fd >= 0 && write(in->ready_ev.fd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow in practice */
	}
}

int stdin_input_start(struct stdin_input *in, struct machine *m, stdin_push_fn push, void *sink)
{
	struct stat st;
	int ret;

	in->m = m;
	in->push = push;
	in->sink = sink;
	in->ready_ev = (struct ev_handler){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), stdin_on_ready,
					    in };
	if (in->ready_ev.fd < 0)
		return -errno;
	ret = evloop_add(m->loop, &in->ready_ev, EPOLLIN);
	if (ret)
		return ret;
	in->in_ev = (struct ev_handler){ STDIN_FILENO, stdin_on_input, in };
	ret = evloop_add(m->loop, &in->in_ev, EPOLLIN);
	if (ret == 0) {
		in->registered = 1;
		term_enter_raw(&in->term, STDIN_FILENO);
	} else if (ret == -EPERM && fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) {
		/* Regular files cannot be polled: feed them as the guest consumes input. */
		in->is_file = 1;
		stdin_refill_from_file(in);
	}
	return 0;
}

void stdin_input_stop(struct stdin_input *in)
{
	term_restore(&in->term);
	if (in->registered)
		evloop_del(in->m->loop, &in->in_ev);
	in->registered = 0;
	in->is_file = 0;
	if (in->ready_ev.fd >= 0)
		close(in->ready_ev.fd);
	in->ready_ev.fd = -1;
}

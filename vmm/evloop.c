#include "vmm/evloop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EVLOOP_BATCH 32

int evloop_init(struct evloop *loop)
{
	loop->stop = false;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

void evloop_destroy(struct evloop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

static int evloop_ctl(struct evloop *loop, int op, struct ev_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(loop->epfd, op, h->fd, &ev) < 0 ? -errno : 0;
}

int evloop_add(struct evloop *loop, struct ev_handler *h, uint32_t events)
{
	return evloop_ctl(loop, EPOLL_CTL_ADD, h, events);
}

int evloop_mod(struct evloop *loop, struct ev_handler *h, uint32_t events)
{
	return evloop_ctl(loop, EPOLL_CTL_MOD, h, events);
}

int evloop_del(struct evloop *loop, struct ev_handler *h)
{
	return evloop_ctl(loop, EPOLL_CTL_DEL, h, 0);
}

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event evs[EVLOOP_BATCH];
	int n = epoll_wait(loop->epfd, evs, EVLOOP_BATCH, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n && !loop->stop; i++) {
		struct ev_handler *h = evs[i].data.ptr;

		h->fn(h, evs[i].events);
	}
	return n;
}

int evloop_run(struct evloop *loop)
{
	while (!loop->stop) {
		int n = evloop_run_once(loop, -1);

		if (n < 0)
			return n;
	}
	return 0;
}

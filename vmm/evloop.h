/* The I/O thread's epoll loop. It owns every file descriptor a device waits on; handlers run on
 * the thread that calls evloop_run(). */
#ifndef MINIVMM_EVLOOP_H
#define MINIVMM_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct ev_handler;
typedef void (*ev_fn)(struct ev_handler *h, uint32_t events);

/* Embedded in the owner's state; must stay put while registered. */
struct ev_handler {
	int fd;
	ev_fn fn;
	void *opaque;
};

struct evloop {
	int epfd;
	bool stop;
};

int evloop_init(struct evloop *loop) __attribute__((warn_unused_result));
void evloop_destroy(struct evloop *loop);
int evloop_add(struct evloop *loop, struct ev_handler *h, uint32_t events)
	__attribute__((warn_unused_result));
int evloop_mod(struct evloop *loop, struct ev_handler *h, uint32_t events);
int evloop_del(struct evloop *loop, struct ev_handler *h);

/* Dispatches events until a handler sets loop->stop. Returns 0 or -errno. */
int evloop_run(struct evloop *loop);

/* Waits up to @timeout_ms (-1: forever) and dispatches what is ready once. Returns the number of
 * events handled or -errno (benchmarks and tests that drive devices without vCPUs). */
int evloop_run_once(struct evloop *loop, int timeout_ms);

#endif

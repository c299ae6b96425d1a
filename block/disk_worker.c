#include "block/disk_worker.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Requests travel as their r->io (format-private): linked through io.next_done, the result in
 * io.result, the request found again through io.opaque; blk_engine_complete() takes the same
 * blk_io at the end. */
struct disk_worker {
	struct disk *d;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;         /* work queued, or stop */
	pthread_cond_t idle;         /* busy dropped to 0; or the thread's start-up is over */
	struct blk_io *todo, **todo_tail;
	struct blk_io *done, **done_tail;
	unsigned busy;               /* queued or being served */
	bool stop;
	bool init_over;
	int init_ret;
	int (*thread_init)(void *arg);
	void *init_arg;
	struct ev_handler ev;        /* eventfd: results are waiting in done */
	struct evloop *loop;
};

static void work_done(struct blk_io *io, int64_t result)
{
	struct disk_req *r = io->opaque;

	r->done(r, (int)result);
}

/* Runs fmt->work for @r; the blk_io is made ready for the engine's completion path. */
static int64_t run_work(struct disk *d, struct disk_req *r)
{
	int64_t ret;

	disk_format_lock(d);
	ret = d->fmt->work(d, r);
	disk_format_unlock(d);
	return ret;
}

static void *worker_main(void *arg)
{
	struct disk_worker *w = arg;
	int ret = w->thread_init ? w->thread_init(w->init_arg) : 0;

	pthread_mutex_lock(&w->lock);
	w->init_ret = ret;
	w->init_over = true;
	pthread_cond_broadcast(&w->idle);
	while (!ret) {
		struct blk_io *io;
		uint64_t one = 1;

		while (!w->todo && !w->stop)
			pthread_cond_wait(&w->wake, &w->lock);
		if (!w->todo)
			break; /* stopping, and everything queued was served */
		io = w->todo;
		w->todo = io->next_done;
		if (!w->todo)
			w->todo_tail = &w->todo;
		pthread_mutex_unlock(&w->lock);

		io->result = run_work(w->d, io->opaque);

		pthread_mutex_lock(&w->lock);
		io->next_done = NULL;
		*w->done_tail = io;
		w->done_tail = &io->next_done;
		if (--w->busy == 0)
			pthread_cond_broadcast(&w->idle);
		/* Under the lock: stop closes the eventfd only after the thread has ended. */
		if (write(w->ev.fd, &one, sizeof(one)) < 0) {
			/* the counter is far from full; the I/O thread reads it at each wake-up */
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Takes the served requests (the caller completes them through the engine). */
static struct blk_io *take_done(struct disk_worker *w)
{
	struct blk_io *list;

	pthread_mutex_lock(&w->lock);
	list = w->done;
	w->done = NULL;
	w->done_tail = &w->done;
	pthread_mutex_unlock(&w->lock);
	return list;
}

/* A result to the engine: a completion, or the data I/O the work prepared. */
static void hand_one(struct disk *d, struct blk_io *io, int64_t result)
{
	int ret;

	if (result != DISK_WORK_SUBMIT)
		blk_engine_complete(d->engine, io, result);
	else if ((ret = blk_engine_submit(d->engine, io)))
		blk_engine_complete(d->engine, io, ret);
}

static void hand_to_engine(struct disk *d, struct blk_io *list)
{
	while (list) {
		struct blk_io *next = list->next_done;

		hand_one(d, list, list->result);
		list = next;
	}
	blk_engine_kick(d->engine);
}

/* I/O thread: results are in; their completions run now, as the engine's own do. */
static void worker_results(struct ev_handler *h, uint32_t events)
{
	struct disk_worker *w = h->opaque;
	uint64_t n;
	struct blk_io *list;

	(void)events;
	if (read(w->ev.fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: another wake-up read it */
	}
	list = take_done(w);
	if (list) {
		hand_to_engine(w->d, list);
		blk_engine_poll(w->d->engine);
	}
}

static void worker_free(struct disk_worker *w)
{
	if (w->ev.fd >= 0)
		close(w->ev.fd);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->idle);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int disk_worker_start(struct disk *d, int (*thread_init)(void *arg), void *arg)
{
	struct disk_worker *w;
	int ret;

	if (!d->fmt->work || d->worker)
		return 0;
	if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	w->d = d;
	w->loop = d->loop;
	w->thread_init = thread_init;
	w->init_arg = arg;
	w->todo_tail = &w->todo;
	w->done_tail = &w->done;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_cond_init(&w->idle, NULL);
	w->ev = (struct ev_handler){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), worker_results, w };
	if (w->ev.fd < 0) {
		ret = -errno;
		worker_free(w);
		return ret;
	}
	if ((ret = evloop_add(w->loop, &w->ev, EPOLLIN))) {
		worker_free(w);
		return ret;
	}
	if ((ret = -pthread_create(&w->thread, NULL, worker_main, w))) {
		evloop_del(w->loop, &w->ev);
		worker_free(w);
		return ret;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->init_over)
		pthread_cond_wait(&w->idle, &w->lock);
	ret = w->init_ret;
	pthread_mutex_unlock(&w->lock);
	if (ret) {
		pthread_join(w->thread, NULL);
		evloop_del(w->loop, &w->ev);
		worker_free(w);
		return ret;
	}
	d->worker = w;
	return 0;
}

void disk_worker_defer(struct disk *d, struct disk_req *r)
{
	struct disk_worker *w = d->worker;

	r->io = (struct blk_io){ .op = r->op, .done = work_done, .opaque = r };
	if (!w) {
		hand_one(d, &r->io, run_work(d, r)); /* the caller kicks the engine */
		return;
	}
	pthread_mutex_lock(&w->lock);
	*w->todo_tail = &r->io;
	w->todo_tail = &r->io.next_done;
	w->busy++;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

void disk_worker_drain(struct disk *d)
{
	struct disk_worker *w = d->worker;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	while (w->busy)
		pthread_cond_wait(&w->idle, &w->lock);
	pthread_mutex_unlock(&w->lock);
	hand_to_engine(d, take_done(w));
}

void disk_worker_stop(struct disk *d)
{
	struct disk_worker *w = d->worker;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	evloop_del(w->loop, &w->ev);
	worker_free(w);
	d->worker = NULL;
}

bool disk_format_trylock(struct disk *d)
{
	return pthread_mutex_trylock(&d->format_lock) == 0;
}

void disk_format_lock(struct disk *d)
{
	pthread_mutex_lock(&d->format_lock);
}

void disk_format_unlock(struct disk *d)
{
	pthread_mutex_unlock(&d->format_lock);
}

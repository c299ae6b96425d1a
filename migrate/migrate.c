/* Live migration, the source side: the control side and the migration thread's life (see
 * migrate/migrate.h, and migrate/source.h for how the side is split). */
#include "migrate/migrate.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migrate/source.h"
#include "migrate/throttle.h"
#include "vmm/lifecycle.h"
#include "vmm/seccomp.h"
#include "vmm/vm.h"

const char *migrate_phase_name(enum migrate_phase p)
{
	switch (p) {
	case MIGRATE_NONE: return "none";
	case MIGRATE_SETUP: return "setup";
	case MIGRATE_PRECOPY: return "pre-copy";
	case MIGRATE_STOP_COPY: return "stop-copy";
	case MIGRATE_COMPLETED: return "completed";
	case MIGRATE_FAILED: return "failed";
	case MIGRATE_CANCELLED: return "cancelled";
	case MIGRATE_UNKNOWN: return "unknown";
	}
	return "unknown";
}

void migrate_set_phase(struct migration *m, enum migrate_phase p)
{
	pthread_mutex_lock(&m->lock);
	m->st.phase = p;
	pthread_mutex_unlock(&m->lock);
}

void migrate_status_copy(struct migration *m, struct migrate_status *st)
{
	pthread_mutex_lock(&m->lock);
	*st = m->st;
	if (atomic_load(&m->running))
		st->total_ms = now_ms() - m->t_start;
	pthread_mutex_unlock(&m->lock);
}

static void *worker_main(void *arg)
{
	struct vm *vm = arg;
	struct migrate_worker *w = vm->mig_worker;
	int ret;

	pthread_setname_np(pthread_self(), "migration");
	ret = seccomp_thread_enter(vm->cfg->seccomp_set, SECCOMP_THREAD_MIGRATION);
	if (ret)
		vm_request_stop(vm, VM_STOP_ERROR, 1, "migration thread: seccomp filter: %s",
				strerror(-ret));
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct migration *m;

		while (!w->job && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->quit)
			break;
		m = w->job;
		w->job = NULL;
		pthread_mutex_unlock(&w->lock);
		if (!ret) {
			migrate_run(m);
		} else {
			pthread_mutex_lock(&m->lock);
			m->st.phase = MIGRATE_FAILED;
			snprintf(m->st.error, sizeof(m->st.error), "the migration thread has no filter");
			pthread_mutex_unlock(&m->lock);
			atomic_store(&m->running, false);
		}
		pthread_mutex_lock(&w->lock);
		if (!w->job) /* the next may have come as soon as this one's end was seen */
			w->busy = false;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void worker_free(struct migrate_worker *w)
{
	throttle_destroy(w->throttle);
	close(w->req_fd);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int migrate_worker_start(struct vm *vm, struct errmsg *err)
{
	struct migrate_worker *w = calloc(1, sizeof(*w));
	int ret;

	if (!w)
		return errmsg_set(err, -ENOMEM, "migration thread: out of memory");
	w->req_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->req_fd < 0) {
		ret = -errno;
		free(w);
		return errmsg_set(err, ret, "migration thread: eventfd: %s", strerror(-ret));
	}
	ret = throttle_create(vm, &w->throttle, err);
	if (ret) {
		close(w->req_fd);
		free(w);
		return ret;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	vm->mig_worker = w;
	ret = pthread_create(&w->thread, NULL, worker_main, vm);
	if (ret) {
		vm->mig_worker = NULL;
		worker_free(w);
		return errmsg_set(err, -ret, "cannot start the migration thread: %s", strerror(ret));
	}
	return 0;
}

/* Waits until the worker has no migration (handed over or running). */
static void worker_wait_idle(struct migrate_worker *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->busy)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

/* ---- the control side ---- */

static void migration_free(struct migration *m)
{
	if (!m)
		return;
	if (m->req_ev.fd >= 0)
		evloop_del(&m->vm->loop, &m->req_ev); /* the worker's eventfd: not ours to close */
	if (m->fd >= 0)
		close(m->fd);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int migrate_start(struct vm *vm, const struct migrate_params *p, struct errmsg *err)
{
	struct migrate_worker *w = vm->mig_worker;
	struct migration *m;
	int ret;

	if (!w)
		return errmsg_set(err, -ENOTSUP, "no migration thread (the VM was started without --api-socket)");
	if (vm->mig && atomic_load(&vm->mig->running))
		return errmsg_set(err, -EBUSY, "a migration is running (migrate-cancel stops it)");
	if (vm_stopping(vm) || vm_state(vm) != VM_STATE_RUNNING)
		return errmsg_set(err, -EINVAL, "the VM is %s, not running", vm_state_name(vm_state(vm)));
	m = calloc(1, sizeof(*m));
	if (!m)
		return errmsg_set(err, -ENOMEM, "out of memory");
	m->vm = vm;
	atomic_init(&m->fd, -1);
	m->req_ev = (struct ev_handler){ -1, migrate_on_request, m };
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	ret = channel_uri_parse(p->uri, &m->uri, err);
	if (ret) {
		migration_free(m);
		return ret;
	}
	m->downtime_ms = p->downtime_ms;
	m->bw_limit = p->bandwidth * 1e6;
	m->auto_converge = p->auto_converge;
	m->disks = p->disks;
	snprintf(m->st.uri, sizeof(m->st.uri), "%s", p->uri);
	m->st.phase = MIGRATE_SETUP;
	m->st.expected_downtime_ms = -1;
	m->t_start = m->last_line = now_ms();
	/* The worker's eventfd is registered once: the last migration's record lets it go
	 * (that record stays for migrate-status until the new one is under way). */
	if (vm->mig && vm->mig->req_ev.fd >= 0) {
		evloop_del(&vm->loop, &vm->mig->req_ev);
		vm->mig->req_ev.fd = -1;
	}
	m->req_ev.fd = w->req_fd;
	ret = evloop_add(&vm->loop, &m->req_ev, EPOLLIN);
	if (ret) {
		m->req_ev.fd = -1;
		migration_free(m);
		return errmsg_set(err, ret, "the migration's requests: %s", strerror(-ret));
	}
	/* The previous migration's record goes only now that a new one can start. */
	migration_free(vm->mig);
	vm->mig = m;
	atomic_store(&m->running, true);
	pthread_mutex_lock(&w->lock);
	w->job = m;
	w->busy = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void migrate_get_status(struct vm *vm, struct migrate_status *st)
{
	memset(st, 0, sizeof(*st));
	if (vm->mig)
		migrate_status_copy(vm->mig, st);
}

int migrate_cancel(struct vm *vm, struct errmsg *err)
{
	struct migration *m = vm->mig;

	if (!m || !atomic_load(&m->running))
		return errmsg_set(err, -ENOENT, "no migration is running");
	/* Under the lock, as the migration thread's decision to send the final state: a cancel
	 * that slipped in after it could shut the socket down under END, and read as the
	 * destination's end of file that would have resumed the VM beside the destination. */
	pthread_mutex_lock(&m->lock);
	if (atomic_load(&m->final)) {
		pthread_mutex_unlock(&m->lock);
		return errmsg_set(err, -EBUSY, "too late: the VM's final state is on its way to the destination");
	}
	atomic_store(&m->cancel, true);
	pthread_mutex_unlock(&m->lock);
	/* A send blocked on a slow destination returns now. */
	if (m->fd >= 0)
		shutdown(m->fd, SHUT_RDWR);
	return 0;
}

int migrate_before_resume(struct vm *vm, struct errmsg *err)
{
	struct migration *m = vm->mig;
	int ret;

	if (!m || migrate_running(vm))
		return 0;
	if (m->disks_released) {
		ret = vm_disks_activate(vm, err);
		if (ret)
			return errmsg_prefix(err, ret, "taking the images back from the migration (does the destination run the VM?)");
		/* Locked again: now no one else writes them while we look. */
		ret = migrate_images_unchanged(m, err);
		if (ret) {
			vm_disks_inactivate(vm);
			return ret;
		}
		m->disks_released = false;
	}
	pthread_mutex_lock(&m->lock);
	if (m->st.phase == MIGRATE_UNKNOWN) {
		m->st.phase = MIGRATE_FAILED;
		snprintf(m->st.error, sizeof(m->st.error),
			 "no answer from the destination after the whole stream; resumed here on request");
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

bool migrate_running(struct vm *vm)
{
	return vm->mig && atomic_load(&vm->mig->running);
}

void migrate_destroy(struct vm *vm)
{
	struct migrate_worker *w = vm->mig_worker;
	struct migration *m = vm->mig;

	if (m) {
		atomic_store(&m->cancel, true);
		pthread_mutex_lock(&m->lock);
		m->io_gone = true;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
		if (m->fd >= 0)
			shutdown(m->fd, SHUT_RDWR);
	}
	if (w) {
		worker_wait_idle(w);
		pthread_mutex_lock(&w->lock);
		w->quit = true;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	migration_free(m);
	vm->mig = NULL;
	if (w) {
		worker_free(w);
		vm->mig_worker = NULL;
	}
}

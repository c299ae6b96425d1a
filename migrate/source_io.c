/* The migration thread's requests to the I/O thread: see migrate/source.h. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "migrate/dirty.h"
#include "migrate/snapshot.h"
#include "migrate/source.h"
#include "vmm/lifecycle.h"
#include "vmm/vm.h"

/* A failed migration: logging off, the images taken back, the VM running again. The VMM's
 * dirty bitmap is freed only while the VM is paused: a device or vCPU thread could be marking
 * it at any other time. A VM that cannot pause (it is stopping) keeps the bitmap until
 * gm_destroy(). */
static int abort_on_io_thread(struct migration *m, struct errmsg *err)
{
	struct vm *vm = m->vm;
	int ret = vm_pause(vm, err);

	if (ret)
		return errmsg_prefix(err, ret, "pausing to stop the dirty log");
	dirty_stop(vm);
	disk_stream_stop(m->ds);
	/* Back before the guest writes again; an image another process took meanwhile (the
	 * destination did, then failed?) keeps the VM from running on it. */
	if (m->disks_released && (ret = vm_disks_activate(vm, err)))
		return ret;
	m->disks_released = false;
	return vm_resume(vm, err);
}

void migrate_on_request(struct ev_handler *h, uint32_t events)
{
	struct migration *m = h->opaque;
	struct vm *vm = m->vm;
	struct errmsg err = { "" };
	enum io_req req;
	uint64_t cnt;
	int ret = 0;

	(void)events;
	if (read(h->fd, &cnt, sizeof(cnt)) < 0) {
		/* spurious wakeup: the eventfd is non-blocking */
	}
	pthread_mutex_lock(&m->lock);
	req = m->req;
	pthread_mutex_unlock(&m->lock);
	if (req == REQ_PAUSE) {
		/* The downtime starts as the vCPUs are asked to stop: their parking and the
		 * devices' drain (a disk's flush) are part of it. */
		m->t_pause = now_ms();
		ret = vm_stopping(vm) ? errmsg_set(&err, -ESHUTDOWN, "the VM is stopping") :
					 vm_pause(vm, &err);
		if (!ret) {
			ret = vm_state_capture(vm, &m->state, &m->state_len, &err);
			m->t_captured = now_ms();
		}
		/* The devices are quiesced (disks flushed): the destination may take the images
		 * (copied disks stay: the destination has its own). */
		if (!ret && !m->ds) {
			vm_disks_inactivate(vm);
			m->disks_released = true;
		}
	} else if (req == REQ_ABORT) {
		ret = abort_on_io_thread(m, &err);
	} else if (req == REQ_HOLD) {
		/* Paused since REQ_PAUSE: the bitmap may go. */
		dirty_stop(vm);
		disk_stream_stop(m->ds);
	} else {
		return;
	}
	pthread_mutex_lock(&m->lock);
	m->req = REQ_NONE;
	m->req_done = true;
	m->req_ret = ret;
	m->req_err = err;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/* The migration thread asks the I/O thread and waits for its answer. */
int migrate_io_request(struct migration *m, enum io_req req, struct errmsg *err)
{
	uint64_t one = 1;
	int ret;

	pthread_mutex_lock(&m->lock);
	m->req = req;
	m->req_done = false;
	pthread_mutex_unlock(&m->lock);
	if (write(m->req_ev.fd, &one, sizeof(one)) < 0)
		return errmsg_set(err, -errno, "waking the I/O thread: %s", strerror(errno));
	pthread_mutex_lock(&m->lock);
	while (!m->req_done && !m->io_gone)
		pthread_cond_wait(&m->cond, &m->lock);
	if (m->req_done) {
		ret = m->req_ret;
		if (ret)
			*err = m->req_err;
	} else {
		ret = errmsg_set(err, -ESHUTDOWN, "the VM stopped");
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

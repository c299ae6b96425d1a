/* The migration thread's requests to the I/O thread: see migrate/source.h. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/disk.h"
#include "migrate/dirty.h"
#include "migrate/snapshot.h"
#include "migrate/source.h"
#include "virtio/blk.h"
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

static struct disk *image_of(struct vm *vm, unsigned i)
{
	return vm->blk[i] ? virtio_blk_disk(vm->blk[i]) : NULL;
}

/* Flushed and paused: nothing of ours changes them any more. */
static void record_images(struct migration *m)
{
	for (unsigned i = 0; i < m->vm->cfg->nr_disks && i < VM_MAX_DISKS; i++) {
		struct disk *d = image_of(m->vm, i);

		memset(&m->released[i], 0, sizeof(m->released[i]));
		if (d && fstat(d->fd, &m->released[i]) < 0)
			memset(&m->released[i], 0, sizeof(m->released[i]));
	}
}

int migrate_images_unchanged(struct migration *m, struct errmsg *err)
{
	for (unsigned i = 0; i < m->vm->cfg->nr_disks && i < VM_MAX_DISKS; i++) {
		const struct stat *a = &m->released[i];
		struct disk *d = image_of(m->vm, i);
		struct stat b;

		if (!d || d->readonly)
			continue;
		if (fstat(d->fd, &b) < 0)
			return errmsg_set(err, -errno, "--disk path=%s: %s", d->path, strerror(errno));
		if (a->st_ino != b.st_ino || a->st_size != b.st_size ||
		    a->st_mtim.tv_sec != b.st_mtim.tv_sec || a->st_mtim.tv_nsec != b.st_mtim.tv_nsec)
			return errmsg_set(err, -ESTALE, "--disk path=%s: the image was written since this VM paused (the destination ran it?): it cannot run here on it any more",
					  d->path);
	}
	return 0;
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
			record_images(m);
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

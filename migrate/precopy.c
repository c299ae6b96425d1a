/* The migration thread's work, pre-copy to the confirmation: see migrate/source.h. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "migrate/dirty.h"
#include "migrate/snapshot.h"
#include "migrate/source.h"
#include "migrate/throttle.h"
#include "vmm/lifecycle.h"
#include "vmm/vm.h"

/* How long the source waits for the destination's confirmation after END: it loads the state
 * and RAM it already has, so seconds at most. A destination that says nothing for this long
 * may still confirm and run the VM: the outcome is unknown (MIGRATE_UNKNOWN). */
#define CONFIRM_TIMEOUT_MS 30000

#define SEND_TIMEOUT_TEXT_(s) "the destination took no data for " #s " s"
#define SEND_TIMEOUT_TEXT(s) SEND_TIMEOUT_TEXT_(s)

static const char *send_strerror(int ret)
{
	return ret == -EAGAIN ? SEND_TIMEOUT_TEXT(CHANNEL_SEND_TIMEOUT_S) : strerror(-ret);
}

static void set_throttle(struct migration *m, unsigned pct)
{
	struct vcpu_throttle *t = m->vm->mig_worker->throttle;

	if (atomic_load(&m->vm->vcpu_throttle_pct) != pct)
		throttle_set(t, pct);
	pthread_mutex_lock(&m->lock);
	m->st.throttle_pct = pct;
	pthread_mutex_unlock(&m->lock);
}

/* The stream's position: what is queued in a section counts (a round of a few MiB fits one
 * section, which goes out only at the round's end). */
static uint64_t stream_pos(struct migration *m)
{
	return m->w.bytes + stream_writer_buffered(&m->w) + disk_stream_buffered(m->ds);
}

/* Auto-converge, as QEMU's cpu-throttle: adds up what the guest dirtied (@dirtied bytes) and
 * what was sent since the last count; once a period of THROTTLE_PERIOD_MS is full, raises the
 * throttle if the guest dirtied more than half of what was sent (twice in a row:
 * converge_throttle_step) and starts the next period. */
static void throttle_account(struct migration *m, uint64_t dirtied)
{
	double t = now_ms();
	uint64_t pos = stream_pos(m);

	m->thr_dirtied += dirtied;
	m->thr_sent += pos - m->acct_sent;
	m->acct_sent = pos;
	if (!m->thr_period_start)
		m->thr_period_start = m->round_start;
	if (t - m->thr_period_start < THROTTLE_PERIOD_MS)
		return;
	set_throttle(m, converge_throttle_step(&m->thr, m->thr_dirtied, m->thr_sent));
	if (m->thr.pct == THROTTLE_MAX_PCT && !m->t_max_throttle)
		m->t_max_throttle = t;
	m->thr_dirtied = m->thr_sent = 0;
	m->thr_period_start = t;
}

/* During a round: the dirty log into m->next (the next round's pages), and the pages new
 * since the last sample counted for the throttle. */
static int sample_dirty(struct migration *m, double t)
{
	uint64_t n;
	int ret = dirty_collect(m->vm, &m->next, &m->sample_err);

	if (ret)
		return ret;
	n = dirty_set_count(&m->next, &m->vm->mem) * STREAM_PAGE;
	throttle_account(m, n - m->sampled_bytes);
	m->sampled_bytes = n;
	m->t_sample = t;
	return 0;
}

/* Every STREAM_TICK_PAGES pages: cancel, the bandwidth limit, the throttle's sample, the
 * progress line. */
static int tick(void *arg, uint64_t pages)
{
	struct migration *m = arg;
	double t = now_ms(), elapsed = t - m->round_start;
	/* (queued counts: the limit held nothing back before) */
	uint64_t sent = stream_pos(m) - m->round_bytes0;
	int ret;

	(void)pages;
	if (atomic_load(&m->cancel) && !atomic_load(&m->final))
		return -ECANCELED;
	if (m->bw_limit > 0) {
		double due_ms = (double)sent / m->bw_limit * 1e3;

		if (due_ms > elapsed) {
			struct timespec ts = { 0, (long)((due_ms - elapsed) * 1e6) };

			if (due_ms - elapsed >= 1000) {
				ts.tv_sec = (time_t)((due_ms - elapsed) / 1e3);
				ts.tv_nsec = 0;
			}
			nanosleep(&ts, NULL);
		}
	}
	if (m->sampling && m->auto_converge && t - m->t_sample >= THROTTLE_PERIOD_MS &&
	    (ret = sample_dirty(m, t)))
		return ret;
	pthread_mutex_lock(&m->lock);
	m->st.bytes_sent = m->w.bytes;
	pthread_mutex_unlock(&m->lock);
	if (t - m->last_line >= 1000) {
		struct migrate_status s;

		m->last_line = t;
		migrate_status_copy(m, &s);
		fprintf(stderr, "minivmm: migration: %s, round %u, %llu MiB sent, %llu MiB left, "
			"%.0f MB/s, dirtying %.0f MB/s, vCPU throttle %u%%\n",
			migrate_phase_name(s.phase), s.iteration + 1,
			(unsigned long long)(s.bytes_sent >> 20), (unsigned long long)(s.remaining >> 20),
			s.bandwidth / 1e6, s.dirty_rate / 1e6, s.throttle_pct);
	}
	return 0;
}

/* Sends the disk blocks still to send (disks=copy), then with @ram @d's pages (all of RAM
 * when NULL, zero pages skipped: the destination's RAM is fresh), and measures the round. */
static int send_round(struct migration *m, struct dirty_set *d, bool ram, struct errmsg *err)
{
	double t;
	int ret;

	m->round_start = now_ms();
	m->round_bytes0 = m->w.bytes;
	ret = disk_stream_send(m->ds, &m->w, tick, m, err);
	if (ret == -EAGAIN)
		errmsg_set(err, ret, "sending a disk: %s", send_strerror(ret));
	if (ret)
		return ret;
	m->sample_err.text[0] = '\0';
	ret = ram ? stream_write_ram(&m->w, &m->vm->mem, d ? d->bits : NULL, !d, tick, m) : 0;
	if (ret == -ECANCELED)
		return errmsg_set(err, ret, "cancelled");
	if (ret && m->sample_err.text[0]) {
		*err = m->sample_err;
		return ret;
	}
	if (ret)
		return errmsg_set(err, ret, "sending RAM: %s", send_strerror(ret));
	t = now_ms() - m->round_start;
	pthread_mutex_lock(&m->lock);
	m->st.iteration++;
	m->st.bytes_sent = m->w.bytes;
	/* Rounds shorter than a few ms measure the scheduler, not the link. */
	if (t >= 5)
		m->st.bandwidth = (double)(m->w.bytes - m->round_bytes0) / t * 1e3;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int wait_confirmation(struct migration *m, struct errmsg *err)
{
	struct pollfd p = { .fd = m->fd, .events = POLLIN };
	uint8_t b;
	ssize_t n;
	int ret;

	do {
		ret = poll(&p, 1, CONFIRM_TIMEOUT_MS);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0) {
		m->outcome_unknown = true;
		return errmsg_set(err, -errno, "waiting for the confirmation: %s", strerror(errno));
	}
	/* Silence, or a reset (which can swallow a confirmation on its way): the destination
	 * may run the VM. An end of file comes only after whatever the destination sent. */
	if (ret == 0) {
		m->outcome_unknown = true;
		return errmsg_set(err, -ETIMEDOUT, "the destination did not confirm within %d s",
				  CONFIRM_TIMEOUT_MS / 1000);
	}
	do {
		n = recv(m->fd, &b, 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		m->outcome_unknown = true;
		return errmsg_set(err, -errno, "waiting for the confirmation: %s", strerror(errno));
	}
	if (n == 0)
		return errmsg_set(err, -EPIPE, "the destination closed the connection without confirming (it refused the stream: see its output)");
	if (b == MIGRATE_REFUSED)
		return errmsg_set(err, -EPIPE, "the destination refused the stream (see its output)");
	if (b != MIGRATE_CONFIRM)
		return errmsg_set(err, -EPROTO, "the destination answered 0x%02x, not the confirmation", b);
	return 0;
}

/* Before another round that the remainder needs: the round's pages the samples did not count
 * (@dirtied bytes in all) go to the throttle, and the migration gives up once the highest
 * throttle has not brought the remainder within the budget for
 * CONVERGE_MAX_THROTTLED_ROUNDS rounds. */
static int auto_converge(struct migration *m, double expected_ms, uint64_t dirtied,
			 struct errmsg *err)
{
	double t = now_ms();

	if (m->thr.pct == THROTTLE_MAX_PCT &&
	    ++m->max_throttle_rounds > CONVERGE_MAX_THROTTLED_ROUNDS &&
	    t - m->t_max_throttle >= CONVERGE_MAX_THROTTLED_MS)
		return errmsg_set(err, -ETIMEDOUT,
				  "did not converge: with the vCPUs throttled to %u%% for %.1f s, %.1f MiB stay dirty, about %.0f ms to send at %.1f MB/s, over the %.0f ms of the %u ms downtime budget the pages may take (raise downtime_ms, or bandwidth)",
				  THROTTLE_MAX_PCT, (t - m->t_max_throttle) / 1e3,
				  (double)m->st.remaining / (1 << 20), expected_ms, m->st.bandwidth / 1e6,
				  m->downtime_ms * CONVERGE_PAGES_SHARE, m->downtime_ms);
	throttle_account(m, dirtied > m->sampled_bytes ? dirtied - m->sampled_bytes : 0);
	return 0;
}

/* After a round: the pages its samples gathered become the set to send (@d, cleared once
 * sent), and the samples start again for the next round. */
static void take_samples(struct migration *m, struct dirty_set *d)
{
	struct dirty_set t = *d;

	*d = m->next;
	m->next = t;
	m->t_sample = now_ms();
}

/* Waits for the connection's send queue to fall to a tenth of the downtime budget at
 * @bandwidth (bytes/s), for at most twice its expected time (the caller counts what is left). */
static int drain_queue(struct migration *m, double bandwidth, struct errmsg *err)
{
	uint64_t below = (uint64_t)(bandwidth * m->downtime_ms / 1e4), unsent;
	double timeout_ms;
	int ret = channel_unsent(m->w.fd, &unsent);

	if (!ret && unsent > below) {
		timeout_ms = 100 + 2e3 * (double)unsent / bandwidth;
		ret = channel_drain(m->w.fd, below, timeout_ms < 10000 ? (int)timeout_ms : 10000,
				    &m->cancel, &unsent);
	}
	if (ret == -ECANCELED)
		return errmsg_set(err, ret, "cancelled");
	if (ret)
		return errmsg_set(err, ret, "the connection's send queue: %s", strerror(-ret));
	return 0;
}

static int precopy(struct migration *m, struct dirty_set *d, struct errmsg *err)
{
	struct vm *vm = m->vm;
	void *config = NULL;
	size_t config_len;
	int ret;

	int fd;

	ret = channel_connect(&m->uri, &fd, err);
	if (ret)
		return ret;
	atomic_store(&m->fd, fd);
	m->w.fd = fd;
	if (atomic_load(&m->cancel))
		return errmsg_set(err, -ECANCELED, "cancelled");
	ret = snapshot_config_build(vm, &config, &config_len);
	if (ret)
		return errmsg_set(err, ret, "describing the VM: %s", strerror(-ret));
	ret = stream_write_header(&m->w);
	ret = ret ? ret : stream_write_section(&m->w, STREAM_SEC_CONFIG, config, config_len);
	free(config);
	if (ret)
		return errmsg_set(err, ret, "sending the configuration: %s", send_strerror(ret));
	/* Disks first, RAM's dirty log only after them: a disk's pass is long, and the log
	 * costs the guest a fault per page it writes. Their tracking starts before their pass. */
	ret = disk_stream_start(vm, m->disks, &m->ds, err);
	if (ret)
		return ret;
	migrate_set_phase(m, MIGRATE_PRECOPY);
	if (m->ds) {
		ret = disk_stream_begin(m->ds, &m->w, err);
		if (ret == -EAGAIN)
			errmsg_set(err, ret, "sending the disks' list: %s", send_strerror(ret));
		ret = ret ? ret : send_round(m, NULL, false, err);
		if (ret)
			return ret;
	}
	/* The log starts before the full pass: a page written during it is sent again. */
	ret = dirty_start(vm, err);
	if (ret)
		return ret;
	m->sampling = true;
	m->t_sample = now_ms();
	m->acct_sent = stream_pos(m);
	m->sampled_bytes = 0;
	ret = send_round(m, NULL, true, err);
	if (!ret)
		take_samples(m, d);
	for (bool drained = false;;) {
		struct converge_in in;
		enum converge_step step;
		double expected, t0 = m->round_start, dt;
		uint64_t dirty, queued = 0; /* bytes: pages and changed disk blocks; in the socket */
		uint64_t dirtied;

		if (ret)
			return ret;
		ret = dirty_collect(vm, d, err);
		if (ret)
			return ret;
		if (drained && (ret = channel_unsent(m->w.fd, &queued)))
			return errmsg_set(err, ret, "the connection's send queue: %s", strerror(-ret));
		dirtied = dirty_set_count(d, &vm->mem) * STREAM_PAGE + disk_stream_collect(m->ds);
		dirty = dirtied + queued;
		dt = now_ms() - t0;
		pthread_mutex_lock(&m->lock);
		m->st.remaining = dirty;
		m->st.dirty_rate = dt > 0 ? (double)m->st.remaining / dt * 1e3 : 0;
		/* With auto-converge the throttle decides when to give up (it ramps over
		 * seconds, however many rounds that takes); without it, the round limit. */
		in = (struct converge_in){ m->st.remaining, m->st.bandwidth, m->downtime_ms,
					   m->st.iteration,
					   m->auto_converge ? UINT_MAX : CONVERGE_MAX_ITERATIONS };
		pthread_mutex_unlock(&m->lock);
		/* With a bandwidth limit, the link is the limit, not what was measured. */
		if (m->bw_limit > 0 && (in.bandwidth <= 0 || in.bandwidth > m->bw_limit))
			in.bandwidth = m->bw_limit;
		step = converge_decide(&in, &expected);
		pthread_mutex_lock(&m->lock);
		m->st.expected_downtime_ms = expected;
		pthread_mutex_unlock(&m->lock);
		if (step == CONVERGE_GIVE_UP)
			return errmsg_set(err, -ETIMEDOUT,
					  "did not converge in %u rounds: %.1f MiB stay dirty, about %.0f ms to send at %.1f MB/s, over the %.0f ms of the %u ms downtime budget the pages may take (raise downtime_ms%s)",
					  in.iteration, (double)in.remaining / (1 << 20), expected,
					  in.bandwidth / 1e6, m->downtime_ms * CONVERGE_PAGES_SHARE, m->downtime_ms,
					  m->auto_converge ? "" : ", or leave auto_converge on");
		if (step == CONVERGE_STOP_COPY && !drained && in.bandwidth > 0) {
			/* What the rounds left in the socket's queue reaches the destination before
			 * anything sent after the pause: on a link slower than the CPUs, where TCP
			 * queues up to seconds of it, that is downtime too. So let it drain first
			 * (down to a tenth of the budget), then weigh the dirty set again with what
			 * is still queued: the guest ran meanwhile. */
			ret = drain_queue(m, in.bandwidth, err);
			drained = true;
			continue;
		}
		if (step == CONVERGE_STOP_COPY)
			break;
		if (m->auto_converge && (ret = auto_converge(m, expected, dirtied, err)))
			return ret;
		m->sampled_bytes = 0;
		ret = send_round(m, d, true, err);
		dirty_set_clear(d, &vm->mem);
		take_samples(m, d);
		drained = false;
	}
	m->sampling = false;
	set_throttle(m, 0);
	if (atomic_load(&m->cancel))
		return errmsg_set(err, -ECANCELED, "cancelled");
	/* Stop and copy: from here on a cancel is refused: the destination may start the VM as
	 * soon as END arrives. */
	ret = migrate_io_request(m, REQ_PAUSE, err);
	if (ret)
		return errmsg_prefix(err, ret, "pausing the VM");
	/* The last moment a cancel counts (checked and set under the lock, as migrate_cancel()
	 * does: one or the other wins). */
	pthread_mutex_lock(&m->lock);
	if (!atomic_load(&m->cancel))
		atomic_store(&m->final, true);
	pthread_mutex_unlock(&m->lock);
	if (!atomic_load(&m->final))
		return errmsg_set(err, -ECANCELED, "cancelled");
	migrate_set_phase(m, MIGRATE_STOP_COPY);
	ret = dirty_collect(vm, d, err);
	if (ret)
		return ret;
	disk_stream_collect(m->ds); /* the disks are quiesced: every change is marked */
	m->final_bytes = m->w.bytes;
	ret = send_round(m, d, true, err);
	if (!ret && (ret = stream_write_section(&m->w, STREAM_SEC_STATE, m->state, m->state_len)))
		errmsg_set(err, ret, "sending the state: %s", send_strerror(ret));
	if (!ret && (ret = stream_write_end(&m->w)))
		errmsg_set(err, ret, "sending END: %s", send_strerror(ret));
	m->t_end_sent = now_ms();
	m->final_bytes = m->w.bytes - m->final_bytes;
	ret = ret ? ret : wait_confirmation(m, err);
	/* The destination runs the VM from here: the downtime ends now, not once this side has
	 * turned its dirty log off (a memslot update, slow on some hosts). */
	m->t_confirm = now_ms();
	return ret;
}

void migrate_run(struct migration *m)
{
	struct vm *vm = m->vm;
	struct errmsg err = { "" }, abort_err = { "" };
	struct dirty_set d;
	int ret, abort_ret = 0;

	ret = dirty_set_init(&d, &vm->mem);
	ret = ret ? ret : dirty_set_init(&m->next, &vm->mem);
	ret = ret ? errmsg_set(&err, ret, "out of memory") : stream_writer_init(&m->w, -1);
	if (!ret)
		ret = precopy(m, &d, &err);
	/* A cancel shuts the connection down under a send in progress: that send's error
	 * (EPIPE) is the cancel's doing, not a failure (make test saw "failed" for a cancel). */
	if (ret && ret != -ECANCELED && atomic_load(&m->cancel) && !atomic_load(&m->final))
		ret = errmsg_set(&err, -ECANCELED, "cancelled");
	if (!ret) {
		/* Paused for good: no device writes guest memory or a disk any more. */
		dirty_stop(vm);
		disk_stream_stop(m->ds);
	} else if (m->outcome_unknown) {
		int fd = atomic_load(&m->fd);

		fprintf(stderr, "minivmm: migration to %s: %s after the whole stream was sent: the destination may be running the VM, so it stays paused here%s; 'resume' on the control socket runs it here again, once you know the destination does not\n",
			m->st.uri, err.text, m->disks_released ? ", its images given up" : "");
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
		set_throttle(m, 0);
		abort_ret = migrate_io_request(m, REQ_HOLD, &abort_err);
	} else {
		int fd = atomic_load(&m->fd);

		fprintf(stderr, "minivmm: migration to %s %s: %s; the VM runs on here\n", m->st.uri,
			ret == -ECANCELED ? "cancelled" : "failed", err.text);
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
		set_throttle(m, 0);
		abort_ret = migrate_io_request(m, REQ_ABORT, &abort_err);
	}
	/* The status says "failed" only once the VM runs again. */
	pthread_mutex_lock(&m->lock);
	m->st.bytes_sent = m->w.bytes;
	m->st.total_ms = (ret ? now_ms() : m->t_confirm) - m->t_start;
	if (!ret) {
		m->st.phase = MIGRATE_COMPLETED;
		m->st.downtime_ms = m->t_confirm - m->t_pause;
	} else {
		m->st.phase = ret == -ECANCELED ? MIGRATE_CANCELLED :
			      m->outcome_unknown ? MIGRATE_UNKNOWN : MIGRATE_FAILED;
		snprintf(m->st.error, sizeof(m->st.error), "%.440s%s", err.text,
			 m->outcome_unknown ? " (the VM stays paused here: the destination may run it)" : "");
	}
	pthread_mutex_unlock(&m->lock);
	if (!ret) {
		/* Never resumed from here on: the destination runs the VM, and its disks. */
		fprintf(stderr, "minivmm: migration: completed in %.0f ms, %u rounds, %llu bytes, downtime %.1f ms (%.1f ms pausing and recording the state, %.1f ms sending the last %llu KiB, %.1f ms until the destination confirmed), vCPU throttle up to %u%%\n",
			m->st.total_ms, m->st.iteration, (unsigned long long)m->st.bytes_sent,
			m->st.downtime_ms, m->t_captured - m->t_pause, m->t_end_sent - m->t_captured,
			(unsigned long long)(m->final_bytes >> 10),
			m->t_confirm - m->t_end_sent, m->thr.pct);
		vm_request_stop(vm, VM_STOP_MIGRATED, 0, "migrated to %s", m->st.uri);
	} else if (abort_ret) {
		vm_request_stop(vm, VM_STOP_ERROR, 1, "migration failed and the VM cannot resume: %s",
				abort_err.text);
	}
	dirty_set_free(&d);
	dirty_set_free(&m->next);
	disk_stream_free(m->ds);
	m->ds = NULL;
	stream_writer_free(&m->w);
	free(m->state);
	m->state = NULL;
	atomic_store(&m->running, false);
}

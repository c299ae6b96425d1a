/* Saving a running VM to a snapshot file: see migrate/snapshot.h. */
#include "migrate/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/kvm_state.h"
#include "migrate/stream.h"
#include "vmm/lifecycle.h"
#include "vmm/state.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

/* ---- saving ---- */

struct snap {
	struct vm *vm;
	struct x86_msr_list *msrs;
	struct x86_vcpu_state **vcpus;
};

static int capture_vcpu(struct vcpu *v, void *arg)
{
	struct snap *s = arg;

	return x86_vcpu_state_capture(v->fd, s->msrs, &s->vcpus[v->id]);
}

static int state_fill(void *fdt, void *arg)
{
	struct snap *s = arg;
	int node, cpus, ret;

	node = state_add_node(fdt, 0, "vm");
	ret = node < 0 ? node : x86_vm_state_save(s->vm->vm_fd, fdt, node);
	cpus = ret ? ret : state_add_node(fdt, 0, "vcpus");
	if (cpus < 0)
		return cpus;
	for (unsigned i = 0; i < s->vm->nr_vcpus; i++) {
		char name[16];

		snprintf(name, sizeof(name), "cpu@%u", i);
		node = state_add_node(fdt, cpus, name);
		ret = node < 0 ? node : x86_vcpu_state_encode(s->vcpus[i], fdt, node);
		if (ret)
			return ret;
	}
	node = state_add_node(fdt, 0, "devices");
	return node < 0 ? node : dev_list_save(&s->vm->devices, fdt, node);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct ram_progress {
	uint64_t total;
	double last;
};

/* A progress line a second on long saves. */
static int ram_tick(void *arg, uint64_t pages)
{
	struct ram_progress *p = arg;

	if ((pages & ((64u << 20) / STREAM_PAGE - 1)) == 0 && now_s() - p->last >= 1.0) {
		p->last = now_s();
		fprintf(stderr, "minivmm: snapshot: RAM %llu of %llu MiB\n",
			(unsigned long long)(pages * STREAM_PAGE >> 20),
			(unsigned long long)(p->total >> 20));
	}
	return 0;
}

/* Non-zero pages of every RAM region. */
static int write_ram(struct vm *vm, struct stream_writer *w)
{
	struct ram_progress p = { .total = vm->mem.size, .last = now_s() };

	return stream_write_ram(w, &vm->mem, NULL, true, ram_tick, &p);
}

static int write_file(struct vm *vm, const char *path, const void *config, size_t config_len,
		      const void *state, size_t state_len, struct errmsg *err)
{
	char tmp[4096];
	struct stream_writer w;
	int fd, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return errmsg_set(err, -ENAMETOOLONG, "snapshot %s: path too long", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return errmsg_set(err, -errno, "snapshot %s: %s", path, strerror(errno));
	ret = stream_writer_init(&w, fd);
	ret = ret ? ret : stream_write_header(&w);
	ret = ret ? ret : stream_write_section(&w, STREAM_SEC_CONFIG, config, config_len);
	ret = ret ? ret : stream_write_section(&w, STREAM_SEC_STATE, state, state_len);
	ret = ret ? ret : write_ram(vm, &w);
	ret = ret ? ret : stream_write_end(&w);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	stream_writer_free(&w);
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return errmsg_set(err, ret, "snapshot %s: %s", path, strerror(-ret));
	}
	return 0;
}

int vm_state_capture(struct vm *vm, void **state, size_t *len, struct errmsg *err)
{
	struct snap s = { .vm = vm };
	int ret;

	*state = NULL;
	s.vcpus = calloc(vm->nr_vcpus, sizeof(*s.vcpus));
	ret = s.vcpus ? x86_msr_list_get(vm->kvm_fd, &s.msrs) : -ENOMEM;
	if (ret) {
		errmsg_set(err, ret, "%s", strerror(-ret));
		goto out;
	}
	ret = vm_run_on_vcpus(vm, capture_vcpu, &s, err);
	if (ret) {
		errmsg_prefix(err, ret, "vCPU state");
		goto out;
	}
	ret = state_build(state_fill, &s, STREAM_MAX_FDT, state, len);
	if (ret)
		errmsg_set(err, ret, "recording the state: %s", strerror(-ret));
out:
	for (unsigned i = 0; s.vcpus && i < vm->nr_vcpus; i++)
		x86_vcpu_state_free(s.vcpus[i]);
	free(s.vcpus);
	free(s.msrs);
	return ret;
}

int vm_snapshot(struct vm *vm, const char *path, bool stop, struct errmsg *err)
{
	void *config = NULL, *state = NULL;
	size_t config_len, state_len;
	bool was_paused = vm_paused(vm);
	int ret;

	ret = vm_pause(vm, err);
	if (ret)
		return errmsg_prefix(err, ret, "snapshot: cannot pause");
	ret = vm_state_capture(vm, &state, &state_len, err);
	if (ret) {
		errmsg_prefix(err, ret, "snapshot");
		goto out;
	}
	ret = snapshot_config_build(vm, &config, &config_len);
	if (ret) {
		errmsg_set(err, ret, "snapshot: recording the configuration: %s", strerror(-ret));
		goto out;
	}
	ret = write_file(vm, path, config, config_len, state, state_len, err);
out:
	free(config);
	free(state);
	if (!ret && stop) {
		vm_request_stop(vm, VM_STOP_SNAPSHOT, 0, "snapshot written to %s; VM stopped", path);
		return 0;
	}
	if (!was_paused) {
		struct errmsg rerr;

		if (vm_resume(vm, &rerr))
			vm_request_stop(vm, VM_STOP_ERROR, 1, "snapshot: cannot resume: %s", rerr.text);
	}
	return ret;
}


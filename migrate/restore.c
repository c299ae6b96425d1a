/* Restoring a VM from a snapshot file, and the configuration a snapshot records (what a
 * restore must match): see migrate/snapshot.h. */
#include "migrate/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libfdt.h>

#include "arch/x86/kvm_state.h"
#include "migrate/disk_stream.h"
#include "migrate/stream.h"
#include "vmm/state.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define COMPARE_DEPTH 8

/* ---- the configuration: what a restore must match ---- */

static int config_fill(void *fdt, void *arg)
{
	struct vm *vm = arg;
	int ret = 0, devs;

	ret = ret ? ret : state_put_u64(fdt, 0, "ram-size", vm->cfg->mem_size);
	ret = ret ? ret : state_put_u32(fdt, 0, "cpus", vm->cfg->cpus);
	ret = ret ? ret : state_put_u32(fdt, 0, "acpi", vm->cfg->acpi);
	/* What the guest was told the CPU is (minus per-vCPU ids): a restore on another CPU
	 * model would run code the guest chose for features that are not there. */
	ret = ret ? ret : state_put_blob(fdt, 0, "cpuid", vm->cpuid->entries,
					 vm->cpuid->nent * sizeof(vm->cpuid->entries[0]));
	if (ret)
		return ret;
	devs = state_add_node(fdt, 0, "devices");
	return devs < 0 ? devs : dev_list_describe(&vm->devices, fdt, devs);
}

/* The flag a configuration field comes from, for messages. */
static const char *config_flag(const char *prop)
{
	if (!strcmp(prop, "ram-size"))
		return " (--memory)";
	if (!strcmp(prop, "cpus"))
		return " (--cpus)";
	if (!strcmp(prop, "acpi"))
		return " (--acpi)";
	if (!strcmp(prop, "cpuid"))
		return " (another CPU model or --kvm-pv-off)";
	return "";
}

static void format_value(const void *p, int len, char *out, size_t n)
{
	const uint8_t *b = p;
	bool text = len > 0 && b[len - 1] == '\0';

	for (int i = 0; text && i < len - 1; i++)
		text = b[i] >= 0x20 && b[i] < 0x7f;
	if (text)
		snprintf(out, n, "'%s'", (const char *)p);
	else if (len == 4)
		snprintf(out, n, "%u", fdt32_ld(p)); /* properties are only 4-byte aligned */
	else if (len == 8)
		snprintf(out, n, "%llu", (unsigned long long)fdt64_ld(p));
	else if (len == 6)
		snprintf(out, n, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
	else
		snprintf(out, n, "(%d bytes)", len);
}

/* @theirs names the other side in messages: "the snapshot", "the source". */
static int compare_node(const void *a, int an, const void *b, int bn, const char *path,
			int depth, const char *theirs, struct errmsg *err)
{
	int off, sub;

	if (depth > COMPARE_DEPTH)
		return errmsg_set(err, -EINVAL, "snapshot configuration nested too deep at %s", path);
	fdt_for_each_property_offset(off, a, an) {
		const char *name;
		int alen, blen;
		const void *av = fdt_getprop_by_offset(a, off, &name, &alen);
		const void *bv = av ? fdt_getprop(b, bn, name, &blen) : NULL;
		char as[64], bs[64];

		if (!av)
			return errmsg_set(err, -EINVAL, "snapshot configuration: bad property at %s", path);
		if (!bv)
			return errmsg_set(err, -EINVAL,
					  "%s's VM has %s%s, this VM does not (other flags?)",
					  theirs, path, name);
		if (alen == blen && !memcmp(av, bv, (size_t)alen))
			continue;
		format_value(av, alen, as, sizeof(as));
		format_value(bv, blen, bs, sizeof(bs));
		return errmsg_set(err, -EINVAL, "%s%s%s: %s has %s, this VM %s", path, name,
				  depth ? "" : config_flag(name), theirs, as, bs);
	}
	fdt_for_each_property_offset(off, b, bn) {
		const char *name;
		int len;

		if (fdt_getprop_by_offset(b, off, &name, &len) && !fdt_getprop(a, an, name, &len))
			return errmsg_set(err, -EINVAL, "this VM has %s%s, %s's does not",
					  path, name, theirs);
	}
	fdt_for_each_subnode(sub, a, an) {
		const char *name = fdt_get_name(a, sub, NULL);
		int other = name ? fdt_subnode_offset(b, bn, name) : -1;
		char p[256];
		int ret;

		if (!name)
			return errmsg_set(err, -EINVAL, "snapshot configuration: bad node at %s", path);
		if (other < 0)
			return errmsg_set(err, -EINVAL,
					  "%s's VM has %s%s, this VM does not (device flags in another order or missing?)",
					  theirs, path, name);
		snprintf(p, sizeof(p), "%s%s/", path, name);
		ret = compare_node(a, sub, b, other, p, depth + 1, theirs, err);
		if (ret)
			return ret;
	}
	fdt_for_each_subnode(sub, b, bn) {
		const char *name = fdt_get_name(b, sub, NULL);

		if (name && fdt_subnode_offset(a, an, name) < 0)
			return errmsg_set(err, -EINVAL, "this VM has %s%s, %s's does not",
					  path, name, theirs);
	}
	return 0;
}

int snapshot_config_compare(const void *saved, const void *current, const char *theirs,
			    struct errmsg *err)
{
	return compare_node(saved, 0, current, 0, "", 0, theirs, err);
}

int snapshot_config_build(struct vm *vm, void **fdt, size_t *len)
{
	return state_build(config_fill, vm, STREAM_MAX_FDT, fdt, len);
}

/* ---- restoring ---- */

static int restore_state(struct vm *vm, const void *fdt, struct errmsg *err)
{
	int cpus, node, n = 0, ret;

	node = state_node(fdt, 0, "devices", err);
	if (node < 0)
		return node;
	ret = dev_list_load(&vm->devices, fdt, node, err);
	if (ret)
		return ret;
	cpus = state_node(fdt, 0, "vcpus", err);
	if (cpus < 0)
		return cpus;
	fdt_for_each_subnode(node, fdt, cpus)
		n++;
	if ((unsigned)n != vm->nr_vcpus)
		return errmsg_set(err, -EINVAL, "state holds %d vCPUs, this VM has %u", n, vm->nr_vcpus);
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct x86_vcpu_state *st;
		char name[16];

		snprintf(name, sizeof(name), "cpu@%u", i);
		node = state_node(fdt, cpus, name, err);
		if (node < 0)
			return node;
		ret = x86_vcpu_state_decode(fdt, node, &st, err);
		if (!ret) {
			ret = x86_vcpu_state_apply(vm->vcpus[i].fd, st, err);
			x86_vcpu_state_free(st);
		}
		if (ret)
			return errmsg_prefix(err, ret, "vCPU %u", i);
	}
	/* Last: the clock is set as close to the vCPUs' start as it can be. */
	node = state_node(fdt, 0, "vm", err);
	return node < 0 ? node : x86_vm_state_load(vm->vm_fd, fdt, node, err);
}

/* CONFIG first (checked before anything else is read), then RAM sections and exactly one
 * STATE in any order (a snapshot writes STATE before RAM; a migration sends it last, after the
 * final RAM), then END. The state is applied only once END has been read and checked. */
int vm_receive_stream(struct vm *vm, struct stream_reader *r, bool whole_file,
		      struct errmsg *err)
{
	uint8_t *payload = NULL, *state = NULL;
	struct disk *disks[VM_MAX_DISKS];
	unsigned nr_disks = disk_stream_vm_disks(vm, disks);
	void *current = NULL;
	size_t len, current_len;
	uint32_t type;
	int ret;

	ret = stream_read_header(r, err);
	ret = ret ? ret : stream_read_section(r, &type, &payload, &len, err);
	if (!ret && type != STREAM_SEC_CONFIG)
		ret = errmsg_set(err, -EINVAL, "%s: the first section is not CONFIG", r->what);
	ret = ret ? ret : state_check(payload, len, err);
	if (!ret && (ret = snapshot_config_build(vm, &current, &current_len)))
		errmsg_set(err, ret, "describing this VM: %s", strerror(-ret));
	/* The configuration is checked before any RAM is read. */
	ret = ret ? ret : snapshot_config_compare(payload, current,
						  whole_file ? "the snapshot" : "the source", err);
	free(payload);
	free(current);
	payload = NULL;
	while (!ret) {
		/* RAM goes straight into guest RAM: a corrupt section fails the whole stream,
		 * and this VM never runs (see stream_receive_ram()). */
		ret = stream_read_next(r, &vm->mem, &type, &payload, &len, err);
		if (ret)
			break;
		if (type == STREAM_SEC_RAM)
			continue;
		if (type == STREAM_SEC_END) {
			if (!state)
				ret = errmsg_set(err, -EINVAL, "%s: END before any STATE section", r->what);
			free(payload);
			break;
		}
		if (type == STREAM_SEC_DISK) {
			/* A snapshot's disks are files beside it, never in it. */
			ret = whole_file ? errmsg_set(err, -EINVAL, "%s: a DISK section in a snapshot", r->what) :
					   disk_stream_apply(disks, nr_disks, payload, len, err);
		} else if (type == STREAM_SEC_STATE && !state) {
			ret = state_check(payload, len, err);
			state = payload;
			payload = NULL;
		} else {
			ret = errmsg_set(err, -EINVAL, "%s: a second %s section", r->what,
					 type == STREAM_SEC_CONFIG ? "CONFIG" : "STATE");
		}
		free(payload);
		payload = NULL;
	}
	if (!ret && whole_file) {
		uint8_t extra;

		if (read(r->fd, &extra, 1) != 0)
			ret = errmsg_set(err, -EINVAL, "%s: data after the END section", r->what);
	}
	ret = ret ? ret : restore_state(vm, state, err);
	free(state);
	return ret;
}

int vm_restore(struct vm *vm, const char *path, struct errmsg *err)
{
	struct stream_reader r;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return errmsg_set(err, -errno, "--restore %s: %s", path, strerror(errno));
	stream_reader_init(&r, fd, path);
	/* A FIFO's writer may stall: SIGTERM must still stop the VMM. */
	stream_reader_watch(&r, vm->signal_ev.fd, 0);
	ret = vm_receive_stream(vm, &r, true, err);
	close(fd);
	return ret ? errmsg_prefix(err, ret, "--restore") : 0;
}

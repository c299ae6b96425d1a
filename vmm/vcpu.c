#include "vmm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/cpuid.h"
#include "arch/x86/host_quirks.h"
#include "arch/x86/regs.h"
#include "vmm/seccomp.h"
#include "vmm/vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1
#define VCPU_STACK_SIZE (256 * 1024)

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

int vcpu_install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler; /* no SA_RESTART: KVM_RUN must return EINTR */
	sigemptyset(&sa.sa_mask);
	return sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0 ? -errno : 0;
}

int vcpu_init(struct vm *vm, struct vcpu *v, unsigned id)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return -errno;
	v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	ret = x86_cpuid_set_vcpu(v->fd, vm->cpuid, id, vm->cfg->cpus);
	ret = ret ? ret : x86_vcpu_init_msrs(v->fd);
	ret = ret ? ret : x86_vcpu_init_lapic(v->fd);
	/* Application processors stay in the LAPIC's wait-for-SIPI state; only the BSP boots
	 * (unless the VM is restored: then a snapshot sets every register). */
	if (!ret && id == 0 && !vm->cfg->restore && !vm->cfg->incoming)
		ret = x86_vcpu_set_boot_regs(v->fd, &vm->boot);
	return ret;
}

static void vcpu_report_unmapped(struct vm *vm, struct bus *bus, uint64_t addr, uint32_t len,
				 bool is_write)
{
	if (vm->cfg && vm->cfg->verbose && bus_should_report(bus))
		fprintf(stderr, "minivmm: unmapped %s %s at 0x%llx (%u bytes)\n", bus->name,
			is_write ? "write" : "read", (unsigned long long)addr, len);
}

static enum vcpu_exit_action vcpu_handle_io(struct vm *vm, struct vcpu *v, struct kvm_run *run)
{
	uint32_t size = run->io.size, count = run->io.count;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* KVM fills these, but never index past the shared page on their say-so. */
	if ((size != 1 && size != 2 && size != 4) || run->io.data_offset < sizeof(*run) ||
	    (uint64_t)run->io.data_offset + (uint64_t)size * count > (uint64_t)vm->run_size) {
		vm_request_stop(vm, VM_STOP_ERROR, 1, "vcpu %u: malformed port I/O exit", v->id);
		return VCPU_STOP;
	}
	/* `rep ins/outs` arrive as one exit with count elements. */
	for (uint32_t i = 0; i < count; i++, data += size) {
		if (bus_dispatch(&vm->pio_bus, v, run->io.port, data, size, is_write))
			vcpu_report_unmapped(vm, &vm->pio_bus, run->io.port, size, is_write);
	}
	return vm_stopping(vm) ? VCPU_STOP : VCPU_CONTINUE;
}

static enum vcpu_exit_action vcpu_handle_mmio(struct vm *vm, struct vcpu *v, struct kvm_run *run)
{
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data)) {
		vm_request_stop(vm, VM_STOP_ERROR, 1, "vcpu %u: malformed MMIO exit", v->id);
		return VCPU_STOP;
	}
	if (bus_dispatch(&vm->mmio_bus, v, run->mmio.phys_addr, run->mmio.data, len,
			 run->mmio.is_write))
		vcpu_report_unmapped(vm, &vm->mmio_bus, run->mmio.phys_addr, len,
				     run->mmio.is_write);
	return vm_stopping(vm) ? VCPU_STOP : VCPU_CONTINUE;
}

/* An emulation failure: say where, with the instruction bytes, so a user can tell a guest bug
 * from a host limitation (see KVM-NOTES.md). */
static void vcpu_report_internal_error(struct vm *vm, struct vcpu *v, struct kvm_run *run)
{
	char bytes[64] = "";
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	unsigned long long rip = 0;

	if (v->fd >= 0 && ioctl(v->fd, KVM_GET_REGS, &regs) == 0 &&
	    ioctl(v->fd, KVM_GET_SREGS, &sregs) == 0) {
		uint8_t insn[8];

		rip = regs.rip;
		if (x86_read_at_rip(v->fd, &vm->mem, &regs, &sregs, insn, sizeof(insn)) == 0) {
			int off = snprintf(bytes, sizeof(bytes), ", bytes at RIP:");

			for (unsigned i = 0; i < sizeof(insn) && off < (int)sizeof(bytes); i++)
				off += snprintf(bytes + off, sizeof(bytes) - (size_t)off, " %02x",
						insn[i]);
		}
	}
	vm_request_stop(vm, VM_STOP_ERROR, 1,
			"vcpu %u: KVM internal error (suberror %u) at RIP 0x%llx%s", v->id,
			run->internal.suberror, rip, bytes);
}

enum vcpu_exit_action vcpu_handle_exit(struct vm *vm, struct vcpu *v, struct kvm_run *run)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return vcpu_handle_io(vm, v, run);
	case KVM_EXIT_MMIO:
		return vcpu_handle_mmio(vm, v, run);
	case KVM_EXIT_INTR:
	case KVM_EXIT_HLT:
		return vm_stopping(vm) ? VCPU_STOP : VCPU_CONTINUE;
	case KVM_EXIT_SHUTDOWN:
		/* A triple fault: real hardware resets. */
		vm_request_stop(vm, VM_STOP_REBOOT, 0, "guest reset (triple fault on vcpu %u)",
				v->id);
		return VCPU_STOP;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
			vm_request_stop(vm, VM_STOP_POWEROFF, 0, NULL);
		else
			vm_request_stop(vm, VM_STOP_REBOOT, 0, "guest requested a reset");
		return VCPU_STOP;
	case KVM_EXIT_INTERNAL_ERROR:
		if (x86_quirk_emulation_failure(vm->kvm_flavour, v->fd, &vm->mem, run) == 0)
			return VCPU_CONTINUE;
		vcpu_report_internal_error(vm, v, run);
		return VCPU_STOP;
	case KVM_EXIT_FAIL_ENTRY:
		vm_request_stop(vm, VM_STOP_ERROR, 1,
				"vcpu %u: KVM could not enter the guest (hardware reason 0x%llx)",
				v->id,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return VCPU_STOP;
	default:
		vm_request_stop(vm, VM_STOP_ERROR, 1, "vcpu %u: unhandled KVM exit reason %u",
				v->id, run->exit_reason);
		return VCPU_STOP;
	}
}

/* Parks the vCPU for a pause. Returns false if the VM stopped meanwhile. */
static bool vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;

	/* KVM finishes the instruction behind the last exit (the data of a port or MMIO read
	 * going into a register, the next round of a long `rep ins`) only when KVM_RUN is entered
	 * again; until then the vCPU's state is not consistent and a saved copy would lose it.
	 * immediate_exit makes that entry return at once without running guest code (KVM's API
	 * documentation, KVM_RUN). */
	for (;;) {
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				break;
			vm_request_stop(vm, VM_STOP_ERROR, 1, "vcpu %u: KVM_RUN: %s", v->id,
					strerror(errno));
			return false;
		}
		/* The instruction needed userspace once more (a string I/O longer than a page). */
		if (vcpu_handle_exit(vm, v, v->run) == VCPU_STOP)
			return false;
	}
	vm_lifecycle_park(vm, v);
	/* Cleared before the loop looks at the pause and stop flags again: a kick that lands
	 * after this store sets it back, one that landed before is seen in those flags (both
	 * sides use sequentially consistent stores). */
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	return true;
}

/* Auto-converge: once per throttle tick, sleep pct / (100 - pct) of a slice, in steps of at
 * most 10 ms so that a pause or stop request (whose kick may land just before a step) waits
 * one step at most. */
static void vcpu_throttle_sleep(struct vcpu *v)
{
	struct vm *vm = v->vm;
	unsigned pct = atomic_load(&vm->vcpu_throttle_pct);
	unsigned tick = atomic_load(&vm->vcpu_throttle_tick);
	struct timespec now, end;
	uint64_t ns;

	if (!pct || pct >= 100 || tick == v->throttle_seen)
		return;
	v->throttle_seen = tick;
	ns = VCPU_THROTTLE_SLICE_NS * pct / (100 - pct);
	clock_gettime(CLOCK_MONOTONIC, &now);
	end.tv_sec = now.tv_sec + (time_t)((uint64_t)now.tv_nsec + ns) / 1000000000;
	end.tv_nsec = (long)(((uint64_t)now.tv_nsec + ns) % 1000000000);
	while (!vm_stopping(vm) && !vm_lifecycle_pause_pending(&vm->lc) &&
	       atomic_load(&vm->vcpu_throttle_pct)) {
		struct timespec step = { 0, 10000000 };
		int64_t left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (int64_t)(end.tv_sec - now.tv_sec) * 1000000000 + (end.tv_nsec - now.tv_nsec);
		if (left <= 0)
			break;
		if (left < step.tv_nsec)
			step.tv_nsec = (long)left;
		nanosleep(&step, NULL);
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	sigset_t kick;
	char name[16];
	int ret;

	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	/* Before the first KVM_RUN: everything after is driven by the guest. */
	ret = seccomp_thread_enter(vm->cfg ? vm->cfg->seccomp_set : NULL, SECCOMP_THREAD_VCPU);
	if (ret) {
		vm_request_stop(vm, VM_STOP_ERROR, 1, "vcpu %u: seccomp filter: %s", v->id,
				strerror(-ret));
		vm_lifecycle_vcpu_exited(vm);
		return NULL;
	}

	if (v->id == 0)
		vm_trace(vm, "first KVM_RUN");
	while (!vm_stopping(vm)) {
		if (vm_lifecycle_pause_pending(&vm->lc)) {
			if (!vcpu_park(v))
				break;
			continue;
		}
		vcpu_throttle_sleep(v);
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* A kick for a pause that was called off (vm_pause gave up waiting)
				 * left immediate_exit set: cleared before the flags are looked at
				 * again, as vcpu_park() does, or KVM_RUN would return at once for
				 * ever. */
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				continue;
			}
			vm_request_stop(vm, VM_STOP_ERROR, 1, "vcpu %u: KVM_RUN: %s", v->id,
					strerror(errno));
			break;
		}
		if (vcpu_handle_exit(vm, v, v->run) == VCPU_STOP)
			break;
	}
	vm_lifecycle_vcpu_exited(vm);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	pthread_attr_t attr;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, VCPU_STACK_SIZE);
	ret = pthread_create(&v->thread, &attr, vcpu_thread, v);
	pthread_attr_destroy(&attr);
	if (ret)
		return -ret;
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	/* Set before the signal: if the thread is between its stop check and KVM_RUN, KVM_RUN
	 * returns at once instead of missing the signal. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_nudge(struct vcpu *v)
{
	if (v->started)
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *v)
{
	if (v->started)
		pthread_join(v->thread, NULL);
	v->started = false;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, (size_t)v->vm->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

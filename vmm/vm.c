#include "vmm/vm.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "arch/x86/cpuid.h"
#include "arch/x86/layout.h"
#include "arch/x86/regs.h"
#include "devices/acpi_pm.h"
#include "devices/ged.h"
#include "devices/platform.h"
#include "firmware/firmware.h"
#include "migrate/incoming.h"
#include "migrate/migrate.h"
#include "migrate/snapshot.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/device.h"
#include "vmm/api.h"
#include "vmm/seccomp.h"
#include "vmm/vcpu.h"

static const struct {
	int cap;
	const char *name;
} vm_required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
};

double vm_elapsed_ms(const struct vm *vm)
{
	return config_elapsed_ms(vm->cfg);
}

void vm_trace(const struct vm *vm, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	if (!vm->cfg->boot_trace)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* One call per line so that lines from vCPU threads do not interleave. */
	fprintf(stderr, "minivmm: boot-trace: %8.3f ms %s\n", vm_elapsed_ms(vm), what);
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status, const char *fmt, ...)
{
	uint64_t one = 1;
	va_list ap;

	pthread_mutex_lock(&vm->stop_lock);
	if (atomic_load(&vm->stop_reason) != VM_RUNNING) {
		pthread_mutex_unlock(&vm->stop_lock);
		return;
	}
	vm->exit_status = status;
	vm->stop_msg.text[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(vm->stop_msg.text, sizeof(vm->stop_msg.text), fmt, ap);
		va_end(ap);
	}
	atomic_store_explicit(&vm->stop_reason, reason, memory_order_release);
	pthread_mutex_unlock(&vm->stop_lock);
	if (vm->stop_ev.fd >= 0 && write(vm->stop_ev.fd, &one, sizeof(one)) < 0) {
		/* eventfd writes of 1 only fail on counter overflow, which cannot happen here */
	}
}

/* The machine's calls back into the VM (struct machine is all devices see). */
static void vm_machine_stop(void *owner, enum vm_stop_reason reason, int status, const char *msg)
{
	if (msg)
		vm_request_stop(owner, reason, status, "%s", msg);
	else
		vm_request_stop(owner, reason, status, NULL);
}

static void vm_machine_trace(void *owner, const char *what)
{
	vm_trace(owner, "%s", what);
}

void vm_machine_init(struct vm *vm)
{
	vm->machine = (struct machine){ &vm->mem, &vm->pio_bus, &vm->mmio_bus, &vm->loop, vm->vm_fd,
					&vm->devices, vm_machine_stop, vm_machine_trace, vm };
}

static int vm_check_kvm(struct vm *vm, struct errmsg *err)
{
	int version, max_vcpus;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return errmsg_set(err, -errno, "/dev/kvm: %s%s", strerror(errno),
				  errno == ENOENT ? " (is the kvm module loaded?)" :
				  errno == EACCES ? " (is this user in the kvm group?)" : "");
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION)
		return errmsg_set(err, -EINVAL, "/dev/kvm: API version %d, need %d", version,
				  KVM_API_VERSION);
	for (size_t i = 0; i < sizeof(vm_required_caps) / sizeof(vm_required_caps[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, vm_required_caps[i].cap) <= 0)
			return errmsg_set(err, -ENOTSUP, "/dev/kvm: missing capability %s",
					  vm_required_caps[i].name);
	}
	max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus <= 0)
		max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max_vcpus > 0 && vm->cfg->cpus > (unsigned)max_vcpus)
		return errmsg_set(err, -EINVAL, "--cpus %u: this host's KVM allows at most %d",
				  vm->cfg->cpus, max_vcpus);
	vm->kvm_flavour = x86_kvm_flavour_detect();
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size < (int)sizeof(struct kvm_run))
		return errmsg_set(err, -EINVAL, "/dev/kvm: bad KVM_GET_VCPU_MMAP_SIZE");
	return 0;
}

static int vm_create_kvm_vm(struct vm *vm, struct errmsg *err)
{
	do {
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	} while (vm->vm_fd < 0 && errno == EINTR);
	vm->machine.vm_fd = vm->vm_fd;
	if (vm->vm_fd < 0)
		return errmsg_set(err, -errno, "KVM_CREATE_VM: %s", strerror(errno));
	return 0;
}

static bool host_is_intel(void)
{
	unsigned a, b, c, d;

	__cpuid(0, a, b, c, d);
	(void)a;
	return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* "GenuineIntel" */
}

/* Called after the RAM memslots exist: adding a memslot once the in-kernel irqchip exists costs
 * ~5 ms more on this host (measured: 0.3 ms before KVM_CREATE_IRQCHIP, 5.5 ms after), which
 * was the largest single item of startup. */
static int vm_create_platform(struct vm *vm, struct errmsg *err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = X86_KVM_IDENTITY_MAP_ADDR;

	/* Intel's VMX needs these two pages for real-mode emulation (KVM's API documents
	 * KVM_SET_TSS_ADDR as required on Intel only); elsewhere they only cost startup time. */
	if (host_is_intel()) {
		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
			return errmsg_set(err, -errno, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
		if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)X86_KVM_TSS_ADDR) < 0)
			return errmsg_set(err, -errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	}
	/* APIC ids past 254 need 32-bit x2APIC ids in the in-kernel LAPIC. */
	if (vm->cfg->cpus > 254) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_X2APIC_API,
			.args[0] = KVM_X2APIC_API_USE_32BIT_IDS |
				   KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK,
		};

		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			return errmsg_set(err, -errno, "--cpus %u: KVM_CAP_X2APIC_API: %s",
					  vm->cfg->cpus, strerror(errno));
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return errmsg_set(err, -errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return errmsg_set(err, -errno, "KVM_CREATE_PIT2: %s", strerror(errno));
	return 0;
}

static int vm_setup_memory(struct vm *vm, struct errmsg *err)
{
	int ret = gm_init(&vm->mem, vm->cfg->mem_size, vm->cfg->hugepages);

	if (ret)
		return errmsg_set(err, ret, "--memory %llu MiB%s: %s",
				  (unsigned long long)(vm->cfg->mem_size >> 20),
				  vm->cfg->hugepages ? " with hugepages" : "", strerror(-ret));
	if (vm->cfg->mergeable && (ret = gm_mergeable(&vm->mem)))
		return errmsg_set(err, ret, "--memory merge=on: %s", strerror(-ret));
	ret = vm_set_memslots(vm, 0);
	return ret ? errmsg_set(err, ret, "KVM_SET_USER_MEMORY_REGION: %s", strerror(-ret)) : 0;
}

int vm_disks_activate(struct vm *vm, struct errmsg *err)
{
	for (unsigned i = 0; i < vm->cfg->nr_disks; i++) {
		int ret = vm->blk[i] ? virtio_blk_activate(vm->blk[i], err) : 0;

		if (ret) {
			while (i--)
				virtio_blk_inactivate(vm->blk[i]);
			return ret;
		}
	}
	return 0;
}

void vm_disks_inactivate(struct vm *vm)
{
	for (unsigned i = 0; i < vm->cfg->nr_disks; i++)
		if (vm->blk[i])
			virtio_blk_inactivate(vm->blk[i]);
}

int vm_set_memslots(struct vm *vm, uint32_t flags)
{
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct gm_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.flags = flags,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return -errno;
	}
	return 0;
}

static void vm_on_stop(struct ev_handler *h, uint32_t events)
{
	struct vm *vm = h->opaque;
	uint64_t cnt;

	(void)events;
	if (read(h->fd, &cnt, sizeof(cnt)) < 0) {
		/* nothing to drain: the stop reason is already recorded */
	}
	vm->loop.stop = true;
}

static void vm_on_signal(struct ev_handler *h, uint32_t events)
{
	struct vm *vm = h->opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(h->fd, &si, sizeof(si)) != sizeof(si))
		return;
	vm_request_stop(vm, VM_STOP_SIGNAL, 128 + (int)si.ssi_signo, "stopped by signal %s",
			strsignal((int)si.ssi_signo));
}

static void vm_on_timeout(struct ev_handler *h, uint32_t events)
{
	struct vm *vm = h->opaque;
	uint64_t cnt;

	(void)events;
	if (read(h->fd, &cnt, sizeof(cnt)) < 0)
		return;
	vm_request_stop(vm, VM_STOP_TIMEOUT, VM_EXIT_TIMEOUT,
			"timeout: the guest was still running after %u s, stopped it",
			vm->cfg->timeout_sec);
}

/* The I/O thread's own descriptors: stop requests, termination signals, the timeout. */
static int vm_setup_control_fds(struct vm *vm, struct errmsg *err)
{
	sigset_t sigs;
	int ret;

	ret = evloop_init(&vm->loop);
	if (ret)
		return errmsg_set(err, ret, "epoll: %s", strerror(-ret));
	vm->stop_ev = (struct ev_handler){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), vm_on_stop, vm };
	if (vm->stop_ev.fd < 0)
		return errmsg_set(err, -errno, "eventfd: %s", strerror(errno));
	ret = evloop_add(&vm->loop, &vm->stop_ev, EPOLLIN);
	if (ret)
		return errmsg_set(err, ret, "epoll: %s", strerror(-ret));

	/* Blocked here, before any thread exists, so every vCPU thread inherits the mask and
	 * the signals arrive only through the signalfd. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	vm->signal_ev = (struct ev_handler){ signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK),
					     vm_on_signal, vm };
	if (vm->signal_ev.fd < 0)
		return errmsg_set(err, -errno, "signalfd: %s", strerror(errno));
	ret = evloop_add(&vm->loop, &vm->signal_ev, EPOLLIN);
	if (ret)
		return errmsg_set(err, ret, "epoll: %s", strerror(-ret));

	if (vm->cfg->timeout_sec) {
		struct itimerspec its = { .it_value = { .tv_sec = vm->cfg->timeout_sec } };

		vm->timer_ev = (struct ev_handler){
			timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK), vm_on_timeout,
			vm
		};
		if (vm->timer_ev.fd < 0 || timerfd_settime(vm->timer_ev.fd, 0, &its, NULL) < 0)
			return errmsg_set(err, -errno, "timerfd: %s", strerror(errno));
		ret = evloop_add(&vm->loop, &vm->timer_ev, EPOLLIN);
		if (ret)
			return errmsg_set(err, ret, "epoll: %s", strerror(-ret));
	}
	return 0;
}

/* KVM_GET_SUPPORTED_CPUID is a system ioctl (~0.5 ms here) that only the vCPUs need: it runs on
 * a helper thread while the VM, memory, irqchip, devices and kernel are set up. */
static void *vm_cpuid_thread(void *arg)
{
	struct vm *vm = arg;

	pthread_setname_np(pthread_self(), "cpuid");
	/* The seccomp filters take ~0.5 ms to build: here too, beside the main thread's setup;
	 * a failure is reported after the join. */
	vm->cpuid_ret = seccomp_set_build(vm->cfg->seccomp_set, SECCOMP_THREAD_CPUID);
	if (!vm->cpuid_ret)
		vm->cpuid_ret = x86_cpuid_get_supported(vm->kvm_fd, &vm->cpuid);
	return NULL;
}

static void vm_join_cpuid_thread(struct vm *vm)
{
	if (vm->cpuid_thread_started) {
		pthread_join(vm->cpuid_thread, NULL);
		vm->cpuid_thread_started = false;
	}
}

static int vm_join_cpuid(struct vm *vm)
{
	int ret;

	if (!vm->cpuid_thread_started) { /* the thread could not start: do its work here */
		ret = seccomp_set_build(vm->cfg->seccomp_set, SECCOMP_THREAD_NR);
		return ret ? ret : x86_cpuid_get_supported(vm->kvm_fd, &vm->cpuid);
	}
	vm_join_cpuid_thread(vm);
	return vm->cpuid_ret;
}

static int vm_setup_vcpus(struct vm *vm, struct errmsg *err)
{
	int ret = vm_join_cpuid(vm);

	if (ret && seccomp_set_error(vm->cfg->seccomp_set))
		return errmsg_set(err, ret, "%s", seccomp_set_error(vm->cfg->seccomp_set));
	if (ret)
		return errmsg_set(err, ret, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
	x86_cpuid_clear_kvm_features(vm->cpuid, vm->cfg->kvm_pv_off);
	vm->vcpus = calloc(vm->cfg->cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return errmsg_set(err, -ENOMEM, "out of memory for %u vCPUs", vm->cfg->cpus);
	for (unsigned i = 0; i < vm->cfg->cpus; i++) {
		ret = vcpu_init(vm, &vm->vcpus[i], i);
		vm->nr_vcpus = i + 1; /* so that teardown releases this one too */
		if (ret)
			return errmsg_set(err, ret, "vcpu %u: setup failed: %s", i, strerror(-ret));
	}
	return 0;
}

/* A VM that now runs on this host (migrated in, or restored from a file made elsewhere): its
 * NICs announce their MACs, so that switches send its frames here at once rather than to the
 * old host's port until they age out. Best effort: the VM runs either way. */
static void announce_nics(struct vm *vm)
{
	for (unsigned i = 0; i < vm->cfg->nr_nets; i++) {
		int ret = virtio_net_announce(vm->net[i]);

		if (ret)
			fprintf(stderr, "minivmm: warning: --net %u: announcing the MAC: %s\n", i,
				strerror(-ret));
	}
}

/* virtio-mmio devices, then the command line (announcing them there for kernels without ACPI,
 * which need CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES; see struct vm_config). */
static int vm_setup_virtio(struct vm *vm, struct acpi_mmio_dev *acpi_devs, struct errmsg *err)
{
	const char *user = vm->cfg->cmdline ? vm->cfg->cmdline : "";
	size_t len = strlen(user) + 1 + VM_MAX_VIRTIO * 48;
	bool announce = vm->cfg->virtio_cmdline == VIRTIO_CMDLINE_ON ||
			(vm->cfg->virtio_cmdline == VIRTIO_CMDLINE_AUTO && !vm->cfg->acpi);
	int ret;

	/* Slots in a fixed order (disks, NICs, console), so the same flags give the same
	 * machine: a snapshot restores onto it. */
	for (unsigned i = 0; i < vm->cfg->nr_disks; i++) {
		struct virtio_blk *b;

		ret = virtio_blk_create(&vm->machine, vm->nr_virtio, &vm->cfg->disks[i], &b, err);
		if (ret)
			return ret;
		vm->blk[i] = b;
		vm->nr_virtio++;
		if (virtio_blk_note(b)[0])
			fprintf(stderr, "minivmm: warning: %s\n", virtio_blk_note(b));
	}
	for (unsigned i = 0; i < vm->cfg->nr_nets; i++) {
		struct virtio_net *n;

		ret = virtio_net_create(&vm->machine, vm->nr_virtio, &vm->cfg->nets[i], &n, err);
		if (ret)
			return ret;
		vm->net[i] = n;
		vm->nr_virtio++;
	}
	if (vm->cfg->console.mode != CHARDEV_OFF) {
		ret = virtio_console_create(&vm->machine, vm->nr_virtio, &vm->input, &vm->cfg->console,
					    &vm->console, err);
		if (ret)
			return ret;
		vm->nr_virtio++;
	}
	vm->cmdline = malloc(len);
	if (!vm->cmdline)
		return errmsg_set(err, -ENOMEM, "out of memory");
	snprintf(vm->cmdline, len, "%s", user);
	for (unsigned i = 0; i < vm->nr_virtio; i++) {
		uint64_t base = VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE;
		uint32_t irq = VIRTIO_MMIO_FIRST_IRQ + i;
		size_t used = strlen(vm->cmdline);

		if (announce)
			snprintf(vm->cmdline + used, len - used, "%svirtio_mmio.device=4K@0x%llx:%u",
				 used ? " " : "", (unsigned long long)base, irq);
		acpi_devs[i] = (struct acpi_mmio_dev){ base, VIRTIO_MMIO_SIZE, irq };
	}
	return 0;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, struct errmsg *err)
{
	struct x86_boot_args args = { .kernel = cfg->kernel, .initrd = cfg->initrd };
	struct acpi_mmio_dev acpi_devs[VM_MAX_VIRTIO];
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->stop_ev.fd = vm->signal_ev.fd = vm->timer_ev.fd = -1;
	vm->loop.epfd = -1;
	vm->serial.out.fd = -1;
	stdin_input_init(&vm->input);
	pthread_mutex_init(&vm->stop_lock, NULL);
	atomic_init(&vm->stop_reason, VM_RUNNING);
	bus_init(&vm->pio_bus, "pio");
	bus_init(&vm->mmio_bus, "mmio");
	vm_machine_init(vm);

	ret = vm_check_kvm(vm, err);
	if (!ret && pthread_create(&vm->cpuid_thread, NULL, vm_cpuid_thread, vm) == 0)
		vm->cpuid_thread_started = true; /* else fetched in place later */
	ret = ret ? ret : vm_create_kvm_vm(vm, err);
	if (!ret)
		vm_trace(vm, "VM created");
	ret = ret ? ret : vm_setup_memory(vm, err);
	ret = ret ? ret : vm_create_platform(vm, err);
	if (!ret)
		vm_trace(vm, "memory and irqchip ready");
	ret = ret ? ret : vm_setup_control_fds(vm, err);
	ret = ret ? ret : vm_lifecycle_init(vm, err);
	ret = ret ? ret : serial_setup(&vm->machine, &vm->input, &vm->serial, &cfg->serial, err);
	ret = ret ? ret : platform_devices_setup(&vm->machine, err);
	ret = ret ? ret : acpi_pm_setup(&vm->machine, err);
	if (!ret && cfg->acpi)
		ret = ged_create(&vm->machine, ACPI_GED_IRQ, &vm->ged, err);
	ret = ret ? ret : vm_setup_virtio(vm, acpi_devs, err);
	args.cmdline = vm->cmdline;
	/* A restored VM's RAM comes whole from the snapshot (its tables and kernel included);
	 * pages the snapshot leaves out must stay zero. */
	if (!cfg->restore && !cfg->incoming) {
		ret = ret ? ret : firmware_setup(&vm->mem, cfg, acpi_devs, vm->nr_virtio,
						 &args.rsdp_addr, err);
		ret = ret ? ret : x86_boot_load(&vm->mem, &args, &vm->boot, err);
		if (!ret)
			vm_trace(vm, "devices, firmware tables and kernel loaded");
		if (!ret && (ret = x86_write_boot_tables(&vm->mem, &vm->boot)))
			errmsg_set(err, ret, "cannot write the boot page tables");
	}
	if (!ret && (ret = vcpu_install_kick_handler()))
		errmsg_set(err, ret, "sigaction: %s", strerror(-ret));
	ret = ret ? ret : vm_setup_vcpus(vm, err);
	if (!ret)
		vm_trace(vm, "vCPUs ready");
	if (!ret && cfg->restore && !(ret = vm_restore(vm, cfg->restore, err)))
		vm_trace(vm, "restored from %s", cfg->restore);
	if (!ret && cfg->incoming && !(ret = vm_incoming(vm, cfg->incoming, err)))
		vm_trace(vm, "migrated in from %s", cfg->incoming);
	if (!ret && (cfg->restore || cfg->incoming))
		announce_nics(vm);
	if (!ret && cfg->api_socket)
		ret = api_start(vm, cfg->api_socket, &vm->api, err);
	if (ret)
		vm_destroy(vm);
	return ret;
}

/* A disk worker's first step: its own filter, before it serves the guest. */
static int disk_thread_init(void *arg)
{
	const struct vm *vm = arg;

	return seccomp_thread_enter(vm->cfg->seccomp_set, SECCOMP_THREAD_DISK);
}

int vm_run(struct vm *vm)
{
	struct errmsg err = { "" };
	int ret = 0;

	/* Like the vCPUs: after the privilege drop (a thread keeps the capabilities it was
	 * started with, and glibc's setuid would run on it, under its filter). */
	if (vm->cfg->api_socket && (ret = migrate_worker_start(vm, &err)))
		vm_request_stop(vm, VM_STOP_ERROR, 1, "%s", err.text);
	for (unsigned i = 0; i < vm->cfg->nr_disks && !ret; i++)
		if (vm->blk[i] && (ret = virtio_blk_start_worker(vm->blk[i], disk_thread_init, vm)))
			vm_request_stop(vm, VM_STOP_ERROR, 1, "--disk %s: cannot start its worker thread: %s",
					vm->cfg->disks[i].path, strerror(-ret));
	/* --paused: not one guest instruction before `resume`. */
	if (vm->cfg->start_paused)
		vm_lifecycle_hold(vm);
	for (unsigned i = 0; i < vm->nr_vcpus && !ret; i++)
		ret = vcpu_start(&vm->vcpus[i]);
	if (ret)
		vm_request_stop(vm, VM_STOP_ERROR, 1, "cannot start vCPU threads: %s",
				strerror(-ret));
	if (!ret && vm->cfg->start_paused && (ret = vm_pause(vm, &err))) {
		vm_lifecycle_hold(vm); /* the failed pause let them go: not one more instruction */
		vm_request_stop(vm, VM_STOP_ERROR, 1, "--paused: %s", err.text);
	}
	/* stdin belongs to the virtio console when it is on stdio, else to COM1. */
	if (!ret && vm->cfg->console.mode == CHARDEV_STDIO)
		ret = stdin_input_start(&vm->input, &vm->machine, virtio_console_push_input, vm->console);
	else if (!ret && vm->cfg->serial.mode == CHARDEV_STDIO)
		ret = stdin_input_start(&vm->input, &vm->machine, serial_push_input, &vm->serial);
	if (ret)
		vm_request_stop(vm, VM_STOP_ERROR, 1, "console input: %s", strerror(-ret));
	/* Every other thread now runs under its own filter; this one from here on serves
	 * guest-driven work (queues, the control socket) until the teardown. */
	ret = seccomp_thread_enter(vm->cfg->seccomp_set, SECCOMP_THREAD_IO);
	if (ret)
		vm_request_stop(vm, VM_STOP_ERROR, 1, "seccomp: I/O thread filter: %s", strerror(-ret));
	ret = evloop_run(&vm->loop);
	if (ret)
		vm_request_stop(vm, VM_STOP_ERROR, 1, "event loop: %s", strerror(-ret));
	vm_trace(vm, "stop requested");
	vm_lifecycle_on_stop(vm); /* parked vCPUs wake up and see the stop */
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	vm_trace(vm, "vCPUs joined");
	/* Stopped from outside while running: say where each vCPU was (--verbose). */
	if (vm->cfg->verbose && (atomic_load(&vm->stop_reason) == VM_STOP_SIGNAL ||
				 atomic_load(&vm->stop_reason) == VM_STOP_TIMEOUT)) {
		for (unsigned i = 0; i < vm->nr_vcpus; i++) {
			struct kvm_regs regs;

			if (ioctl(vm->vcpus[i].fd, KVM_GET_REGS, &regs) == 0)
				fprintf(stderr, "minivmm: vcpu %u stopped at RIP 0x%llx RSP 0x%llx\n",
					i, (unsigned long long)regs.rip, (unsigned long long)regs.rsp);
		}
	}
	stdin_input_stop(&vm->input);
	if (atomic_load(&vm->stop_reason) == VM_STOP_REBOOT && vm->cfg->reboot_fails) {
		vm->exit_status = 1;
		errmsg_prefix(&vm->stop_msg, 1, "--on-reboot fail");
	}
	if (vm->api)
		api_vm_stopped(vm->api);
	return vm->exit_status;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vm_destroy(struct vm *vm)
{
	migrate_destroy(vm); /* its thread reads guest memory and asks the event loop */
	api_destroy(vm->api);
	vm->api = NULL;
	vm_join_cpuid_thread(vm); /* a setup error may come before the vCPUs wanted it */
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		vcpu_kick(&vm->vcpus[i]);
		vcpu_join(&vm->vcpus[i]);
		vcpu_destroy(&vm->vcpus[i]);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
	free(vm->cpuid);
	vm->cpuid = NULL;
	dev_list_destroy(&vm->devices);
	vm->console = NULL;
	memset(vm->blk, 0, sizeof(vm->blk));
	vm->nr_virtio = 0;
	vm->ged = NULL; /* destroyed with the device list */
	free(vm->cmdline);
	vm->cmdline = NULL;
	stdin_input_stop(&vm->input);
	if (vm->serial.m)
		serial_teardown(&vm->serial);
	close_fd(&vm->timer_ev.fd);
	close_fd(&vm->signal_ev.fd);
	close_fd(&vm->stop_ev.fd);
	evloop_destroy(&vm->loop);
	bus_destroy(&vm->pio_bus);
	bus_destroy(&vm->mmio_bus);
	close_fd(&vm->vm_fd);
	gm_destroy(&vm->mem);
	close_fd(&vm->kvm_fd);
	vm_lifecycle_destroy(vm);
	pthread_mutex_destroy(&vm->stop_lock);
}

/* One VM: the KVM file descriptors, guest memory, buses, vCPUs, devices and the event loop.
 * Everything mutable hangs off struct vm, so two VMs could live in one process. */
#ifndef MINIVMM_VM_H
#define MINIVMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "arch/x86/boot.h"
#include "arch/x86/host_quirks.h"
#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/device.h"
#include "vmm/errmsg.h"
#include "vmm/evloop.h"
#include "vmm/machine.h"
#include "vmm/lifecycle.h"
#include "vmm/memory.h"
#include "vmm/serial.h"
#include "vmm/stdin_input.h"

struct vcpu;
struct kvm_cpuid2;
struct virtio_blk;
struct virtio_console;
struct virtio_net;
struct ged;
struct api;
struct migration;
struct migrate_worker;

#define VM_MAX_VIRTIO 16

#define VM_EXIT_TIMEOUT 124
#define VM_EXIT_SHUTDOWN_FORCED 125

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int vm_fd;
	int run_size;
	enum x86_kvm_flavour kvm_flavour; /* decides whether host work-arounds apply */
	struct guest_mem mem;
	struct bus pio_bus;
	struct bus mmio_bus;
	struct vcpu *vcpus;
	unsigned nr_vcpus;
	struct kvm_cpuid2 *cpuid;
	pthread_t cpuid_thread;       /* fetches KVM_GET_SUPPORTED_CPUID during setup */
	bool cpuid_thread_started;
	int cpuid_ret;
	struct x86_boot boot;
	struct evloop loop;
	struct serial_backend serial;
	struct stdin_input input;     /* stdin → COM1 or virtio-console */
	struct machine machine;       /* what devices see of this VM */
	struct dev_list devices;      /* every device; owns them */
	unsigned nr_virtio;           /* virtio-mmio slots in use: 0 .. nr_virtio-1 */
	struct virtio_console *console;
	struct virtio_blk *blk[VM_MAX_DISKS]; /* owned by the device list */
	struct virtio_net *net[VM_MAX_NETS];  /* the same */
	char *cmdline;                /* the user's, plus virtio_mmio.device= announcements */

	/* Stopping: the first request wins; the I/O thread then kicks and joins the vCPUs. */
	pthread_mutex_t stop_lock;
	atomic_int stop_reason;
	int exit_status;
	struct errmsg stop_msg;
	struct ev_handler stop_ev;    /* eventfd written by vm_request_stop() */
	struct ev_handler signal_ev;  /* signalfd: SIGINT, SIGTERM, SIGHUP, SIGQUIT */
	struct ev_handler timer_ev;   /* timerfd for --timeout */

	struct vm_lifecycle lc;       /* pause, resume, graceful shutdown (vmm/lifecycle.h) */
	struct ged *ged;              /* ACPI Generic Event Device: the power button */
	struct api *api;              /* --api-socket (vmm/api.h) */
	struct migration *mig;        /* the last outgoing migration (migrate/migrate.h), or NULL */
	struct migrate_worker *mig_worker; /* the migration thread (with --api-socket) */
	/* Auto-converge (migrate/throttle.h): the share (percent) of their time the vCPUs sleep
	 * while a migration cannot keep up with the guest; 0 otherwise. */
	atomic_uint vcpu_throttle_pct;
	atomic_uint vcpu_throttle_tick; /* periods so far: one sleep per vCPU each */
};

/* Builds the whole VM from @cfg (the caller keeps @cfg alive). On failure everything built so
 * far is torn down and @err names the cause. */
int vm_create(struct vm *vm, const struct vm_config *cfg, struct errmsg *err)
	__attribute__((warn_unused_result));

/* Starts the vCPUs and runs the event loop until the VM stops; joins every vCPU thread.
 * Returns the exit status for the process. */
int vm_run(struct vm *vm);

void vm_destroy(struct vm *vm);

/* Points vm->machine at this VM's memory, buses, loop, device list and stop/trace (vm_create
 * does it; tests that build a struct vm by hand call it). */
void vm_machine_init(struct vm *vm);

/* Asks the VM to stop (any thread). The first request decides the reason, status and message
 * (printf-style, may be NULL); later ones are ignored. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline int vm_stopping(const struct vm *vm)
{
	return atomic_load_explicit(&vm->stop_reason, memory_order_acquire) != VM_RUNNING;
}

/* (Re)registers every RAM region as KVM memslot i (region i) with @flags (0, or
 * KVM_MEM_LOG_DIRTY_PAGES while a migration tracks the guest's writes). 0 or -errno. */
int vm_set_memslots(struct vm *vm, uint32_t flags) __attribute__((warn_unused_result));

/* A live migration's hand-over of the paused VM's disk images: the source gives its locks up
 * before the final state leaves (and takes them back if the migration fails), the
 * destination takes them once the state is in (vm_disks_activate names an image held
 * elsewhere). */
int vm_disks_activate(struct vm *vm, struct errmsg *err) __attribute__((warn_unused_result));
void vm_disks_inactivate(struct vm *vm);

/* Milliseconds since main() started. */
double vm_elapsed_ms(const struct vm *vm);

/* With --boot-trace, prints "minivmm: boot-trace: <ms> ms <what>" to stderr. */
void vm_trace(const struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

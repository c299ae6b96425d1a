/* What each thread kind may call. Found by reading the code paths each kind runs and by
 * running the whole test suite with the filters in log mode (docs/hardening.md says how);
 * each group says why it is there. A call missing here ends the VM with a one-line report, so
 * a path that needs more must add it here, with its reason. */
#include "vmm/seccomp.h"

#include <asm/unistd.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ioctl.h>

#define SYS(name) { __NR_##name, 0, SECCOMP_CMP_ANY, 0, 0 }
/* (argument @a & @m) == @v. int-sized arguments compare only their low 32 bits, as the kernel
 * reads them. */
#define ARG(name, a, m, v) { __NR_##name, a, SECCOMP_CMP_MASKED, m, v }
#define ARG32(name, a, v) ARG(name, a, 0xffffffffu, v)
/* The kernel takes ioctl's request as an unsigned int. */
#define IOCTL(req) ARG32(ioctl, 1, req)

/* Every thread: memory for malloc and thread stacks (never executable: no JIT here, so a
 * mapping made executable is an attack), locks, signal returns, thread and process exit, the
 * clock (a syscall where the vDSO cannot read it, as in some nested VMs), abort() for a failed
 * assertion or glibc's fatal messages (writev to stderr), and the SIGSYS report itself (a write
 * to stderr). */
#define COMMON_RULES                                                                           \
	ARG(mmap, 2, PROT_EXEC, 0), ARG(mprotect, 2, PROT_EXEC, 0), SYS(munmap), SYS(mremap),   \
	SYS(madvise), SYS(brk), SYS(futex), SYS(rt_sigreturn), SYS(rt_sigprocmask),             \
	SYS(exit), SYS(exit_group), SYS(restart_syscall), SYS(clock_gettime),                   \
	SYS(gettimeofday), SYS(getpid), SYS(gettid), ARG32(tgkill, 2, SIGABRT),                 \
	ARG32(write, 0, 2), ARG32(writev, 0, 2)

/* Sanitizer builds (build/minivmm-asan): the runtime's own calls, while running and at exit
 * (leak checking stops the world with ptrace from a helper it clones, which lists the threads
 * with the old open and getdents calls; a call it is refused kills that helper silently, and
 * the exit waits for it forever; a thread it starts asks its own stack and CPU set through
 * pthread_getattr_np). The release build has none of these. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_RULES , SYS(sigaltstack), SYS(sched_yield), SYS(prctl), SYS(clone),         \
	SYS(ptrace), SYS(wait4), SYS(openat), SYS(read), SYS(close), SYS(getdents64),           \
	SYS(newfstatat), SYS(readlink), SYS(getppid), SYS(rt_sigaction), SYS(lseek), SYS(open), \
	SYS(getdents), SYS(fcntl), IOCTL(TCGETS), SYS(sched_getaffinity)
#else
#define SANITIZER_RULES
#endif

/* The main thread once the VM runs: the event loop and every device's queue work, disk I/O
 * (io_uring or synchronous; qcow2 metadata), tap frames, console and stdin, kicks at a stop,
 * then the teardown. */
static const struct seccomp_rule io_rules[] = {
	COMMON_RULES,
	/* the event loop; eventfds, signalfd, timerfds */
	SYS(epoll_wait), SYS(epoll_pwait), SYS(epoll_ctl), SYS(read), SYS(write), SYS(close),
	SYS(timerfd_create), SYS(timerfd_settime),
	/* disks: io_uring submission and completion waits; the sync engine and qcow2's own
	 * reads and writes, flushes, growth, discard / write-zeroes, lock release at close */
	SYS(io_uring_enter), SYS(pread64), SYS(pwrite64), SYS(preadv), SYS(pwritev),
	SYS(fdatasync), SYS(fsync), SYS(fallocate), SYS(ftruncate),
	ARG32(fcntl, 1, F_OFD_SETLK),
	/* tap frames, console output; stdio's first use of a stream asks what it is */
	SYS(readv), SYS(writev), SYS(newfstatat),
	/* a stop kicks the vCPUs out of KVM_RUN */
	ARG32(tgkill, 2, SIGUSR1),
	/* serial input raises COM1's IRQ; --verbose stop report */
	IOCTL(KVM_IRQ_LINE), IOCTL(KVM_GET_REGS),
	/* a multiqueue tap's queues attached and detached as the driver sets its pairs (the
	 * control queue's VQ_PAIRS_SET, virtio/net.c) */
	IOCTL(TUNSETQUEUE),
	/* the terminal's mode restored at exit */
	IOCTL(TCSETS)
	SANITIZER_RULES
};

/* The control socket and what only it asks for (pause, resume, snapshot) run on the same
 * thread, the event loop's: these are added to its list only with --api-socket, so a VM
 * without one cannot create a file, hold its clock or read its own state. */
static const struct seccomp_rule io_api_rules[] = {
	SYS(accept4), SYS(recvfrom), SYS(sendto), SYS(shutdown),
	/* the last replies flushed at exit, with a deadline */
	SYS(poll),
	/* pause and resume hold the guest clock */
	IOCTL(KVM_GET_CLOCK), IOCTL(KVM_SET_CLOCK),
	/* snapshot path=FILE: a new file beside FILE (mkstemp: O_CREAT|O_EXCL, never an existing
	 * file), then renamed over FILE; the VM's own state; the socket's file removed at exit */
	ARG(openat, 2, O_CREAT | O_EXCL, O_CREAT | O_EXCL), SYS(rename), SYS(unlink),
	/* mkstemp's random name: glibc asks getrandom for it at times (a snapshot of a restored
	 * VM was stopped by this in make test) */
	SYS(getrandom),
	IOCTL(KVM_GET_IRQCHIP), IOCTL(KVM_GET_PIT2), IOCTL(KVM_GET_MSR_INDEX_LIST),
	/* a failed migration: the I/O thread turns KVM's dirty log off again (the memslots) and
	 * takes the image locks back, looking first at other processes' (block/image_lock.c;
	 * a failure after the pause was killed by this filter until the fault tests flipped a
	 * bit in STATE) */
	IOCTL(KVM_SET_USER_MEMORY_REGION), ARG32(fcntl, 1, F_OFD_GETLK),
};

/* vCPU threads: KVM_RUN and what exits lead to. Port and MMIO handlers of every device run
 * here: COM1 output and its IRQ, virtio register writes (activation sets the tap's offloads
 * and arms its descriptor in the event loop; kicks and interrupts are eventfd writes), stop
 * requests. */
static const struct seccomp_rule vcpu_rules[] = {
	COMMON_RULES,
	IOCTL(KVM_RUN), SYS(write), SYS(epoll_ctl),
	/* COM1's bounded wait for an output reader that falls behind (devices/uart.c) */
	SYS(poll),
	IOCTL(KVM_IRQ_LINE), IOCTL(TUNSETOFFLOAD),
	/* a multiqueue tap's unused queues detached at a reset and activation (virtio/net.c) */
	IOCTL(TUNSETQUEUE),
	/* emulation-failure reports and software-KVM work-arounds (arch/x86/host_quirks.c) */
	IOCTL(KVM_GET_REGS), IOCTL(KVM_SET_REGS), IOCTL(KVM_GET_SREGS), IOCTL(KVM_TRANSLATE),
	IOCTL(KVM_GET_VCPU_EVENTS), IOCTL(KVM_SET_VCPU_EVENTS)
	SANITIZER_RULES
};

/* With --api-socket: parked for a snapshot, a vCPU reads its own state
 * (arch/x86/kvm_state.c); at a resume it marks its kvmclock paused. */
static const struct seccomp_rule vcpu_api_rules[] = {
	/* auto-converge's sleep while a migration throttles the vCPUs (migrate/throttle.h) */
	SYS(nanosleep), SYS(clock_nanosleep),
	IOCTL(KVM_GET_XCRS), IOCTL(KVM_GET_XSAVE), IOCTL(KVM_GET_LAPIC), IOCTL(KVM_GET_MP_STATE),
	IOCTL(KVM_GET_DEBUGREGS), IOCTL(KVM_GET_MSRS), IOCTL(KVM_KVMCLOCK_CTRL),
};

/* The CPUID helper runs one system ioctl while the main thread sets the VM up. */
static const struct seccomp_rule cpuid_rules[] = {
	COMMON_RULES,
	IOCTL(KVM_GET_SUPPORTED_CPUID)
	SANITIZER_RULES
};

/* The migration thread (with --api-socket; started with the VM, it waits for `migrate`): the
 * connection (socket, connect, its buffer sizes; the destination's confirmation with a
 * deadline; shutdown on cancel), the stream (a section's header and payload in one writev),
 * requests to the I/O thread (an eventfd write and a condition variable), KVM's dirty log on
 * every memslot, the socket's send queue, the bandwidth limit's sleep, the vCPU throttle's
 * timer, the progress line on stderr, the disks' contents with disks=copy. No file is opened
 * and no thread started. */
static const struct seccomp_rule migration_rules[] = {
	COMMON_RULES,
	SYS(socket), SYS(connect), SYS(setsockopt), SYS(shutdown), SYS(close),
	SYS(write), SYS(writev), SYS(read), SYS(recvfrom), SYS(poll), SYS(nanosleep), SYS(clock_nanosleep),
	/* auto-converge: the vCPU throttle's period (migrate/throttle.c) */
	SYS(timerfd_settime),
	/* disks=copy: the images read (a raw file's holes skipped; qcow2 tables read into the
	 * cache and a dirty one written back to make room, as the disk's worker does: the write-back
	 * may grow the file) */
	SYS(pread64), SYS(preadv), SYS(lseek), SYS(pwrite64), SYS(pwritev), SYS(fdatasync),
	SYS(fsync), SYS(ftruncate), SYS(fallocate),
	IOCTL(KVM_SET_USER_MEMORY_REGION), IOCTL(KVM_GET_DIRTY_LOG), IOCTL(KVM_CHECK_EXTENSION),
	/* how much of the stream the socket still holds, before the pause (migrate/channel.h) */
	IOCTL(SIOCOUTQ)
	SANITIZER_RULES
};

/* A qcow2 disk's worker thread (started with the VM): the image's reads and writes (data,
 * metadata, a backing file's), its growth, flushes, discard and write-zeroes; results to the
 * I/O thread through an eventfd write and a condition variable. No file is opened (backing
 * files are opened at start-up) and no thread started. */
static const struct seccomp_rule disk_rules[] = {
	COMMON_RULES,
	SYS(pread64), SYS(pwrite64), SYS(preadv), SYS(pwritev), SYS(fdatasync), SYS(fsync),
	SYS(fallocate), SYS(ftruncate), SYS(write)
	SANITIZER_RULES
};

#define LIST(a) (*n = sizeof(a) / sizeof(a[0]), a)

const struct seccomp_rule *seccomp_rules(enum seccomp_thread kind, bool api, size_t *n)
{
	*n = 0;
	switch (kind) {
	case SECCOMP_THREAD_IO:
		return api ? LIST(io_api_rules) : LIST(io_rules);
	case SECCOMP_THREAD_VCPU:
		return api ? LIST(vcpu_api_rules) : LIST(vcpu_rules);
	case SECCOMP_THREAD_CPUID:
		return api ? NULL : LIST(cpuid_rules);
	case SECCOMP_THREAD_MIGRATION:
		return api ? NULL : LIST(migration_rules);
	case SECCOMP_THREAD_DISK:
		return api ? NULL : LIST(disk_rules);
	case SECCOMP_THREAD_NR:
		break;
	}
	return NULL;
}

/* System-call filters per thread kind (seccomp, programs built with libseccomp).
 *
 * One BPF program per thread kind, built while the VM is set up (struct seccomp_set, owned by
 * main(), read-only once built); each thread installs its own with seccomp_thread_enter()
 * before it runs guest-facing code. The lists (vmm/seccomp_rules.c) allow only the system calls, and for
 * ioctl only the request numbers, that thread kind makes. Anything else ends the process with
 * one line on stderr naming the call and the thread kind (--seccomp on), or is allowed and
 * logged by the kernel's audit log (--seccomp log). docs/hardening.md has the why of each. */
#ifndef MINIVMM_SECCOMP_H
#define MINIVMM_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/errmsg.h"

enum seccomp_policy { SECCOMP_POLICY_ON, SECCOMP_POLICY_LOG, SECCOMP_POLICY_OFF };

/* There is no control-socket or snapshot thread: both run on the event loop's (the main)
 * thread, whose list gains their calls only when the VM has a control socket. A qcow2 disk has
 * a worker thread for its slow work (block/disk_worker.h); io_uring's kernel workers are no
 * user code. The migration and disk threads are started with the VM, before the main thread's
 * filter, so that the I/O thread needs no thread creation (nor, for migration, sockets). */
enum seccomp_thread {
	SECCOMP_THREAD_IO,    /* main thread: event loop, control socket, snapshots, teardown */
	SECCOMP_THREAD_VCPU,  /* KVM_RUN and the device registers a guest touches */
	SECCOMP_THREAD_CPUID, /* setup helper: KVM_GET_SUPPORTED_CPUID (vmm/vm.c) */
	SECCOMP_THREAD_MIGRATION, /* outgoing live migration (migrate/migrate.c) */
	SECCOMP_THREAD_DISK,  /* a qcow2 disk's worker: allocation, copy-on-write, write-back */
	SECCOMP_THREAD_NR
};

/* One allow rule: system call @nr, and when @cmp says so a condition on argument @arg. Rules
 * for the same call are alternatives. */
enum seccomp_cmp {
	SECCOMP_CMP_ANY,    /* any arguments */
	SECCOMP_CMP_MASKED, /* (arg & mask) == value */
};

struct seccomp_rule {
	int nr;
	uint8_t arg;
	uint8_t cmp;
	uint64_t mask, value;
};

struct seccomp_set;

/* The set main() owns, for @policy (not SECCOMP_POLICY_OFF), nothing built yet; for
 * SECCOMP_POLICY_ON also installs the process's SIGSYS reporter. @api: the VM has a control
 * socket (its calls join the lists). @violate is the test hook (docs/hardening.md): the
 * thread kind that makes a forbidden call right after installing its filter, or -1. */
int seccomp_set_new(enum seccomp_policy policy, bool api, int violate, struct seccomp_set **out,
		    struct errmsg *err) __attribute__((warn_unused_result));
void seccomp_set_free(struct seccomp_set *set);

/* Builds every kind's program (about 0.5 ms: vm.c does it on the setup helper thread, beside
 * the main thread's setup) and, unless @install is SECCOMP_THREAD_NR, installs that kind's
 * filter in the calling thread. A no-op for a NULL set (--seccomp off). On failure returns
 * -errno and the set keeps the message for seccomp_set_error(). */
int seccomp_set_build(struct seccomp_set *set, enum seccomp_thread install)
	__attribute__((warn_unused_result));
/* What went wrong in seccomp_set_build(), or NULL. */
const char *seccomp_set_error(const struct seccomp_set *set);

/* Installs @kind's filter from a built set in the calling thread (a no-op for a NULL set:
 * --seccomp off). Needs PR_SET_NO_NEW_PRIVS or CAP_SYS_ADMIN. Returns 0 or -errno. */
int seccomp_thread_enter(const struct seccomp_set *set, enum seccomp_thread kind)
	__attribute__((warn_unused_result));

/* "I/O", "vCPU", "CPUID helper", "migration", "disk worker"; and the names the test hook
 * takes: "io", "vcpu", "cpuid", "migration", "disk". */
const char *seccomp_thread_name(enum seccomp_thread kind);
int seccomp_thread_parse(const char *hook_name);

/* The allow list of @kind (vmm/seccomp_rules.c); with @api, what the control socket adds to
 * it (possibly nothing). */
const struct seccomp_rule *seccomp_rules(enum seccomp_thread kind, bool api, size_t *n);

/* The test hook's forbidden call: in no list. */
#define SECCOMP_HOOK_SYSCALL "getpriority"

/* The x86_64 name of system call @nr, or NULL (vmm/syscall_names.c; a table, because the
 * SIGSYS reporter may not allocate). */
const char *seccomp_syscall_name(long nr);

#endif

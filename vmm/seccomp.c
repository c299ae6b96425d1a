#include "vmm/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

struct seccomp_set {
	enum seccomp_policy policy;
	bool api;
	int violate;
	bool built;
	struct sock_fprog prog[SECCOMP_THREAD_NR];
	struct errmsg err;     /* why seccomp_set_build() failed */
	bool failed;
};

/* Which kind the calling thread is, for the SIGSYS report: a signal handler can learn it no
 * other way. The one piece of mutable state outside struct vm: per thread, written once before
 * the thread's filter is installed, read only by the handler. */
static __thread const char *seccomp_this_thread;

static const struct {
	const char *name, *hook;
} seccomp_kinds[SECCOMP_THREAD_NR] = {
	[SECCOMP_THREAD_IO] = { "I/O", "io" },
	[SECCOMP_THREAD_VCPU] = { "vCPU", "vcpu" },
	[SECCOMP_THREAD_CPUID] = { "CPUID helper", "cpuid" },
	[SECCOMP_THREAD_MIGRATION] = { "migration", "migration" },
	[SECCOMP_THREAD_DISK] = { "disk worker", "disk" },
};

const char *seccomp_thread_name(enum seccomp_thread kind)
{
	return kind < SECCOMP_THREAD_NR ? seccomp_kinds[kind].name : "unknown";
}

int seccomp_thread_parse(const char *hook_name)
{
	for (int i = 0; i < SECCOMP_THREAD_NR; i++)
		if (!strcmp(hook_name, seccomp_kinds[i].hook))
			return i;
	return -EINVAL;
}

/* ---- the report: async-signal-safe, so no stdio and no allocation ---- */

static size_t put_str(char *buf, size_t pos, size_t cap, const char *s)
{
	while (*s && pos + 1 < cap)
		buf[pos++] = *s++;
	return pos;
}

static size_t put_num(char *buf, size_t pos, size_t cap, unsigned long v, unsigned base)
{
	char digits[24];
	size_t n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v && n < sizeof(digits));
	while (n && pos + 1 < cap)
		buf[pos++] = digits[--n];
	return pos;
}

/* SECCOMP_RET_TRAP lands here, on the thread that made the call. One line, then the process
 * ends at once with 128 + SIGSYS (the status a death by SIGSYS would give) but without a core
 * dump, which would hold guest memory. */
static void seccomp_on_sigsys(int sig, siginfo_t *si, void *ucv)
{
	const ucontext_t *uc = ucv;
	const char *name = seccomp_syscall_name(si->si_syscall);
	char line[256];
	size_t n = 0;

	(void)sig;
	n = put_str(line, n, sizeof(line), "minivmm: seccomp: the ");
	n = put_str(line, n, sizeof(line), seccomp_this_thread ? seccomp_this_thread : "unfiltered");
	n = put_str(line, n, sizeof(line), " thread made a forbidden system call: ");
	n = put_str(line, n, sizeof(line), name ? name : "unknown");
	n = put_str(line, n, sizeof(line), " (");
	n = put_num(line, n, sizeof(line), (unsigned long)si->si_syscall, 10);
	if (si->si_syscall == __NR_ioctl) {
		n = put_str(line, n, sizeof(line), ", request 0x");
		n = put_num(line, n, sizeof(line),
			    (unsigned long)uc->uc_mcontext.gregs[REG_RSI] & 0xffffffffUL, 16);
	}
	n = put_str(line, n, sizeof(line), "); stopping\n");
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
	_exit(128 + SIGSYS);
}

/* ---- building ---- */

static int add_rules(scmp_filter_ctx ctx, enum seccomp_thread kind, bool api, struct errmsg *err)
{
	size_t n;
	const struct seccomp_rule *r = seccomp_rules(kind, api, &n);

	for (size_t i = 0; i < n; i++, r++) {
		int ret;

		if (r->cmp == SECCOMP_CMP_ANY)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
		else
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
					       SCMP_CMP(r->arg, SCMP_CMP_MASKED_EQ, r->mask, r->value));
		if (ret)
			return errmsg_set(err, ret, "seccomp: %s thread %slist: rule %zu (%s): %s",
					  seccomp_thread_name(kind), api ? "control-socket " : "", i,
					  seccomp_syscall_name(r->nr) ? seccomp_syscall_name(r->nr) : "?",
					  strerror(-ret));
	}
	return 0;
}

/* libseccomp 2.5 exports a program only to a file descriptor: a memfd, read back. */
static int export_prog(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int fd = memfd_create("minivmm-seccomp", MFD_CLOEXEC), ret;
	off_t size;

	if (fd < 0)
		return -errno;
	ret = seccomp_export_bpf(ctx, fd);
	size = ret ? -1 : lseek(fd, 0, SEEK_END);
	if (!ret && (size <= 0 || size % (off_t)sizeof(struct sock_filter) ||
		     size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS))
		ret = size < 0 ? -errno : -E2BIG;
	if (!ret) {
		prog->filter = malloc((size_t)size);
		if (!prog->filter)
			ret = -ENOMEM;
		else if (pread(fd, prog->filter, (size_t)size, 0) != size)
			ret = -EIO;
		else
			prog->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	}
	close(fd);
	return ret;
}

static int build_one(struct seccomp_set *set, enum seccomp_thread kind, struct errmsg *err)
{
	scmp_filter_ctx ctx = seccomp_init(set->policy == SECCOMP_POLICY_LOG ? SCMP_ACT_LOG
									    : SCMP_ACT_TRAP);
	int ret;

	if (!ctx)
		return errmsg_set(err, -ENOMEM, "seccomp: cannot start a filter (out of memory?)");
	/* no_new_privs is the privilege code's business (vmm/privs.c); another ABI's call
	 * numbers (x32, i386 through int 0x80) mean something else: kill. Binary search over
	 * the call numbers: KVM_RUN and the event loop's calls are checked in a few steps. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	ret = ret ? ret : seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	ret = ret ? ret : seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (ret)
		errmsg_set(err, ret, "seccomp: filter attributes: %s", strerror(-ret));
	ret = ret ? ret : add_rules(ctx, kind, false, err);
	if (!ret && set->api)
		ret = add_rules(ctx, kind, true, err);
	if (!ret && (ret = export_prog(ctx, &set->prog[kind])))
		errmsg_set(err, ret, "seccomp: %s thread filter: %s", seccomp_thread_name(kind),
			   strerror(-ret));
	seccomp_release(ctx);
	return ret;
}

int seccomp_set_new(enum seccomp_policy policy, bool api, int violate, struct seccomp_set **out,
		    struct errmsg *err)
{
	struct seccomp_set *set = calloc(1, sizeof(*set));

	*out = NULL;
	if (!set)
		return errmsg_set(err, -ENOMEM, "seccomp: out of memory");
	set->policy = policy;
	set->api = api;
	set->violate = violate;
	if (policy == SECCOMP_POLICY_ON) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = seccomp_on_sigsys;
		sa.sa_flags = SA_SIGINFO;
		sigfillset(&sa.sa_mask); /* nothing else runs on this thread during the report */
		if (sigaction(SIGSYS, &sa, NULL) < 0) {
			free(set);
			return errmsg_set(err, -errno, "seccomp: SIGSYS handler: %s", strerror(errno));
		}
	}
	*out = set;
	return 0;
}

int seccomp_set_build(struct seccomp_set *set, enum seccomp_thread install)
{
	int ret = 0;

	if (!set)
		return 0;
	for (int k = 0; k < SECCOMP_THREAD_NR && !ret; k++)
		ret = build_one(set, (enum seccomp_thread)k, &set->err);
	set->built = !ret;
	if (!ret && install < SECCOMP_THREAD_NR && (ret = seccomp_thread_enter(set, install)))
		errmsg_set(&set->err, ret, "seccomp: %s thread filter: %s",
			   seccomp_thread_name(install), strerror(-ret));
	set->failed = ret != 0;
	return ret;
}

const char *seccomp_set_error(const struct seccomp_set *set)
{
	return set && set->failed ? set->err.text : NULL;
}

void seccomp_set_free(struct seccomp_set *set)
{
	if (!set)
		return;
	for (int k = 0; k < SECCOMP_THREAD_NR; k++)
		free(set->prog[k].filter);
	free(set);
}

int seccomp_thread_enter(const struct seccomp_set *set, enum seccomp_thread kind)
{
	if (!set)
		return 0;
	if (kind >= SECCOMP_THREAD_NR || !set->built)
		return -EINVAL;
	seccomp_this_thread = seccomp_thread_name(kind);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &set->prog[kind]) < 0)
		return -errno;
	/* The test hook: a call no list allows, made where this kind would next run its work. */
	if (set->violate == (int)kind) {
		/* harmless if --seccomp log lets it through; no path of ours asks a priority */
		(void)getpriority(PRIO_PROCESS, 0);
	}
	return 0;
}

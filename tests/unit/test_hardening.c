/* Hardening (issue 16): the seccomp filters per thread kind, the SIGSYS report, the test hook,
 * the io_uring ring's restrictions, the privilege drop and the flags. Filters and privileges
 * are tried in forked children, so the test process keeps its own. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/engine.h"
#include "tests/unit/unit.h"
#include "vmm/privs.h"
#include "vmm/seccomp.h"

/* Runs @fn(@arg) in a child whose stderr goes to a pipe; returns its wait status and what it
 * wrote to stderr. */
static int in_child(void (*fn)(void *), void *arg, char *err, size_t errlen)
{
	int p[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		fn(arg);
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], err + got, errlen - 1 - (size_t)got)) > 0)
		got += n;
	err[got] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void expect_exit(int status, int code, const char *err)
{
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == code,
		      "child status 0x%x, wanted exit %d; stderr: %s", status, code, err);
}

START_TEST(syscall_names_match_libseccomp)
{
	int named = 0;

	for (long nr = 0; nr < 1024; nr++) {
		const char *ours = seccomp_syscall_name(nr);
		char *theirs = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, (int)nr);

		if (ours) {
			named++;
			ck_assert_msg(theirs && !strcmp(ours, theirs), "syscall %ld: '%s' vs '%s'", nr,
				      ours, theirs ? theirs : "(none)");
		}
		free(theirs);
	}
	ck_assert_int_gt(named, 300);
	ck_assert_ptr_null(seccomp_syscall_name(-1));
	ck_assert_str_eq(seccomp_syscall_name(__NR_ioctl), "ioctl");
}
END_TEST

/* Every rule names a known call; the test hook's call is in no list; ioctl is never allowed
 * wholesale. */
START_TEST(rule_lists_are_narrow)
{
	for (int k = 0; k < SECCOMP_THREAD_NR; k++) {
		for (int api = 0; api < 2; api++) {
			size_t n;
			const struct seccomp_rule *r = seccomp_rules(k, api, &n);

			if (!api)
				ck_assert_uint_gt(n, 5);
			for (size_t i = 0; i < n; i++) {
				const char *name = seccomp_syscall_name(r[i].nr);

				ck_assert_msg(name, "%s list: rule %zu: unknown call %d",
					      seccomp_thread_name(k), i, r[i].nr);
				ck_assert_msg(strcmp(name, SECCOMP_HOOK_SYSCALL),
					      "%s list allows the hook's %s", seccomp_thread_name(k), name);
				if (r[i].nr == __NR_ioctl)
					ck_assert_msg(r[i].cmp == SECCOMP_CMP_MASKED && r[i].arg == 1,
						      "%s list: ioctl allowed without a request number",
						      seccomp_thread_name(k));
			}
		}
	}
	ck_assert_int_eq(seccomp_thread_parse("vcpu"), SECCOMP_THREAD_VCPU);
	ck_assert_int_eq(seccomp_thread_parse("io"), SECCOMP_THREAD_IO);
	ck_assert_int_eq(seccomp_thread_parse("cpuid"), SECCOMP_THREAD_CPUID);
	ck_assert_int_lt(seccomp_thread_parse("net"), 0);
}
END_TEST

struct filtered {
	enum seccomp_policy policy;
	enum seccomp_thread kind;
	int violate;
	void (*after)(void);
	bool api; /* --api-socket given */
};

static void run_filtered(void *arg)
{
	const struct filtered *f = arg;
	struct seccomp_set *set;
	struct errmsg err;

	if (seccomp_set_new(f->policy, f->api, f->violate, &set, &err) ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		dprintf(STDERR_FILENO, "setup failed: %s\n", err.text);
		_exit(2);
	}
	/* Built and installed at once, as on the CPUID helper; or built, then installed. */
	if (f->kind == SECCOMP_THREAD_CPUID ? seccomp_set_build(set, f->kind)
					    : seccomp_set_build(set, SECCOMP_THREAD_NR) ||
					      seccomp_thread_enter(set, f->kind)) {
		dprintf(STDERR_FILENO, "setup failed: %s\n", seccomp_set_error(set));
		_exit(2);
	}
	if (f->after)
		f->after();
	_exit(0); /* exit_group: every list has it */
}

static void do_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)fd;
}

static void do_kvm_run_and_bad_ioctl(void)
{
	/* Allowed request, bad descriptor: an ordinary error, not a kill. */
	if (ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF)
		_exit(3);
	ioctl(-1, KVM_CREATE_VM, 0);
}

static void do_exec_mapping(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(3);
	mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

START_TEST(forbidden_call_reported_in_one_line)
{
	struct filtered f = { SECCOMP_POLICY_ON, SECCOMP_THREAD_IO, -1, do_socket, false };
	char err[512];
	int st = in_child(run_filtered, &f, err, sizeof(err));

	expect_exit(st, 128 + SIGSYS, err);
	ck_assert_str_eq(err, "minivmm: seccomp: the I/O thread made a forbidden system call: socket (41); stopping\n");
}
END_TEST

START_TEST(ioctl_by_request_number)
{
	struct filtered f = { SECCOMP_POLICY_ON, SECCOMP_THREAD_VCPU, -1, do_kvm_run_and_bad_ioctl, false };
	char err[512];
	int st = in_child(run_filtered, &f, err, sizeof(err));

	expect_exit(st, 128 + SIGSYS, err);
	ck_assert_msg(strstr(err, "the vCPU thread made a forbidden system call: ioctl (16, request 0xae01)"),
		      "%s", err);
}
END_TEST

START_TEST(no_executable_mappings)
{
	struct filtered f = { SECCOMP_POLICY_ON, SECCOMP_THREAD_VCPU, -1, do_exec_mapping, false };
	char err[512];
	int st = in_child(run_filtered, &f, err, sizeof(err));

	expect_exit(st, 128 + SIGSYS, err);
	ck_assert_msg(strstr(err, "forbidden system call: mprotect (10)"), "%s", err);
}
END_TEST

/* A snapshot's new file (mkstemp's O_CREAT|O_EXCL; the only file the I/O thread ever creates)
 * is there only for a VM with a control socket; opening an existing file never is. */
static void do_create_file(void)
{
	char path[] = "/tmp/minivmm-unit-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		_exit(3);
	unlink(path);
	close(fd);
}

static void do_open_existing(void)
{
	open("/dev/null", O_RDONLY | O_CLOEXEC);
}

START_TEST(file_creation_only_with_control_socket)
{
	struct filtered with = { SECCOMP_POLICY_ON, SECCOMP_THREAD_IO, -1, do_create_file, true };
	struct filtered without = { SECCOMP_POLICY_ON, SECCOMP_THREAD_IO, -1, do_create_file, false };
	struct filtered existing = { SECCOMP_POLICY_ON, SECCOMP_THREAD_IO, -1, do_open_existing, true };
	char err[512];
	int st = in_child(run_filtered, &with, err, sizeof(err));

	expect_exit(st, 0, err);
#ifndef __SANITIZE_ADDRESS__ /* the sanitizer runtime's own lists allow any openat */
	st = in_child(run_filtered, &without, err, sizeof(err));
	expect_exit(st, 128 + SIGSYS, err);
	ck_assert_msg(strstr(err, "the I/O thread made a forbidden system call: openat (257)"), "%s", err);
	st = in_child(run_filtered, &existing, err, sizeof(err));
	expect_exit(st, 128 + SIGSYS, err);
	ck_assert_msg(strstr(err, "forbidden system call: openat (257)"), "%s", err);
#else
	(void)without;
	(void)existing;
#endif
}
END_TEST

/* The test hook makes the forbidden call as soon as that kind's filter is in. */
START_TEST(test_hook_per_kind)
{
	for (int k = 0; k < SECCOMP_THREAD_NR; k++) {
		struct filtered f = { SECCOMP_POLICY_ON, k, k, NULL, false };
		char err[512], want[160];
		int st = in_child(run_filtered, &f, err, sizeof(err));

		snprintf(want, sizeof(want), "the %s thread made a forbidden system call: %s (",
			 seccomp_thread_name(k), SECCOMP_HOOK_SYSCALL);
		expect_exit(st, 128 + SIGSYS, err);
		ck_assert_msg(strstr(err, want) && strchr(err, '\n') == err + strlen(err) - 1,
			      "%s", err);
	}
}
END_TEST

START_TEST(log_mode_lets_it_through)
{
	struct filtered f = { SECCOMP_POLICY_LOG, SECCOMP_THREAD_VCPU, SECCOMP_THREAD_VCPU, do_socket, false };
	char err[512];
	int st = in_child(run_filtered, &f, err, sizeof(err));

	expect_exit(st, 0, err);
	ck_assert_str_eq(err, "");
}
END_TEST

/* Requests submitted through io_uring never meet seccomp: the block engine's ring is locked
 * down before it is enabled, so even registering something new on it is refused. */
START_TEST(uring_ring_restricted)
{
	struct blk_engine *e;
	int ring_fd = -1, ret;
	DIR *d;
	struct dirent *de;

	ret = blk_engine_create(BLK_ENGINE_IO_URING, 8, NULL, &e);
	if (ret == -ENOSYS)
		return; /* io_uring disabled on this host: the sync engine is used instead */
	ck_assert_int_eq(ret, 0);
	d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		char path[300], target[64];
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (!strcmp(target, "anon_inode:[io_uring]"))
				ring_fd = atoi(de->d_name);
		}
	}
	closedir(d);
	ck_assert_int_ge(ring_fd, 0);
	ck_assert_int_eq(syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PROBE, NULL, 0), -1);
	ck_assert_int_eq(errno, EACCES);
	blk_engine_destroy(e);
}
END_TEST

static unsigned long long status_field(const char *name)
{
	char line[256];
	unsigned long long v = ~0ULL;
	FILE *f = fopen("/proc/self/status", "r");
	size_t len = strlen(name);

	if (!f)
		_exit(4);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':')
			v = strtoull(line + len + 1, NULL, !strncmp(name, "Cap", 3) ? 16 : 10);
	fclose(f);
	return v;
}

static void drop_as_root(void *arg)
{
	const struct privs_config *cfg = arg;
	struct errmsg err;

	if (privs_drop(cfg, &err)) {
		dprintf(STDERR_FILENO, "%s\n", err.text);
		_exit(2);
	}
	if (status_field("CapEff") || status_field("CapPrm") || status_field("CapInh") ||
	    status_field("CapAmb") || status_field("NoNewPrivs") != 1)
		_exit(5);
	if (status_field("CapBnd") != 0)
		_exit(6);
	if (cfg->set_user && (getuid() != cfg->uid || getgid() != cfg->gid ||
			      getgroups(0, NULL) != 0))
		_exit(7);
	if (!cfg->set_user && setuid(0) == 0 && status_field("CapEff"))
		_exit(8); /* uid 0 must not get capabilities back */
	_exit(0);
}

START_TEST(privilege_drop_as_root)
{
	struct privs_config plain = { 0 }, user = { true, 65534, 65534, NULL };
	char err[512];

	if (geteuid() != 0)
		return; /* needs root: covered by tests/integration/test_hardening.sh in the box */
	expect_exit(in_child(drop_as_root, &plain, err, sizeof(err)), 0, err);
	expect_exit(in_child(drop_as_root, &user, err, sizeof(err)), 0, err);
}
END_TEST

static void drop_into_chroot(void *arg)
{
	struct privs_config cfg = { .chroot = arg };
	struct errmsg err;

	if (privs_drop(&cfg, &err)) {
		dprintf(STDERR_FILENO, "%s\n", err.text);
		_exit(2);
	}
	/* Inside: the jail's own file is at its root; the host's /etc is gone, and without
	 * CAP_SYS_CHROOT there is no way back out. */
	if (access("/inside", F_OK) || !access("/etc/passwd", F_OK) || chroot("/") == 0)
		_exit(3);
	_exit(0);
}

START_TEST(chroot_after_setup)
{
	char dir[] = "/tmp/minivmm-jail.XXXXXX", file[64], err[512];
	int fd;

	if (geteuid() != 0)
		return;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/inside", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	expect_exit(in_child(drop_into_chroot, dir, err, sizeof(err)), 0, err);
	unlink(file);
	rmdir(dir);
}
END_TEST

static void drop_unprivileged(void *arg)
{
	struct privs_config user = { true, 65533, 65533, NULL }, none = { 0 };
	struct errmsg err;

	(void)arg;
	/* An ordinary user: nothing to switch to, no bounding set to clear, yet the drop works
	 * and says what it cannot do. */
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		_exit(2);
	if (privs_drop(&user, &err) == 0 || !strstr(err.text, "--user 65533:65533: switching user needs root"))
		_exit(3);
	if (privs_drop(&none, &err)) {
		dprintf(STDERR_FILENO, "%s\n", err.text);
		_exit(4);
	}
	if (status_field("CapEff") || status_field("CapPrm") || status_field("NoNewPrivs") != 1)
		_exit(5);
	_exit(0);
}

START_TEST(privilege_drop_unprivileged)
{
	char err[512];

	if (geteuid() != 0)
		return;
	expect_exit(in_child(drop_unprivileged, NULL, err, sizeof(err)), 0, err);
}
END_TEST

Suite *suite_hardening(void)
{
	Suite *s = suite_create("hardening");
	TCase *tc = tcase_create("hardening");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, syscall_names_match_libseccomp);
	tcase_add_test(tc, rule_lists_are_narrow);
	tcase_add_test(tc, forbidden_call_reported_in_one_line);
	tcase_add_test(tc, ioctl_by_request_number);
	tcase_add_test(tc, no_executable_mappings);
	tcase_add_test(tc, file_creation_only_with_control_socket);
	tcase_add_test(tc, test_hook_per_kind);
	tcase_add_test(tc, log_mode_lets_it_through);
	tcase_add_test(tc, uring_ring_restricted);
	tcase_add_test(tc, privilege_drop_as_root);
	tcase_add_test(tc, chroot_after_setup);
	tcase_add_test(tc, privilege_drop_unprivileged);
	suite_add_tcase(s, tc);
	return s;
}

/* minivmm: command dispatch. The only place that prints usage and exits. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "arch/x86/host_quirks.h"

#include "vmm/cli.h"
#include "vmm/ctl.h"
#include "vmm/img.h"
#include "vmm/privs.h"
#include "vmm/seccomp.h"
#include "vmm/version.h"
#include "vmm/vm.h"

static const char main_usage[] =
	"usage: minivmm COMMAND [options]\n"
	"\n"
	"commands:\n"
	"  run        boot a VM (minivmm run --help)\n"
	"  img        create, inspect and check disk images (minivmm img --help)\n"
	"  ctl        talk to a running VM's control socket (minivmm ctl --help)\n"
	"  kvm-info   which KVM this host has: API version and flavour (vmx, svm, soft)\n"
	"  version    print the version\n"
	"  help       this help\n";

/* The test hook of docs/hardening.md: MINIVMM_TEST_SECCOMP_VIOLATE=io|vcpu|cpuid|migration
 * makes that thread kind call something its filter forbids, right after installing it. */
#define SECCOMP_HOOK_ENV "MINIVMM_TEST_SECCOMP_VIOLATE"

/* Before setup starts any thread: no_new_privs, and the set of filters setup builds. */
static int cmd_run_harden_early(struct vm_config *cfg, struct seccomp_set **set,
				struct errmsg *err)
{
	const char *hook = getenv(SECCOMP_HOOK_ENV);
	int violate = -1, ret;

	*set = NULL;
	if (hook && *hook && (violate = seccomp_thread_parse(hook)) < 0)
		return errmsg_set(err, -EINVAL, "%s=%s: expected io, vcpu, cpuid or migration",
				  SECCOMP_HOOK_ENV, hook);
	ret = privs_no_new_privs(err);
	if (ret || cfg->seccomp == SECCOMP_POLICY_OFF)
		return ret;
	ret = seccomp_set_new(cfg->seccomp, cfg->api_socket != NULL, violate, set, err);
	cfg->seccomp_set = *set;
	return ret;
}

static int cmd_run(int argc, char **argv, const struct timespec *t_main)
{
	struct vm_config cfg = { .t_main = *t_main };
	struct seccomp_set *filters = NULL;
	struct errmsg err = { "" };
	struct vm vm;
	int ret, status;

	ret = cli_parse_run(argc, argv, &cfg, &err);
	if (ret == CLI_HELP) {
		fputs(cli_run_usage, stdout);
		return 0;
	}
	if (ret == CLI_VERSION) {
		printf("minivmm %s\n", MINIVMM_VERSION);
		return 0;
	}
	if (ret < 0) {
		fprintf(stderr, "minivmm: %s (see 'minivmm run --help')\n", err.text);
		return 1;
	}
	/* A closed stdout must not kill the VMM: the write fails with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	ret = cmd_run_harden_early(&cfg, &filters, &err);
	if (ret) {
		fprintf(stderr, "minivmm: %s\n", err.text);
		return 1;
	}
	ret = vm_create(&vm, &cfg, &err);
	if (ret) {
		fprintf(stderr, "minivmm: %s\n", err.text);
		seccomp_set_free(filters);
		return 1;
	}
	/* Setup is over: everything privileged is open. From here no privilege is left; the
	 * threads vm_run() starts inherit that. */
	ret = privs_drop(&cfg.privs, &err);
	if (ret) {
		fprintf(stderr, "minivmm: %s\n", err.text);
		vm_destroy(&vm);
		seccomp_set_free(filters);
		return 1;
	}
	status = vm_run(&vm);
	if (vm.stop_msg.text[0])
		fprintf(stderr, "minivmm: %s\n", vm.stop_msg.text);
	vm_destroy(&vm);
	if (cfg.boot_trace)
		fprintf(stderr, "minivmm: boot-trace: %8.3f ms VM torn down\n",
			config_elapsed_ms(&cfg));
	seccomp_set_free(filters);
	return status;
}

/* The flavour decides whether host work-arounds apply; test suites print it and pick the
 * guest arguments a software KVM needs from it. */
static int cmd_kvm_info(void)
{
	enum x86_kvm_flavour f = x86_kvm_flavour_detect();
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "minivmm: /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	printf("/dev/kvm: API version %d\n", ioctl(fd, KVM_GET_API_VERSION, 0));
	printf("flavour: %s (%s)\n", x86_kvm_flavour_name(f), x86_kvm_flavour_desc(f));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	struct timespec t_main;

	clock_gettime(CLOCK_MONOTONIC, &t_main);

	if (!cmd || !strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(main_usage, cmd ? stdout : stderr);
		return cmd ? 0 : 1;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("minivmm %s\n", MINIVMM_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1, &t_main);
	if (!strcmp(cmd, "kvm-info"))
		return cmd_kvm_info();
	if (!strcmp(cmd, "img"))
		return img_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "ctl"))
		return ctl_main(argc - 1, argv + 1);
	fprintf(stderr, "minivmm: unknown command '%s' (see 'minivmm help')\n", cmd);
	return 1;
}

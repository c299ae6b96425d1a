#include <errno.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "vmm/cli.h"

/* Runs cli_parse_run on a NULL-terminated list of literal arguments. */
static int parse(struct vm_config *cfg, struct errmsg *err, const char *const *args)
{
	static char store[16][128];
	char *argv[17];
	int argc = 0;

	argv[argc] = strcpy(store[argc], "run");
	argc++;
	for (; *args; args++, argc++)
		argv[argc] = strcpy(store[argc], *args);
	argv[argc] = NULL;
	return cli_parse_run(argc, argv, cfg, err);
}

#define PARSE(...) parse(&cfg, &err, (const char *const[]){ __VA_ARGS__, NULL })

START_TEST(defaults_and_values)
{
	struct vm_config cfg;
	struct errmsg err = { "" };

	ck_assert_int_eq(PARSE("--kernel", "k"), CLI_RUN);
	ck_assert_str_eq(cfg.kernel, "k");
	ck_assert_uint_eq(cfg.cpus, 1);
	ck_assert_uint_eq(cfg.mem_size, VM_DEFAULT_MEM);
	ck_assert_int_eq(cfg.serial.mode, CHARDEV_STDIO);
	ck_assert_int_eq(PARSE("--kernel=k", "--memory", "size=64M,hugepages=on", "--cpus=4",
			       "--serial", "file=/tmp/x", "--timeout", "30", "--cmdline", "a b"),
			 CLI_RUN);
	ck_assert_uint_eq(cfg.mem_size, 64 << 20);
	ck_assert(cfg.hugepages);
	ck_assert_uint_eq(cfg.cpus, 4);
	ck_assert_int_eq(cfg.serial.mode, CHARDEV_FILE);
	ck_assert_str_eq(cfg.serial.path, "/tmp/x");
	ck_assert_uint_eq(cfg.timeout_sec, 30);
	ck_assert_str_eq(cfg.cmdline, "a b");
	ck_assert_int_eq(PARSE("--help"), CLI_HELP);
}
END_TEST

static void expect_error(int ret, const struct errmsg *err, const char *needle)
{
	ck_assert_int_lt(ret, 0);
	ck_assert_msg(strstr(err->text, needle), "'%s' lacks '%s'", err->text, needle);
}

START_TEST(errors_name_the_flag)
{
	struct vm_config cfg;
	struct errmsg err = { "" };

	expect_error(PARSE("--cpus", "1"), &err, "--kernel is required");
	expect_error(PARSE("--kernel", "k", "--bogus"), &err, "--bogus");
	expect_error(PARSE("--kernel"), &err, "--kernel needs a value");
	expect_error(PARSE("--kernel", "k", "--cpus", "0"), &err, "--cpus");
	expect_error(PARSE("--kernel", "k", "--cpus", "two"), &err, "--cpus: 'two'");
	expect_error(PARSE("--kernel", "k", "--memory", "lots"), &err, "--memory: bad size 'lots'");
	expect_error(PARSE("--kernel", "k", "--memory", "1M"), &err, "too small");
	expect_error(PARSE("--kernel", "k", "--memory", "5001K"), &err, "multiple of 4K");
	expect_error(PARSE("--kernel", "k", "--memory", "size=3M,hugepages=on"), &err, "2M");
	expect_error(PARSE("--kernel", "k", "--memory", "size=64M,huge=on"), &err, "'huge'");
	expect_error(PARSE("--kernel", "k", "--memory", "hugepages=on"), &err, "no size");
	expect_error(PARSE("--kernel", "k", "--serial", "tcp"), &err, "--serial: 'tcp'");
	expect_error(PARSE("--kernel", "k", "--serial", "file="), &err, "--serial");
	expect_error(PARSE("--kernel", "k", "--timeout", "-1"), &err, "--timeout");
	expect_error(PARSE("--kernel", "k", "--timeout", "0"), &err, "--timeout");
	expect_error(PARSE("--kernel", "k", "extra"), &err, "unexpected argument 'extra'");
	expect_error(PARSE("--kernel", "k", "--api-socket", ""), &err, "--api-socket");
	expect_error(PARSE("--kernel", "k", "--api-socket",
			   "/tmp/a-socket-path-that-is-longer-than-the-one-hundred-and-seven-bytes-that-a-unix-socket-address-can-hold.sock"),
		     &err, "--api-socket");
	ck_assert_int_eq(PARSE("--kernel", "k", "--api-socket", "/run/vm.sock"), CLI_RUN);
	ck_assert_str_eq(cfg.api_socket, "/run/vm.sock");
	ck_assert_int_eq(PARSE("--kernel", "k"), CLI_RUN);
	ck_assert_ptr_null(cfg.api_socket);
}
END_TEST

/* --seccomp, --user, --chroot (issue 16; docs/hardening.md). */
START_TEST(hardening_flags)
{
	struct vm_config cfg;
	struct errmsg err = { "" };

	ck_assert_int_eq(PARSE("--kernel", "k"), CLI_RUN);
	ck_assert_int_eq(cfg.seccomp, SECCOMP_POLICY_ON);
	ck_assert(!cfg.privs.set_user);
	ck_assert_ptr_null(cfg.privs.chroot);
	ck_assert_int_eq(PARSE("--kernel", "k", "--seccomp", "log", "--user", "1000",
			       "--chroot", "/var/empty"), CLI_RUN);
	ck_assert_int_eq(cfg.seccomp, SECCOMP_POLICY_LOG);
	ck_assert(cfg.privs.set_user);
	ck_assert_uint_eq(cfg.privs.uid, 1000);
	ck_assert_uint_eq(cfg.privs.gid, 1000);
	ck_assert_str_eq(cfg.privs.chroot, "/var/empty");
	ck_assert_int_eq(PARSE("--kernel", "k", "--seccomp=off", "--user", "0:4294967294"), CLI_RUN);
	ck_assert_int_eq(cfg.seccomp, SECCOMP_POLICY_OFF);
	ck_assert_uint_eq(cfg.privs.uid, 0);
	ck_assert_uint_eq(cfg.privs.gid, 4294967294u);
	expect_error(PARSE("--kernel", "k", "--seccomp", "kill"), &err, "--seccomp: 'kill'");
	expect_error(PARSE("--kernel", "k", "--user", "nobody"), &err, "--user nobody: bad UID 'nobody'");
	expect_error(PARSE("--kernel", "k", "--user", "1000:"), &err, "--user 1000:: bad GID ''");
	expect_error(PARSE("--kernel", "k", "--user", ":1000"), &err, "--user :1000: expected UID");
	expect_error(PARSE("--kernel", "k", "--user", "4294967295"), &err, "bad UID");
	expect_error(PARSE("--kernel", "k", "--user", "-1"), &err, "bad UID");
	expect_error(PARSE("--kernel", "k", "--chroot", ""), &err, "--chroot: empty");
}
END_TEST

START_TEST(net_and_disk_options)
{
	struct vm_config cfg;
	struct errmsg err = { "" };
	uint8_t a[6], b[6], c[6];

	ck_assert_int_eq(PARSE("--kernel", "k", "--net", "tap=t0,mac=02:00:00:aa:bb:cc,num_queues=4",
			       "--net", "fd=5", "--disk", "path=x.qcow2,format=qcow2"), 0);
	ck_assert_uint_eq(cfg.nr_nets, 2);
	ck_assert_str_eq(cfg.nets[0].tap, "t0");
	ck_assert(cfg.nets[0].has_mac && cfg.nets[0].mac[5] == 0xcc);
	ck_assert_uint_eq(cfg.nets[0].pairs, 2);
	ck_assert_int_eq(cfg.nets[1].fd, 5);
	ck_assert_uint_eq(cfg.nets[1].pairs, 1);
	ck_assert_int_eq(cfg.disks[0].format, DISK_FORMAT_QCOW2);
	/* The default MAC: locally stable, different per backend and position, unicast. */
	net_default_mac(&cfg.nets[0], a);
	net_default_mac(&cfg.nets[0], b);
	net_default_mac(&cfg.nets[1], c);
	ck_assert(!memcmp(a, b, 6) && memcmp(a, c, 6) && !(a[0] & 1));
	expect_error(PARSE("--kernel", "k", "--net", "tap=t0,fd=4"), &err, "exactly one of");
	expect_error(PARSE("--kernel", "k", "--net", "num_queues=2"), &err, "exactly one of");
	expect_error(PARSE("--kernel", "k", "--net", "tap=t0,num_queues=5"), &err, "num_queues=5");
	expect_error(PARSE("--kernel", "k", "--net", "tap=t0,num_queues=10"), &err, "num_queues=10");
	expect_error(PARSE("--kernel", "k", "--net", "tap=t0,mac=03:00:00:00:00:01"), &err, "mac=");
	expect_error(PARSE("--kernel", "k", "--net", "tap=t0,mac=02:00:00:00:00"), &err, "mac=");
	expect_error(PARSE("--kernel", "k", "--net", "fd=2"), &err, "fd=2");
	expect_error(PARSE("--kernel", "k", "--disk", "path=x,format=vmdk"), &err, "format=vmdk");
	ck_assert_int_eq(PARSE("--kernel", "k", "--kvm-pv-off", "ipi,unhalt"), 0);
	ck_assert_uint_eq(cfg.kvm_pv_off, (1u << 11) | (1u << 7)); /* PV_SEND_IPI, PV_UNHALT */
	expect_error(PARSE("--kernel", "k", "--kvm-pv-off", "ipi,warp"), &err, "'warp'");
}
END_TEST

Suite *suite_cli(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("run");

	tcase_add_test(tc, defaults_and_values);
	tcase_add_test(tc, errors_name_the_flag);
	tcase_add_test(tc, hardening_flags);
	tcase_add_test(tc, net_and_disk_options);
	suite_add_tcase(s, tc);
	return s;
}

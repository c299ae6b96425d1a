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
}
END_TEST

Suite *suite_cli(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("run");

	tcase_add_test(tc, defaults_and_values);
	tcase_add_test(tc, errors_name_the_flag);
	suite_add_tcase(s, tc);
	return s;
}

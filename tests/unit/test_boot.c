/* e820 construction, initrd placement, and the whole loader on synthetic kernel files. */
#include <asm/bootparam.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "tests/unit/unit.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

START_TEST(e820_small_and_large)
{
	struct guest_mem gm = { 0 };
	struct e820_entry e[8];
	int n;

	ck_assert_int_eq(gm_layout(&gm, 64 * MIB), 0);
	n = e820_build(&gm, e, 8);
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(e[0].addr, 0);
	ck_assert_uint_eq(e[0].size, 0x9fc00);
	ck_assert_uint_eq(e[0].type, E820_TYPE_RAM);
	ck_assert_uint_eq(e[1].type, E820_TYPE_RESERVED);
	ck_assert_uint_eq(e[2].addr, 0xe0000);
	ck_assert_uint_eq(e[2].addr + e[2].size, 0x100000);
	ck_assert_uint_eq(e[3].addr, 0x100000);
	ck_assert_uint_eq(e[3].addr + e[3].size, 64 * MIB);

	ck_assert_int_eq(gm_layout(&gm, 6 * GIB), 0);
	n = e820_build(&gm, e, 8);
	ck_assert_int_eq(n, 5);
	ck_assert_uint_eq(e[3].addr + e[3].size, 3 * GIB);
	ck_assert_uint_eq(e[4].addr, 4 * GIB);
	ck_assert_uint_eq(e[4].size, 3 * GIB);
	/* Sorted, non-overlapping. */
	for (int i = 1; i < n; i++)
		ck_assert(e[i - 1].addr + e[i - 1].size <= e[i].addr);
	ck_assert_int_eq(e820_build(&gm, e, 3), -ENOSPC);
}
END_TEST

START_TEST(e820_below_one_mib)
{
	struct guest_mem gm = { 0 };
	struct e820_entry e[8];

	ck_assert_int_eq(gm_layout(&gm, 512 * 1024), 0);
	ck_assert_int_eq(e820_build(&gm, e, 8), 1);
	ck_assert_uint_eq(e[0].size, 512 * 1024);
}
END_TEST

START_TEST(initrd_placement)
{
	/* Top of RAM, page aligned down. */
	ck_assert_uint_eq(x86_initrd_place(4096, 2 * MIB, 0x7fffffff, 64 * MIB), 64 * MIB - 4096);
	ck_assert_uint_eq(x86_initrd_place(100, 2 * MIB, 0x7fffffff, 64 * MIB), 64 * MIB - 4096);
	/* initrd_addr_max below the top of RAM wins (inclusive limit). */
	ck_assert_uint_eq(x86_initrd_place(4096, 2 * MIB, 32 * MIB - 1, 64 * MIB), 32 * MIB - 4096);
	/* Would overlap the kernel. */
	ck_assert_uint_eq(x86_initrd_place(63 * MIB, 2 * MIB, 0x7fffffff, 64 * MIB), 0);
	ck_assert_uint_eq(x86_initrd_place(64 * MIB + 1, 0, 0x7fffffff, 64 * MIB), 0);
	ck_assert_uint_eq(x86_initrd_place(0, 0, 0x7fffffff, 64 * MIB), 0);
}
END_TEST

static char *write_temp(const void *data, size_t len)
{
	char *path = strdup("/tmp/minivmm-unit-XXXXXX");
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

/* A 2.15 bzImage with 1 setup sector and a 4 KiB payload of 0xc3. */
static size_t make_bzimage(uint8_t *buf, uint32_t init_size)
{
	struct setup_header h;

	memset(buf, 0, 1024 + 4096);
	memset(&h, 0, sizeof(h));
	h.setup_sects = 1;
	h.boot_flag = 0xaa55;
	h.jump = 0x66eb;
	h.header = 0x53726448;
	h.version = 0x020f;
	h.syssize = 4096 / 16;
	h.initrd_addr_max = 0x7fffffff;
	h.cmdline_size = 255;
	h.xloadflags = XLF_KERNEL_64;
	h.init_size = init_size;
	memcpy(buf + 0x1f1, &h, sizeof(h));
	memset(buf + 1024, 0xc3, 4096);
	return 1024 + 4096;
}

START_TEST(loads_bzimage_and_writes_zero_page)
{
	static uint8_t kbuf[1024 + 4096];
	uint8_t initrd[5000];
	struct guest_mem gm;
	struct x86_boot boot;
	struct errmsg err = { "" };
	struct boot_params bp;
	char *kpath, *ipath;
	char cmdline[32];

	memset(initrd, 0x11, sizeof(initrd));
	kpath = write_temp(kbuf, make_bzimage(kbuf, 2 * MIB));
	ipath = write_temp(initrd, sizeof(initrd));
	ck_assert_int_eq(gm_init(&gm, 32 * MIB, false), 0);
	struct x86_boot_args args = { kpath, ipath, "console=ttyS0", 0xe0000 };
	ck_assert_msg(x86_boot_load(&gm, &args, &boot, &err) == 0, "%s", err.text);
	ck_assert_int_eq(boot.mode, X86_ENTRY_LINUX64);
	ck_assert_uint_eq(boot.entry, 0x100200);
	ck_assert_uint_eq(boot.boot_info, X86_ZERO_PAGE_ADDR);
	ck_assert_uint_eq(*(uint8_t *)gm_ptr(&gm, 0x100000, 1), 0xc3);
	ck_assert_int_eq(gm_read(&gm, X86_ZERO_PAGE_ADDR, &bp, sizeof(bp)), 0);
	ck_assert_uint_eq(bp.hdr.type_of_loader, 0xff);
	ck_assert_uint_eq(bp.hdr.header, 0x53726448);
	ck_assert_uint_eq(bp.hdr.cmd_line_ptr, X86_CMDLINE_ADDR);
	ck_assert_uint_eq(bp.acpi_rsdp_addr, 0xe0000);
	ck_assert_uint_eq(bp.hdr.ramdisk_size, sizeof(initrd));
	ck_assert_uint_eq(bp.hdr.ramdisk_image, 32 * MIB - 8192);
	ck_assert_uint_eq(*(uint8_t *)gm_ptr(&gm, bp.hdr.ramdisk_image, 1), 0x11);
	ck_assert_uint_eq(bp.e820_entries, 4);
	ck_assert_int_eq(gm_read(&gm, X86_CMDLINE_ADDR, cmdline, 14), 0);
	ck_assert_str_eq(cmdline, "console=ttyS0");
	gm_destroy(&gm);

	/* Too little memory for the kernel's init_size. */
	ck_assert_int_eq(gm_init(&gm, 2 * MIB, false), 0);
	args.initrd = NULL;
	ck_assert_int_eq(x86_boot_load(&gm, &args, &boot, &err), -ENOMEM);
	ck_assert(strstr(err.text, "--kernel"));
	ck_assert(strstr(err.text, "MiB"));
	gm_destroy(&gm);

	/* Command line longer than the kernel's cmdline_size. */
	ck_assert_int_eq(gm_init(&gm, 32 * MIB, false), 0);
	char longline[300];
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	args.cmdline = longline;
	ck_assert_int_eq(x86_boot_load(&gm, &args, &boot, &err), -E2BIG);
	ck_assert(strstr(err.text, "--cmdline"));
	gm_destroy(&gm);
	unlink(kpath);
	unlink(ipath);
	free(kpath);
	free(ipath);
}
END_TEST

START_TEST(rejects_missing_empty_and_non_kernels)
{
	struct guest_mem gm;
	struct x86_boot boot;
	struct errmsg err = { "" };
	char *empty = write_temp("", 0), *text = write_temp("#!/bin/sh\necho hi\n", 18);
	struct x86_boot_args args = { "/nonexistent/vmlinuz", NULL, "", 0 };

	ck_assert_int_eq(gm_init(&gm, 32 * MIB, false), 0);
	ck_assert_int_eq(x86_boot_load(&gm, &args, &boot, &err), -ENOENT);
	ck_assert(strstr(err.text, "--kernel /nonexistent/vmlinuz"));
	args.kernel = "/tmp";
	ck_assert_int_eq(x86_boot_load(&gm, &args, &boot, &err), -EINVAL);
	ck_assert(strstr(err.text, "not a regular file"));
	args.kernel = empty;
	ck_assert_int_eq(x86_boot_load(&gm, &args, &boot, &err), -ENOEXEC);
	ck_assert(strstr(err.text, "empty"));
	args.kernel = text;
	ck_assert_int_eq(x86_boot_load(&gm, &args, &boot, &err), -ENOEXEC);
	ck_assert(strstr(err.text, "not a Linux kernel"));
	gm_destroy(&gm);
	unlink(empty);
	unlink(text);
	free(empty);
	free(text);
}
END_TEST

/* The "other process" of files_shrinking_while_loaded: shrinks the file to nothing and back,
 * over and over. */
static volatile int shrink_stop;

static void *shrinker(void *arg)
{
	const char *path = arg;

	while (!shrink_stop) {
		if (truncate(path, 0) || truncate(path, 32 * MIB))
			break;
	}
	return NULL;
}

/* Issue 13, finding 11: the kernel and initrd were mmap'd, so a file truncated while minivmm
 * copied it raised SIGBUS and killed the VMM with no message. Read instead: a file that
 * shrinks gives an error that names it (or, if the race is lost, a normal load). */
START_TEST(files_shrinking_while_loaded)
{
	static uint8_t kbuf[1024 + 4096];
	struct guest_mem gm;
	struct x86_boot boot;
	struct errmsg err = { "" };
	char *kpath, *ipath;
	pthread_t t;
	int failed = 0;

	kpath = write_temp(kbuf, make_bzimage(kbuf, 2 * MIB));
	ipath = write_temp("", 0);
	ck_assert_int_eq(truncate(ipath, 32 * MIB), 0);
	ck_assert_int_eq(gm_init(&gm, 64 * MIB, false), 0);
	shrink_stop = 0;
	ck_assert_int_eq(pthread_create(&t, NULL, shrinker, ipath), 0);
	for (int i = 0; i < 200; i++) {
		struct x86_boot_args args = { kpath, ipath, "", 0 };
		int ret = x86_boot_load(&gm, &args, &boot, &err);

		if (ret) {
			failed++;
			ck_assert_msg(strstr(err.text, "--initrd"), "%s", err.text);
		}
	}
	shrink_stop = 1;
	pthread_join(t, NULL);
	ck_assert_int_gt(failed, 0);   /* the race was on */
	gm_destroy(&gm);
	unlink(kpath);
	unlink(ipath);
	free(kpath);
	free(ipath);
}
END_TEST

Suite *suite_boot(void)
{
	Suite *s = suite_create("boot");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, e820_small_and_large);
	tcase_add_test(tc, e820_below_one_mib);
	tcase_add_test(tc, initrd_placement);
	tcase_add_test(tc, loads_bzimage_and_writes_zero_page);
	tcase_add_test(tc, rejects_missing_empty_and_non_kernels);
	tcase_add_test(tc, files_shrinking_while_loaded);
	suite_add_tcase(s, tc);
	return s;
}

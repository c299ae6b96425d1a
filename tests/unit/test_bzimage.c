#include <asm/bootparam.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/bzimage.h"
#include "tests/unit/unit.h"

#define FILE_SIZE (64 * 1024)

static uint8_t img[BZIMAGE_HEADER_BYTES];

/* A minimal valid header: protocol 2.15, 64-bit entry, 4 setup sectors, syssize matching. */
static void make_header(void)
{
	struct setup_header h;

	memset(img, 0, sizeof(img));
	memset(&h, 0, sizeof(h));
	h.setup_sects = 4;
	h.boot_flag = 0xaa55;
	h.jump = 0x66eb; /* jmp +0x66: header ends at 0x268 */
	h.header = 0x53726448;
	h.version = 0x020f;
	h.syssize = (FILE_SIZE - 5 * 512) / 16;
	h.initrd_addr_max = 0x7fffffff;
	h.cmdline_size = 2047;
	h.xloadflags = XLF_KERNEL_64;
	h.init_size = 1 << 20;
	memcpy(img + 0x1f1, &h, sizeof(h));
}

START_TEST(accepts_valid)
{
	struct bzimage_info info;
	struct errmsg err = { "" };

	make_header();
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), FILE_SIZE, &info, &err), 0);
	ck_assert_uint_eq(info.setup_size, 5 * 512);
	ck_assert_uint_eq(info.payload_offset, 5 * 512);
	ck_assert_uint_eq(info.payload_size, FILE_SIZE - 5 * 512);
	ck_assert_uint_eq(info.init_size, 1 << 20);
	ck_assert_uint_eq(info.cmdline_size, 2047);
	ck_assert_uint_eq(info.header_end, 0x268);
}
END_TEST

static void expect_reject(size_t len, uint64_t file_size, const char *needle)
{
	struct bzimage_info info;
	struct errmsg err = { "" };

	ck_assert_int_eq(bzimage_parse(img, len, file_size, &info, &err), -ENOEXEC);
	ck_assert_msg(strstr(err.text, needle), "message '%s' lacks '%s'", err.text, needle);
}

START_TEST(rejects_truncated)
{
	make_header();
	expect_reject(0x200, 0x200, "too small");
	expect_reject(0, 0, "too small");
}
END_TEST

START_TEST(rejects_bad_magic)
{
	make_header();
	img[0x1fe] = 0;
	expect_reject(sizeof(img), FILE_SIZE, "0xaa55");
	make_header();
	memcpy(img + 0x202, "HdrZ", 4);
	expect_reject(sizeof(img), FILE_SIZE, "HdrS");
}
END_TEST

START_TEST(rejects_old_or_32bit_only)
{
	make_header();
	img[0x206] = 0x05; /* 2.05 */
	expect_reject(sizeof(img), FILE_SIZE, "too old");
	make_header();
	img[0x206] = 0x0b; /* 2.11: no xloadflags yet */
	expect_reject(sizeof(img), FILE_SIZE, "64-bit");
	make_header();
	img[0x236] = 0;   /* xloadflags without XLF_KERNEL_64 */
	expect_reject(sizeof(img), FILE_SIZE, "XLF_KERNEL_64");
}
END_TEST

START_TEST(rejects_sizes_beyond_file)
{
	make_header();
	img[0x1f1] = 200; /* 201 sectors of setup in a 64 KiB file */
	expect_reject(sizeof(img), FILE_SIZE, "past the end");
	make_header();
	img[0x1f4] = 0xff;
	img[0x1f5] = 0xff; /* syssize far beyond */
	expect_reject(sizeof(img), FILE_SIZE, "syssize");
	make_header();
	img[0x201] = 0xff; /* header length pointing past what we hold */
	expect_reject(0x280, FILE_SIZE, "0x201");
}
END_TEST

START_TEST(setup_sects_zero_means_four)
{
	struct bzimage_info info;

	make_header();
	img[0x1f1] = 0;
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), FILE_SIZE, &info, NULL), 0);
	ck_assert_uint_eq(info.setup_size, 5 * 512);
}
END_TEST

START_TEST(cmdline_limits)
{
	struct bzimage_info info;
	struct errmsg err = { "" };

	make_header();
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), FILE_SIZE, &info, NULL), 0);
	ck_assert_int_eq(bzimage_check_cmdline(&info, 0, &err), 0);
	ck_assert_int_eq(bzimage_check_cmdline(&info, 2047, &err), 0);
	ck_assert_int_eq(bzimage_check_cmdline(&info, 2048, &err), -E2BIG);
	ck_assert(strstr(err.text, "2047"));
	info.cmdline_size = UINT32_MAX; /* a kernel claiming more than we reserve */
	ck_assert_int_eq(bzimage_check_cmdline(&info, 0x10000, &err), -E2BIG);
	ck_assert_int_eq(bzimage_check_cmdline(&info, 0xffff, &err), 0);
}
END_TEST

Suite *suite_bzimage(void)
{
	Suite *s = suite_create("bzimage");
	TCase *tc = tcase_create("header");

	tcase_add_test(tc, accepts_valid);
	tcase_add_test(tc, rejects_truncated);
	tcase_add_test(tc, rejects_bad_magic);
	tcase_add_test(tc, rejects_old_or_32bit_only);
	tcase_add_test(tc, rejects_sizes_beyond_file);
	tcase_add_test(tc, setup_sects_zero_means_four);
	tcase_add_test(tc, cmdline_limits);
	suite_add_tcase(s, tc);
	return s;
}

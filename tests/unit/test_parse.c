#include <errno.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "vmm/parse.h"

START_TEST(sizes)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("4096", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(parse_size("64K", &v), 0);
	ck_assert_uint_eq(v, 64 << 10);
	ck_assert_int_eq(parse_size("512m", &v), 0);
	ck_assert_uint_eq(v, 512ULL << 20);
	ck_assert_int_eq(parse_size("2G", &v), 0);
	ck_assert_uint_eq(v, 2ULL << 30);
	ck_assert_int_eq(parse_size("1GiB", &v), 0);
	ck_assert_uint_eq(v, 1ULL << 30);
	ck_assert_int_eq(parse_size("3T", &v), 0);
	ck_assert_uint_eq(v, 3ULL << 40);
	ck_assert_int_eq(parse_size("", &v), -EINVAL);
	ck_assert_int_eq(parse_size("G", &v), -EINVAL);
	ck_assert_int_eq(parse_size("-1M", &v), -EINVAL);
	ck_assert_int_eq(parse_size("1.5G", &v), -EINVAL);
	ck_assert_int_eq(parse_size("12X", &v), -EINVAL);
	ck_assert_int_eq(parse_size("1Gx", &v), -EINVAL);
	ck_assert_int_eq(parse_size("4096B", &v), -EINVAL);
	ck_assert_int_eq(parse_size("99999999999999999999", &v), -ERANGE);
	ck_assert_int_eq(parse_size("17179869184G", &v), -ERANGE);
}
END_TEST

START_TEST(uints_bools_kv)
{
	uint64_t v;
	bool b;
	char buf[] = "size=1G,hugepages=on,bare";
	char *cur = buf, *k, *val;

	ck_assert_int_eq(parse_uint("8", 1, 16, &v), 0);
	ck_assert_uint_eq(v, 8);
	ck_assert_int_eq(parse_uint("0", 1, 16, &v), -ERANGE);
	ck_assert_int_eq(parse_uint("17", 1, 16, &v), -ERANGE);
	ck_assert_int_eq(parse_uint("1x", 1, 16, &v), -EINVAL);
	ck_assert_int_eq(parse_uint("", 1, 16, &v), -EINVAL);
	ck_assert_int_eq(parse_uint("+3", 1, 16, &v), -EINVAL);
	ck_assert_int_eq(parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	ck_assert_int_eq(parse_bool("on", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(parse_bool("OFF", &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(parse_bool("maybe", &b), -EINVAL);
	ck_assert_int_eq(parse_bool(NULL, &b), -EINVAL);

	ck_assert(parse_next_kv(&cur, &k, &val));
	ck_assert_str_eq(k, "size");
	ck_assert_str_eq(val, "1G");
	ck_assert(parse_next_kv(&cur, &k, &val));
	ck_assert_str_eq(k, "hugepages");
	ck_assert(parse_next_kv(&cur, &k, &val));
	ck_assert_str_eq(k, "bare");
	ck_assert_ptr_null(val);
	ck_assert(!parse_next_kv(&cur, &k, &val));
}
END_TEST

Suite *suite_parse(void)
{
	Suite *s = suite_create("parse");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, sizes);
	tcase_add_test(tc, uints_bools_kv);
	suite_add_tcase(s, tc);
	return s;
}

#include "tests/unit/unit.h"
#include "vmm/term.h"

START_TEST(ctrl_a_escape)
{
	struct term_escape e = { false };

	ck_assert_int_eq(term_escape_feed(&e, 'a'), TERM_KEY_PASS);
	ck_assert_int_eq(term_escape_feed(&e, 0x01), TERM_KEY_SWALLOW);
	ck_assert_int_eq(term_escape_feed(&e, 'x'), TERM_KEY_QUIT);
	ck_assert_int_eq(term_escape_feed(&e, 0x01), TERM_KEY_SWALLOW);
	ck_assert_int_eq(term_escape_feed(&e, 0x01), TERM_KEY_PASS); /* literal Ctrl-A */
	ck_assert_int_eq(term_escape_feed(&e, 'x'), TERM_KEY_PASS);  /* plain x */
	ck_assert_int_eq(term_escape_feed(&e, 0x01), TERM_KEY_SWALLOW);
	ck_assert_int_eq(term_escape_feed(&e, 'z'), TERM_KEY_PASS_ESCAPE);
}
END_TEST

Suite *suite_term(void)
{
	Suite *s = suite_create("term");
	TCase *tc = tcase_create("escape");

	tcase_add_test(tc, ctrl_a_escape);
	suite_add_tcase(s, tc);
	return s;
}

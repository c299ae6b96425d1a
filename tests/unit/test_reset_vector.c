#include <string.h>

#include "arch/x86/layout.h"
#include "firmware/reset_vector.h"
#include "tests/unit/unit.h"

/* Linux's default reboot on our hardware-reduced ACPI ends in a real-mode jump to F000:FFF0: a
 * reset must be there, in memory the e820 map keeps from the kernel. */
START_TEST(reset_stub_at_the_vector)
{
	static const uint8_t want[] = { 0xb0, 0xfe, 0xe6, 0x64 }; /* mov al,0xfe; out 0x64,al */
	struct guest_mem gm = { 0 };
	struct errmsg err;
	uint8_t got[sizeof(want)];

	ck_assert_int_eq(gm_init(&gm, 64 << 20, false), 0);
	ck_assert_int_eq(firmware_reset_vector(&gm, &err), 0);
	ck_assert_int_eq(gm_read(&gm, 0xffff0, got, sizeof(got)), 0);
	ck_assert_mem_eq(got, want, sizeof(want));
	ck_assert_uint_le(X86_BIOS_START, RESET_VECTOR_ADDR);
	ck_assert_uint_ge(X86_HIGH_MEM, RESET_VECTOR_ADDR + 16);
	gm_destroy(&gm);
}
END_TEST

Suite *suite_reset_vector(void)
{
	Suite *s = suite_create("reset_vector");
	TCase *tc = tcase_create("stub");

	tcase_add_test(tc, reset_stub_at_the_vector);
	suite_add_tcase(s, tc);
	return s;
}

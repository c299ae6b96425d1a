/* The virtqueue validator on hand-built rings in ordinary memory: one test per rule. */
#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "virtio/queue.h"

#define MIB (1ULL << 20)
#define RAM (32 * MIB)
#define DESC_GPA 0x10000
#define AVAIL_GPA 0x20000
#define USED_GPA 0x30000
#define IND_GPA 0x40000
#define BUF_GPA 0x100000

static struct guest_mem gm;
static struct virtqueue vq;
static struct vq_chain chain;
static const char *why;

static struct vring_desc *desc(unsigned i) { return (struct vring_desc *)gm_ptr(&gm, DESC_GPA + 16 * i, 16); }
static struct vring_desc *ind(unsigned i) { return (struct vring_desc *)gm_ptr(&gm, IND_GPA + 16 * i, 16); }
static uint16_t *avail(unsigned i) { return (uint16_t *)gm_ptr(&gm, AVAIL_GPA + 2 * i, 2); }
static uint16_t *used16(unsigned i) { return (uint16_t *)gm_ptr(&gm, USED_GPA + 2 * i, 2); }

static void setd(struct vring_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	*d = (struct vring_desc){ addr, len, flags, next };
}

/* Publishes head @h as the next avail entry. */
static void offer(uint16_t h)
{
	uint16_t idx = *avail(1);

	*avail(2 + idx % vq.num) = h;
	*avail(1) = (uint16_t)(idx + 1);
}

static void setup(void)
{
	ck_assert_int_eq(gm_init(&gm, RAM, false), 0);
	memset(&vq, 0, sizeof(vq));
	vq.num = 8;
	vq.desc_gpa = DESC_GPA;
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	vq.indirect = true;
	ck_assert_int_eq(vq_enable(&vq, &gm, &why), 0);
}

static void teardown(void)
{
	gm_destroy(&gm);
}

static void expect_broken(const char *needle)
{
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), -EINVAL);
	ck_assert_msg(strstr(why, needle), "reason '%s' lacks '%s'", why, needle);
}

START_TEST(valid_chain_round_trip)
{
	char msg[] = "hello";

	memcpy(gm_ptr(&gm, BUF_GPA, 5), msg, 5);
	setd(desc(0), BUF_GPA, 5, VRING_DESC_F_NEXT, 3);
	setd(desc(3), BUF_GPA + 4096, 100, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 5);
	setd(desc(5), BUF_GPA + 8192, 1, VRING_DESC_F_WRITE, 0);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 0);  /* nothing offered yet */
	offer(0);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 1);
	ck_assert_uint_eq(chain.head, 0);
	ck_assert_uint_eq(chain.nr_readable, 1);
	ck_assert_uint_eq(chain.nr_writable, 2);
	ck_assert_uint_eq(chain.readable_len, 5);
	ck_assert_uint_eq(chain.writable_len, 101);
	char buf[8] = "";
	ck_assert_uint_eq(vq_chain_read(&chain, 1, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "ello");
	ck_assert_uint_eq(vq_chain_write(&chain, 98, "xyz!", 4), 3); /* spans both buffers, capped */
	ck_assert_uint_eq(*(uint8_t *)gm_ptr(&gm, BUF_GPA + 8192, 1), 'z');
	vq_push(&vq, chain.head, 101);
	ck_assert_uint_eq(*used16(1), 1);
	ck_assert_uint_eq(*(uint32_t *)gm_ptr(&gm, USED_GPA + 4, 4), 0);
	ck_assert_uint_eq(*(uint32_t *)gm_ptr(&gm, USED_GPA + 8, 4), 101);
	ck_assert(vq_should_interrupt(&vq));
	*avail(0) = VRING_AVAIL_F_NO_INTERRUPT;
	ck_assert(!vq_should_interrupt(&vq));
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 0);
}
END_TEST

START_TEST(descriptor_loop)
{
	setd(desc(0), BUF_GPA, 16, VRING_DESC_F_NEXT, 1);
	setd(desc(1), BUF_GPA, 16, VRING_DESC_F_NEXT, 0);
	offer(0);
	expect_broken("longer than the queue");
}
END_TEST

START_TEST(chain_longer_than_queue)
{
	/* 8 distinct descriptors, the last pointing back into the chain at 7 → 9th visit. */
	for (unsigned i = 0; i < 8; i++)
		setd(desc(i), BUF_GPA, 16, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % 8));
	offer(0);
	expect_broken("longer than the queue");
}
END_TEST

START_TEST(indices_out_of_range)
{
	offer(8);
	expect_broken("head descriptor index");
	vq_enable(&vq, &gm, &why);
	memset(gm_ptr(&gm, AVAIL_GPA, 64), 0, 64);
	setd(desc(0), BUF_GPA, 16, VRING_DESC_F_NEXT, 200);
	offer(0);
	expect_broken("next descriptor index");
}
END_TEST

START_TEST(buffers_outside_or_straddling_ram)
{
	setd(desc(0), RAM, 1, 0, 0);
	offer(0);
	expect_broken("outside guest RAM");
	vq_enable(&vq, &gm, &why);
	memset(gm_ptr(&gm, AVAIL_GPA, 64), 0, 64);
	setd(desc(0), RAM - 8, 16, 0, 0);  /* straddles the end of RAM */
	offer(0);
	expect_broken("outside guest RAM");
	vq_enable(&vq, &gm, &why);
	memset(gm_ptr(&gm, AVAIL_GPA, 64), 0, 64);
	setd(desc(0), UINT64_MAX - 4, 16, 0, 0); /* address wraps */
	offer(0);
	expect_broken("outside guest RAM");
	vq_enable(&vq, &gm, &why);
	memset(gm_ptr(&gm, AVAIL_GPA, 64), 0, 64);
	setd(desc(0), 0xd0000000, 16, 0, 0);  /* the MMIO hole */
	offer(0);
	expect_broken("outside guest RAM");
}
END_TEST

START_TEST(length_overflow)
{
	/* 256 writable descriptors of 17 MiB each: inside RAM one by one, > 4 GiB together. */
	vq.num = 256;
	ck_assert_int_eq(vq_enable(&vq, &gm, &why), 0);
	for (unsigned i = 0; i < 256; i++)
		setd(desc(i), 0, 17 * MIB, VRING_DESC_F_WRITE | (i < 255 ? VRING_DESC_F_NEXT : 0),
		     (uint16_t)(i + 1));
	offer(0);
	expect_broken("overflows");
}
END_TEST

START_TEST(avail_index_jump)
{
	*avail(1) = 9; /* 9 new buffers in a queue of 8 */
	expect_broken("avail index");
	vq_enable(&vq, &gm, &why);
	*avail(1) = 0x8000;
	expect_broken("avail index");
}
END_TEST

START_TEST(writable_before_readable)
{
	setd(desc(0), BUF_GPA, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	setd(desc(1), BUF_GPA, 16, 0, 0);
	offer(0);
	expect_broken("readable descriptor after a writable");
}
END_TEST

START_TEST(indirect_rules)
{
	/* Valid: one direct descriptor, then a table of three. */
	setd(ind(0), BUF_GPA, 10, VRING_DESC_F_NEXT, 2);
	setd(ind(2), BUF_GPA + 4096, 20, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	setd(ind(1), BUF_GPA + 8192, 1, VRING_DESC_F_WRITE, 0);
	setd(desc(4), BUF_GPA, 4, VRING_DESC_F_NEXT, 5);
	setd(desc(5), IND_GPA, 48, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 1);
	ck_assert_uint_eq(chain.nr_readable, 2);
	ck_assert_uint_eq(chain.nr_writable, 2);
	ck_assert_uint_eq(chain.readable_len, 14);
	ck_assert_uint_eq(chain.writable_len, 21);
	ck_assert_int_eq(vq_push(&vq, chain.head, 0), 0);

	setd(desc(5), IND_GPA, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 6);
	offer(4);
	expect_broken("indirect descriptor with NEXT");

	vq_enable(&vq, &gm, &why);
	memset(gm_ptr(&gm, AVAIL_GPA, 64), 0, 64);
	setd(desc(5), IND_GPA, 40, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	expect_broken("multiple of 16");

	vq_enable(&vq, &gm, &why);
	memset(gm_ptr(&gm, AVAIL_GPA, 64), 0, 64);
	setd(desc(5), RAM - 16, 32, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	expect_broken("indirect table outside");

	vq_enable(&vq, &gm, &why);
	memset(gm_ptr(&gm, AVAIL_GPA, 64), 0, 64);
	setd(desc(5), IND_GPA, 48, VRING_DESC_F_INDIRECT, 0);
	setd(ind(1), IND_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	expect_broken("nested indirect");

	vq_enable(&vq, &gm, &why);
	memset(gm_ptr(&gm, AVAIL_GPA, 64), 0, 64);
	setd(ind(1), BUF_GPA, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2); /* 0 → 2 → 1 → 2 … */
	offer(4);
	expect_broken("loops");

	vq_enable(&vq, &gm, &why);
	memset(gm_ptr(&gm, AVAIL_GPA, 64), 0, 64);
	setd(ind(1), BUF_GPA, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	offer(4);
	expect_broken("indirect descriptor index out of range");

	vq.indirect = false;
	vq_enable(&vq, &gm, &why);
	memset(gm_ptr(&gm, AVAIL_GPA, 64), 0, 64);
	offer(4);
	expect_broken("without VIRTIO_RING_F_INDIRECT_DESC");
}
END_TEST

START_TEST(enable_checks_layout)
{
	vq.num = 6;
	ck_assert_int_eq(vq_enable(&vq, &gm, &why), -EINVAL);
	vq.num = 512;
	ck_assert_int_eq(vq_enable(&vq, &gm, &why), -EINVAL);
	vq.num = 0;
	ck_assert_int_eq(vq_enable(&vq, &gm, &why), -EINVAL);
	vq.num = 8;
	vq.desc_gpa = DESC_GPA + 8;
	ck_assert_int_eq(vq_enable(&vq, &gm, &why), -EINVAL);
	ck_assert(strstr(why, "misaligned"));
	vq.desc_gpa = RAM - 64; /* 8 descriptors need 128 bytes */
	ck_assert_int_eq(vq_enable(&vq, &gm, &why), -EINVAL);
	ck_assert(strstr(why, "outside"));
	ck_assert(!vq.enabled);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 0); /* a disabled queue yields nothing */
}
END_TEST

START_TEST(event_index)
{
	vq.event_idx = true;
	ck_assert_int_eq(vq_enable(&vq, &gm, &why), 0);
	for (unsigned i = 0; i < 4; i++)
		setd(desc(i), BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	/* used_event lives after the avail ring, avail_event after the used ring. */
	uint16_t *used_event = avail(2 + 8), *avail_event = (uint16_t *)gm_ptr(&gm, USED_GPA + 4 + 64, 2);
	*used_event = 1; /* interrupt once used idx passes 1 */
	offer(0);
	offer(1);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 1);
	ck_assert_uint_eq(*avail_event, 1);
	vq_push(&vq, chain.head, 0);
	ck_assert(vq_should_interrupt(&vq));   /* first signal always goes out */
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 1);
	ck_assert_uint_eq(*avail_event, 2);
	vq_push(&vq, chain.head, 0);           /* used idx 1 → 2 crosses used_event 1 */
	ck_assert(vq_should_interrupt(&vq));
	offer(2);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 1);
	vq_push(&vq, chain.head, 0);           /* 2 → 3: driver still asks at 1: no */
	ck_assert(!vq_should_interrupt(&vq));
	*used_event = 3;
	offer(3);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 1);
	vq_push(&vq, chain.head, 0);           /* 3 → 4 crosses 3 */
	ck_assert(vq_should_interrupt(&vq));
	ck_assert(!vq_set_notify(&vq, true));
	offer(0);
	ck_assert(vq_set_notify(&vq, true));   /* something arrived: process before sleeping */
}
END_TEST

START_TEST(notification_flag_without_event_idx)
{
	ck_assert(!vq_set_notify(&vq, false));
	ck_assert_uint_eq(*used16(0), VRING_USED_F_NO_NOTIFY);
	ck_assert(!vq_set_notify(&vq, true));
	ck_assert_uint_eq(*used16(0), 0);
}
END_TEST

START_TEST(zero_length_descriptors_are_skipped)
{
	setd(desc(0), BUF_GPA, 0, VRING_DESC_F_NEXT, 1);
	setd(desc(1), BUF_GPA, 4, VRING_DESC_F_WRITE, 0);
	offer(0);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 1);
	ck_assert_uint_eq(chain.nr_readable, 0);
	ck_assert_uint_eq(chain.nr_writable, 1);
}
END_TEST

/* Issue 13, finding 2: a head the device holds (popped, not yet pushed) may not be made
 * available again; once pushed it may. Pushing a head the device does not hold is refused. */
START_TEST(head_reused_while_in_flight)
{
	setd(desc(2), BUF_GPA, 16, 0, 0);
	setd(desc(4), BUF_GPA, 16, 0, 0);
	offer(2);
	offer(4);
	offer(2);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 1);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 1);
	expect_broken("still holds");
	ck_assert_int_eq(vq_push(&vq, 5, 0), -EINVAL);   /* never popped */
	ck_assert_uint_eq(*used16(1), 0);

	vq_enable(&vq, &gm, &why);                        /* a reset forgets what was held */
	memset(gm_ptr(&gm, AVAIL_GPA, 64), 0, 64);
	offer(2);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 1);
	ck_assert_int_eq(vq_push(&vq, 2, 0), 0);
	ck_assert_int_eq(vq_push(&vq, 2, 0), -EINVAL);   /* twice */
	offer(2);
	ck_assert_int_eq(vq_pop(&vq, &chain, &why), 1);  /* returned, so available again */
	ck_assert_uint_eq(chain.head, 2);
}
END_TEST

Suite *suite_virtqueue(void)
{
	Suite *s = suite_create("virtqueue");
	TCase *tc = tcase_create("split");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, valid_chain_round_trip);
	tcase_add_test(tc, descriptor_loop);
	tcase_add_test(tc, chain_longer_than_queue);
	tcase_add_test(tc, indices_out_of_range);
	tcase_add_test(tc, buffers_outside_or_straddling_ram);
	tcase_add_test(tc, length_overflow);
	tcase_add_test(tc, avail_index_jump);
	tcase_add_test(tc, writable_before_readable);
	tcase_add_test(tc, indirect_rules);
	tcase_add_test(tc, enable_checks_layout);
	tcase_add_test(tc, event_index);
	tcase_add_test(tc, notification_flag_without_event_idx);
	tcase_add_test(tc, zero_length_descriptors_are_skipped);
	tcase_add_test(tc, head_reused_while_in_flight);
	suite_add_tcase(s, tc);
	return s;
}

/* The virtio-mmio transport with a dummy device: status state machine, feature negotiation,
 * the queue configuration window, NEEDS_RESET, config space bounds. No KVM (vm_fd = -1). */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "virtio/device.h"
#include "vmm/machine.h"

#define ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define DRV VIRTIO_CONFIG_S_DRIVER
#define FOK VIRTIO_CONFIG_S_FEATURES_OK
#define DOK VIRTIO_CONFIG_S_DRIVER_OK

static struct guest_mem mem;
static struct bus mmio_bus;
static struct evloop loop;
static struct dev_list devices;
static struct machine machine;
static struct virtio_dev *dev;
static int notified, activated, resets;
static uint8_t config[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static void d_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	(void)d;
	memcpy(data, config + off, len);
}
static int d_activate(struct virtio_dev *d) { (void)d; activated++; return 0; }
static void d_reset(struct virtio_dev *d) { (void)d; resets++; }
static void d_notify(struct virtio_dev *d, unsigned q) { (void)d; (void)q; notified++; }

static const struct virtio_dev_ops dummy_ops = {
	.name = "dummy", .device_id = 42, .read_config = d_read_config, .activate = d_activate,
	.reset = d_reset, .notify = d_notify,
};

static void wr(uint64_t off, uint32_t v) { virtio_mmio_io(NULL, off, (uint8_t *)&v, 4, true, dev); }
static uint32_t rd(uint64_t off) { uint32_t v = 0xdead; virtio_mmio_io(NULL, off, (uint8_t *)&v, 4, false, dev); return v; }

static void setup(void)
{
	memset(&devices, 0, sizeof(devices));
	loop.epfd = -1;
	bus_init(&mmio_bus, "mmio");
	ck_assert_int_eq(gm_init(&mem, 16 << 20, false), 0);
	machine = (struct machine){ .mem = &mem, .mmio = &mmio_bus, .loop = &loop, .vm_fd = -1,
				    .devices = &devices };
	notified = activated = resets = 0;
	ck_assert_int_eq(virtio_mmio_create(&machine, 0, &dummy_ops, NULL, 2, 1ULL << 3, sizeof(config), &dev), 0);
}

static void teardown(void)
{
	dev_list_destroy(&devices);
	bus_destroy(&mmio_bus);
	gm_destroy(&mem);
}

static void negotiate(uint64_t features)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, ACK);
	wr(VIRTIO_MMIO_STATUS, ACK | DRV);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(VIRTIO_MMIO_STATUS, ACK | DRV | FOK);
}

static void setup_queue0(void)
{
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x10000);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x20000);
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, 0x30000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
}

START_TEST(identity_registers)
{
	ck_assert_uint_eq(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_VERSION), 2);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_ID), 42);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 is bit 32 */
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_FEATURES), 1U << 3);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0);
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), VQ_MAX_SIZE);
	wr(VIRTIO_MMIO_QUEUE_SEL, 2);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0); /* no such queue */
	/* Byte accesses to registers are ignored; reads see zero. */
	uint8_t b = 0x55;
	virtio_mmio_io(NULL, VIRTIO_MMIO_MAGIC_VALUE, &b, 1, false, dev);
	ck_assert_uint_eq(b, 0x55);
}
END_TEST

START_TEST(status_state_machine)
{
	wr(VIRTIO_MMIO_STATUS, ACK | DRV);        /* skipping ACK: ignored */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	wr(VIRTIO_MMIO_STATUS, ACK);
	wr(VIRTIO_MMIO_STATUS, ACK | DRV | FOK);  /* skipping DRIVER: ignored */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), ACK);
	wr(VIRTIO_MMIO_STATUS, ACK | DRV);
	wr(VIRTIO_MMIO_STATUS, ACK | DRV | DOK);  /* DRIVER_OK before FEATURES_OK: ignored */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), ACK | DRV);
	ck_assert_int_eq(activated, 0);
	negotiate(1ULL << 32);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), ACK | DRV | FOK);
	wr(VIRTIO_MMIO_STATUS, ACK | DRV | FOK | DOK);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), ACK | DRV | FOK | DOK);
	ck_assert_int_eq(activated, 1);
	wr(VIRTIO_MMIO_STATUS, ACK);              /* going back: ignored */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), ACK | DRV | FOK | DOK);
	wr(VIRTIO_MMIO_STATUS, ACK | DRV | FOK | DOK | VIRTIO_CONFIG_S_FAILED);
	ck_assert_uint_ne(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FAILED, 0);
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	ck_assert_int_ge(resets, 1);
}
END_TEST

START_TEST(feature_negotiation)
{
	negotiate(1ULL << 3);                     /* no VERSION_1: refused */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), ACK | DRV);
	negotiate((1ULL << 32) | (1ULL << 5));    /* a bit we never offered: refused */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), ACK | DRV);
	negotiate((1ULL << 32) | (1ULL << 3));
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), ACK | DRV | FOK);
	ck_assert(virtio_has_feature(dev, 3));
	/* Features are frozen once FEATURES_OK is set. */
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 0);
	ck_assert(virtio_has_feature(dev, 3));
}
END_TEST

START_TEST(queue_configuration_window)
{
	/* Before FEATURES_OK: ignored, not fatal. */
	wr(VIRTIO_MMIO_STATUS, ACK);
	wr(VIRTIO_MMIO_QUEUE_NUM, 8);
	ck_assert_uint_eq(dev->vqs[0].num, VQ_MAX_SIZE);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	negotiate(1ULL << 32);
	setup_queue0();
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	ck_assert_uint_eq(dev->vqs[0].num, 16);
	wr(VIRTIO_MMIO_STATUS, ACK | DRV | FOK | DOK);
	/* After DRIVER_OK: the device needs a reset, and the queue keeps its configuration. */
	wr(VIRTIO_MMIO_QUEUE_NUM, 8);
	ck_assert_uint_ne(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	ck_assert_uint_eq(dev->vqs[0].num, 16);
	ck_assert_uint_ne(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG, 0);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* Reset clears everything. */
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
}
END_TEST

START_TEST(bad_rings_and_notifies)
{
	negotiate(1ULL << 32);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, 1);       /* 4 GiB: outside 16 MiB of RAM */
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert_uint_ne(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);

	negotiate(1ULL << 32);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	setup_queue0();
	wr(VIRTIO_MMIO_STATUS, ACK | DRV | FOK | DOK);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 5);          /* no queue 5 */
	ck_assert_uint_ne(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	ck_assert(dev->broken);
}
END_TEST

START_TEST(config_space_bounds)
{
	uint32_t v = 0;
	uint8_t b[8];

	virtio_mmio_io(NULL, VIRTIO_MMIO_CONFIG + 4, (uint8_t *)&v, 4, false, dev);
	ck_assert_uint_eq(v, 0x08070605);
	memset(b, 0xee, sizeof(b));
	virtio_mmio_io(NULL, VIRTIO_MMIO_CONFIG + 6, b, 4, false, dev); /* past the end */
	ck_assert_uint_eq(b[0], 0xee);
	virtio_mmio_io(NULL, 0xfff, b, 1, true, dev);                  /* ignored */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), 0);
	virtio_dev_config_changed(dev);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), 1);
}
END_TEST

/* Issue 13, finding 4: a completion that races a reset (Status = 0 from a vCPU between a
 * device's completion and its interrupt) asks for an interrupt on a queue whose rings are
 * gone. That used to read the NULL avail ring (segfault); it must do nothing. */
START_TEST(interrupt_after_reset)
{
	negotiate(1ULL << 32);
	setup_queue0();
	wr(VIRTIO_MMIO_STATUS, ACK | DRV | FOK | DOK);
	wr(VIRTIO_MMIO_STATUS, 0);
	virtio_dev_used(dev, 0);
	virtio_dev_used(dev, 1);                  /* never configured */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_int_eq(vq_push(&dev->vqs[0], 0, 0), -EINVAL);
	ck_assert(!vq_set_notify(&dev->vqs[0], true));
}
END_TEST

Suite *suite_virtio_mmio(void)
{
	Suite *s = suite_create("virtio_mmio");
	TCase *tc = tcase_create("transport");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, identity_registers);
	tcase_add_test(tc, status_state_machine);
	tcase_add_test(tc, feature_negotiation);
	tcase_add_test(tc, queue_configuration_window);
	tcase_add_test(tc, bad_rings_and_notifies);
	tcase_add_test(tc, config_space_bounds);
	tcase_add_test(tc, interrupt_after_reset);
	suite_add_tcase(s, tc);
	return s;
}

/* Exit dispatch on hand-filled kvm_run structures: no /dev/kvm. */
#include <stdlib.h>
#include <string.h>

#include "devices/platform.h"
#include "tests/unit/unit.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

struct fixture {
	struct vm vm;
	struct vcpu vcpu;
	struct vm_config cfg;
	struct kvm_run *run;
	int mmio_writes;
	uint64_t mmio_last;
};

static struct fixture fx;

static void mmio_io(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len,
		    bool is_write, void *opaque)
{
	struct fixture *f = opaque;

	(void)vcpu;
	if (is_write) {
		f->mmio_writes++;
		f->mmio_last = 0;
		memcpy(&f->mmio_last, data, len);
	} else {
		memset(data, 0x77, len);
	}
	(void)offset;
}

static void setup(void)
{
	struct errmsg err;

	memset(&fx, 0, sizeof(fx));
	fx.vm.cfg = &fx.cfg;
	fx.vm.run_size = 8192; /* kvm_run page + the PIO data page */
	fx.vm.stop_ev.fd = -1;
	fx.vm.vm_fd = -1;
	pthread_mutex_init(&fx.vm.stop_lock, NULL);
	atomic_init(&fx.vm.stop_reason, VM_RUNNING);
	bus_init(&fx.vm.pio_bus, "pio");
	bus_init(&fx.vm.mmio_bus, "mmio");
	vm_machine_init(&fx.vm);
	ck_assert_int_eq(platform_devices_setup(&fx.vm.machine, &err), 0);
	ck_assert_int_eq(bus_register(&fx.vm.mmio_bus, 0xd0000000, 0x1000, mmio_io, &fx, "t"), 0);
	fx.run = calloc(1, 8192);
	fx.vcpu = (struct vcpu){ .vm = &fx.vm, .id = 0, .fd = -1, .run = fx.run };
}

static void teardown(void)
{
	free(fx.run);
	bus_destroy(&fx.vm.pio_bus);
	bus_destroy(&fx.vm.mmio_bus);
	pthread_mutex_destroy(&fx.vm.stop_lock);
}

static void pio(uint16_t port, int out, uint8_t size, uint32_t count, const void *data)
{
	fx.run->exit_reason = KVM_EXIT_IO;
	fx.run->io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
	fx.run->io.port = port;
	fx.run->io.size = size;
	fx.run->io.count = count;
	fx.run->io.data_offset = 4096;
	if (data)
		memcpy((uint8_t *)fx.run + 4096, data, (size_t)size * count);
}

START_TEST(exit_port_sets_status_and_stops)
{
	uint32_t v = 0x12345607;

	pio(EXIT_PORT, 1, 4, 1, &v);
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_STOP);
	ck_assert_int_eq(atomic_load(&fx.vm.stop_reason), VM_STOP_EXIT_PORT);
	ck_assert_int_eq(fx.vm.exit_status, 7);
	/* A later stop does not override the first verdict. */
	v = 9;
	pio(EXIT_PORT, 1, 1, 1, &v);
	vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run);
	ck_assert_int_eq(fx.vm.exit_status, 7);
}
END_TEST

START_TEST(unmapped_in_reads_zero_and_continues)
{
	uint8_t junk[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	pio(0x2f8, 0, 1, 8, junk); /* rep insb of 8 from nothing */
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_CONTINUE);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(((uint8_t *)fx.run)[4096 + i], 0);
	ck_assert_int_eq(atomic_load(&fx.vm.stop_reason), VM_RUNNING);
}
END_TEST

START_TEST(malformed_io_exit_is_an_error)
{
	pio(0x3f8, 1, 3, 1, NULL);
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_STOP);
	ck_assert_int_eq(atomic_load(&fx.vm.stop_reason), VM_STOP_ERROR);
	ck_assert_int_eq(fx.vm.exit_status, 1);
}
END_TEST

START_TEST(io_count_beyond_run_page)
{
	pio(0x3f8, 1, 4, 2000, NULL);
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_STOP);
	ck_assert_int_eq(atomic_load(&fx.vm.stop_reason), VM_STOP_ERROR);
}
END_TEST

START_TEST(mmio_routes_and_reads)
{
	fx.run->exit_reason = KVM_EXIT_MMIO;
	fx.run->mmio.phys_addr = 0xd0000070;
	fx.run->mmio.len = 4;
	fx.run->mmio.is_write = 1;
	memcpy(fx.run->mmio.data, &(uint32_t){ 0xf }, 4);
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_CONTINUE);
	ck_assert_int_eq(fx.mmio_writes, 1);
	ck_assert_uint_eq(fx.mmio_last, 0xf);
	fx.run->mmio.is_write = 0;
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_CONTINUE);
	ck_assert_uint_eq(fx.run->mmio.data[3], 0x77);
	fx.run->mmio.phys_addr = 0xd0000ffe; /* straddles the device end */
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_CONTINUE);
	ck_assert_uint_eq(fx.run->mmio.data[0], 0);
	fx.run->mmio.len = 0;
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_STOP);
}
END_TEST

START_TEST(i8042_reset_and_shutdown_are_reboots)
{
	uint8_t cmd = I8042_CMD_RESET;

	pio(I8042_COMMAND_PORT, 0, 1, 1, NULL);
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_CONTINUE);
	ck_assert_uint_eq(((uint8_t *)fx.run)[4096] & 0x02, 0); /* ready for a command */
	pio(I8042_COMMAND_PORT, 1, 1, 1, &cmd);
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_STOP);
	ck_assert_int_eq(atomic_load(&fx.vm.stop_reason), VM_STOP_REBOOT);
	ck_assert_int_eq(fx.vm.exit_status, 0);
}
END_TEST

START_TEST(triple_fault_and_unknown_exits)
{
	fx.run->exit_reason = KVM_EXIT_SHUTDOWN;
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_STOP);
	ck_assert_int_eq(atomic_load(&fx.vm.stop_reason), VM_STOP_REBOOT);
	ck_assert(strstr(fx.vm.stop_msg.text, "triple fault"));

	atomic_store(&fx.vm.stop_reason, VM_RUNNING);
	fx.run->exit_reason = 999;
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_STOP);
	ck_assert_int_eq(atomic_load(&fx.vm.stop_reason), VM_STOP_ERROR);
	ck_assert(strstr(fx.vm.stop_msg.text, "999"));

	atomic_store(&fx.vm.stop_reason, VM_RUNNING);
	fx.run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	fx.run->internal.suberror = 1;
	ck_assert_int_eq(vcpu_handle_exit(&fx.vm, &fx.vcpu, fx.run), VCPU_STOP);
	ck_assert(strstr(fx.vm.stop_msg.text, "suberror 1"));
	ck_assert_int_eq(fx.vm.exit_status, 1);
}
END_TEST

Suite *suite_vcpu_exit(void)
{
	Suite *s = suite_create("vcpu_exit");
	TCase *tc = tcase_create("dispatch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, exit_port_sets_status_and_stops);
	tcase_add_test(tc, unmapped_in_reads_zero_and_continues);
	tcase_add_test(tc, malformed_io_exit_is_an_error);
	tcase_add_test(tc, io_count_beyond_run_page);
	tcase_add_test(tc, mmio_routes_and_reads);
	tcase_add_test(tc, i8042_reset_and_shutdown_are_reboots);
	tcase_add_test(tc, triple_fault_and_unknown_exits);
	suite_add_tcase(s, tc);
	return s;
}

#include <stdlib.h>

#include "tests/unit/unit.h"

int main(void)
{
	Suite *(*const suites[])(void) = {
		suite_bus, suite_memory, suite_bzimage, suite_boot, suite_pvh, suite_parse,
		suite_cli, suite_uart, suite_vcpu_exit, suite_cpuid, suite_term, suite_firmware, suite_virtqueue, suite_virtio_mmio, suite_qcow2, suite_image_lock, suite_engine_range, suite_reset_vector, suite_stream,
		suite_virtio_net, suite_virtio_blk, suite_disk, suite_disk_worker, suite_disk_copy, suite_virtio_console, suite_ged,
		suite_api_proto, suite_api_server, suite_hardening, suite_migrate,
	};
	SRunner *sr = srunner_create(NULL);
	int failed;

	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

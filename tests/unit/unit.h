/* Suites of the unit-test runner (no /dev/kvm needed). */
#ifndef MINIVMM_UNIT_H
#define MINIVMM_UNIT_H

#include <check.h>

Suite *suite_bus(void);
Suite *suite_memory(void);
Suite *suite_bzimage(void);
Suite *suite_boot(void);
Suite *suite_pvh(void);
Suite *suite_parse(void);
Suite *suite_cli(void);
Suite *suite_uart(void);
Suite *suite_vcpu_exit(void);
Suite *suite_cpuid(void);
Suite *suite_term(void);
Suite *suite_firmware(void);
Suite *suite_virtqueue(void);
Suite *suite_virtio_mmio(void);
Suite *suite_qcow2(void);
Suite *suite_image_lock(void);
Suite *suite_engine_range(void);
Suite *suite_reset_vector(void);
Suite *suite_stream(void);
Suite *suite_migrate(void);
Suite *suite_virtio_net(void);
Suite *suite_virtio_blk(void);
Suite *suite_disk(void);
Suite *suite_disk_worker(void);
Suite *suite_disk_copy(void);
Suite *suite_virtio_console(void);
Suite *suite_api_proto(void);
Suite *suite_ged(void);
Suite *suite_api_server(void);
Suite *suite_hardening(void);

#endif

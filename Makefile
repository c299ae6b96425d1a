# minivmm — build, test, benchmark. See README.md.

CC ?= gcc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
BASE_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -I. -MMD -MP
LDLIBS := -luring -lfdt -lpthread -lz -lzstd -ljansson -lseccomp -lcap-ng
BUILD := build

# The qcow2 layers, bottom to top (docs/architecture.md; tests/unit/layering.sh checks them).
QCOW2_LAYER_SRCS := block/qcow2_file.c block/qcow2_set.c block/qcow2_header.c \
	block/qcow2_cache.c block/qcow2_image.c block/qcow2_compress.c block/qcow2_refcount.c \
	block/qcow2_snapshot.c block/qcow2_cluster.c block/qcow2_writeback.c block/qcow2.c \
	block/qcow2_open.c block/qcow2_check.c block/qcow2_create.c
# Everything but main.c: unit tests link the same objects.
VMM_LIB_SRCS := \
	vmm/errmsg.c vmm/parse.c vmm/bus.c vmm/memory.c vmm/evloop.c vmm/term.c vmm/serial.c vmm/stdin_input.c \
	vmm/machine.c vmm/device.c vmm/state.c vmm/seccomp.c vmm/seccomp_rules.c vmm/syscall_names.c vmm/privs.c \
	vmm/vcpu.c vmm/vm.c vmm/cli.c vmm/lifecycle.c vmm/api.c vmm/api_proto.c vmm/ctl.c \
	arch/x86/e820.c arch/x86/bzimage.c arch/x86/pvh.c arch/x86/boot.c arch/x86/cpuid.c \
	arch/x86/regs.c arch/x86/host_quirks.c arch/x86/kvm_state.c \
	migrate/crc32c.c migrate/stream.c migrate/restore.c migrate/snapshot.c \
	migrate/channel.c migrate/converge.c migrate/dirty.c migrate/migrate.c migrate/source_io.c migrate/precopy.c migrate/incoming.c migrate/throttle.c migrate/disk_stream.c \
	devices/uart.c devices/platform.c devices/acpi_pm.c devices/ged.c \
	firmware/aml.c firmware/acpi.c firmware/mptable.c firmware/reset_vector.c firmware/firmware.c \
	virtio/queue.c virtio/mmio.c virtio/transport_state.c virtio/blk.c virtio/console.c virtio/net.c net/tap.c block/engine.c block/disk.c block/raw.c \
	block/qcow2_disk.c block/disk_worker.c block/disk_copy.c block/iov.c $(QCOW2_LAYER_SRCS) block/image_lock.c vmm/img.c
VMM_MAIN_SRCS := vmm/main.c
# The qcow2 library alone (image tools, fuzzer).
QCOW2_SRCS := block/iov.c $(QCOW2_LAYER_SRCS) block/image_lock.c vmm/errmsg.c

UNIT_SRCS := $(wildcard tests/unit/test_*.c) tests/unit/unit_main.c
UNIT_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
UNIT_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

obj = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(2))

.PHONY: fuzz-smoke print-fuzz-targets test-qcow2 all deps test check check-asan integration test-integration test-oracle test-linux linux-guest clean bench guest fuzz \
	test-stock test-kvmbox run
all: minivmm guest

# Linked statically: no dynamic loader at start (first guest byte 0.6 ms sooner, RSS beyond
# guest RAM 1.8 -> 1.0 MiB, measured with bench/startup.sh).
minivmm: $(call obj,rel,$(VMM_LIB_SRCS) $(VMM_MAIN_SRCS))
	$(CC) $(CFLAGS) -static -o $@ $^ $(LDLIBS)

$(BUILD)/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) $(UNIT_CFLAGS) -c -o $@ $<

$(BUILD)/unit: $(call obj,rel,$(VMM_LIB_SRCS) $(UNIT_SRCS))
	$(CC) $(CFLAGS) -o $@ $^ $(UNIT_LIBS) $(LDLIBS)

$(BUILD)/unit-asan: $(call obj,asan,$(VMM_LIB_SRCS) $(UNIT_SRCS))
	$(CC) $(SAN) -o $@ $^ $(UNIT_LIBS) $(LDLIBS)

# The unit-test objects need Check's flags.
$(call obj,rel,$(UNIT_SRCS)): BASE_CFLAGS += $(UNIT_CFLAGS)

include tests/guest/guest.mk

# Unit tests only (no /dev/kvm needed), plain and under ASan/UBSan.
check: $(BUILD)/unit $(BUILD)/unit-asan
	tests/unit/run.sh

# Every suite that boots a guest runs where /dev/kvm is usable, and in the nested-KVM box
# (tests/kvmbox/run) where it is not; none skips for lack of KVM.
# Boots the test guest through the real binary.
test-integration integration: minivmm guest $(BUILD)/minivmm-asan $(BUILD)/blkpattern $(BUILD)/mig_proxy
	tests/integration/run.sh

# The same guest under QEMU microvm with QEMU's devices: checks our guest drivers against an
# independent implementation.
test-oracle: guest $(BUILD)/blkpattern
	tests/oracle/run.sh

# The tiny Linux guest from Debian's linux-source (cached in /var/cache/minivmm/linux).
linux-guest:
	tests/linux/build.sh

# Linux's own drivers against our devices (builds or reuses the kernel first).
test-linux: minivmm
	tests/linux/run.sh

# Debian's stock kernel with its own modules (the box's kernel package).
test-stock: minivmm
	tests/linux/stock/run.sh

# The box itself: status passthrough, failures in one line.
test-kvmbox: minivmm guest
	tests/kvmbox/test.sh

# Boots the test guest (or ARGS): here with /dev/kvm, in the nested-KVM box without it.
ARGS ?= --kernel tests/guest/guest.bzImage
run: all
	tests/kvmbox/kvm-or-box ./minivmm run $(ARGS)

# Everything, guest suites in the box where there is no /dev/kvm (tests/run.sh says how).
test: all $(BUILD)/unit $(BUILD)/unit-asan $(BUILD)/minivmm-asan $(BUILD)/blkpattern $(BUILD)/qcow2io $(BUILD)/mig_proxy fuzz
	tests/run.sh

# qcow2 format tests against qemu-img (no /dev/kvm needed); CRASH_TRIALS=100 for the long run.
test-qcow2: minivmm $(BUILD)/qcow2io
	tests/qcow2/run.sh

bench: minivmm guest
	bench/startup.sh

DEPS := build-essential pkg-config linux-libc-dev check liburing-dev libcap-ng-dev libfdt-dev \
	zlib1g-dev libzstd-dev libseccomp-dev libjansson-dev qemu-utils acpica-tools \
	clang libclang-rt-14-dev fio e2fsprogs python3 iproute2 iputils-ping dnsmasq-base \
	linux-source-6.1 bc flex bison libelf-dev libssl-dev cpio busybox-static kmod python3-libfdt device-tree-compiler \
	iperf3
# QEMU is the oracle and benchmark peer; its GUI recommends are not needed.
DEPS_NORECOMMENDS := qemu-system-x86
deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEPS)
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEPS_NORECOMMENDS)
	tests/kvmbox/run --setup

clean:
	rm -rf $(BUILD) minivmm $(GUEST_OUTPUTS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# The VMM built with ASan/UBSan: the integration tests run the stop paths through it.
$(BUILD)/minivmm-asan: $(call obj,asan,$(VMM_LIB_SRCS) $(VMM_MAIN_SRCS))
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)

# libFuzzer targets (clang): make fuzz, then e.g. build/fuzz/fuzz_virtqueue -max_total_time=600
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined
# Device-level targets (tests/fuzz/fuzz_vdev.h): the real transport, devices, formats and
# engines, instrumented like the harness; virtio-blk once per engine and format.
FUZZ_DEVICES := fuzz_blk_raw_sync fuzz_blk_raw_uring fuzz_blk_qcow2_sync fuzz_blk_qcow2_uring \
	fuzz_virtio_net fuzz_virtio_console fuzz_snapshot
# Beyond the devices: the kernel loaders' parsers, `run`'s argument parser, the port devices.
FUZZ_HOST := fuzz_loader fuzz_cli fuzz_ports
FUZZ_ALL := fuzz_virtqueue fuzz_qcow2 fuzz_api_request $(FUZZ_DEVICES) $(FUZZ_HOST)
fuzz: $(addprefix $(BUILD)/fuzz/,$(FUZZ_ALL))
# Every fuzz target briefly from its seeds (FUZZ_SECS each, default 8): part of make test.
fuzz-smoke: fuzz
	tests/fuzz/smoke.sh
print-fuzz-targets:
	@echo $(FUZZ_ALL)
FUZZ_LIB_OBJS := $(call obj,fuzzlib,$(VMM_LIB_SRCS))
$(BUILD)/fuzzlib/%.o: %.c
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -MMD -MP -Wall -Wextra -Werror \
		-Wno-gnu-variable-sized-type-not-at-end -Wno-unused-function \
		-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -c -o $@ $<
FUZZ_DEV_CC = clang $(FUZZ_CFLAGS) -Wall -Wextra -Werror -o $@ $< $(FUZZ_LIB_OBJS) $(LDLIBS)
# The device targets (tests/fuzz/fuzz_vdev.h) check every used element as the device pushes it.
FUZZ_VDEV_WRAP := -Wl,--wrap=vq_push
FUZZ_VDEV_CC = $(FUZZ_DEV_CC) $(FUZZ_VDEV_WRAP)
$(BUILD)/fuzz/fuzz_blk_raw_sync: tests/fuzz/fuzz_virtio_blk.c tests/fuzz/fuzz_vdev.h tests/unit/vdrv.h $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_VDEV_CC)
$(BUILD)/fuzz/fuzz_blk_raw_uring: tests/fuzz/fuzz_virtio_blk.c tests/fuzz/fuzz_vdev.h tests/unit/vdrv.h $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_VDEV_CC) -DFUZZ_URING
$(BUILD)/fuzz/fuzz_blk_qcow2_sync: tests/fuzz/fuzz_virtio_blk.c tests/fuzz/fuzz_vdev.h tests/unit/vdrv.h $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_VDEV_CC) -DFUZZ_QCOW2
$(BUILD)/fuzz/fuzz_blk_qcow2_uring: tests/fuzz/fuzz_virtio_blk.c tests/fuzz/fuzz_vdev.h tests/unit/vdrv.h $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_VDEV_CC) -DFUZZ_QCOW2 -DFUZZ_URING
$(BUILD)/fuzz/fuzz_virtio_net: tests/fuzz/fuzz_virtio_net.c tests/fuzz/fuzz_vdev.h tests/unit/vdrv.h $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_VDEV_CC)
$(BUILD)/fuzz/fuzz_virtio_console: tests/fuzz/fuzz_virtio_console.c tests/fuzz/fuzz_vdev.h tests/unit/vdrv.h $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_VDEV_CC)
$(addprefix $(BUILD)/fuzz/,$(FUZZ_HOST)): $(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_DEV_CC)
# The snapshot / migration stream reader and state loader on hostile bytes.
$(BUILD)/fuzz/fuzz_snapshot: tests/fuzz/fuzz_snapshot.c tests/unit/vdrv.h $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_DEV_CC)
$(BUILD)/fuzz/fuzz_qcow2: tests/fuzz/fuzz_qcow2.c $(QCOW2_SRCS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^ -lz -lzstd
# The control socket's framing, request checks and replies (no VM).
$(BUILD)/fuzz/fuzz_api_request: tests/fuzz/fuzz_api_request.c vmm/api_proto.c vmm/errmsg.c vmm/api_proto.h
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -Wall -Wextra -Werror -o $@ $(filter %.c,$^) -ljansson
$(BUILD)/fuzz/fuzz_virtqueue: tests/fuzz/fuzz_virtqueue.c virtio/queue.c vmm/memory.c vmm/state.c vmm/errmsg.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^ -lfdt

# Line-coverage builds of the fuzz targets (no sanitizer): tests/fuzz/campaign.sh replays a
# corpus through them for llvm-cov. Every target links the whole library here.
FUZZCOV_FLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fprofile-instr-generate -fcoverage-mapping
FUZZCOV_LIB_OBJS := $(call obj,fuzzcovlib,$(VMM_LIB_SRCS))
$(BUILD)/fuzzcovlib/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZCOV_FLAGS) -MMD -MP -fsanitize=fuzzer-no-link -c -o $@ $<
fuzzcov_src = tests/fuzz/$(if $(filter fuzz_blk_%,$(1)),fuzz_virtio_blk,$(1)).c
fuzzcov_defs = $(if $(findstring qcow2,$(1)),$(if $(filter fuzz_blk_%,$(1)),-DFUZZ_QCOW2)) \
	$(if $(findstring uring,$(1)),-DFUZZ_URING)
$(BUILD)/fuzzcov/%: $(FUZZCOV_LIB_OBJS) tests/fuzz/*.c tests/fuzz/*.h
	@mkdir -p $(dir $@)
	clang $(FUZZCOV_FLAGS) -fsanitize=fuzzer $(call fuzzcov_defs,$*) -o $@ \
		$(call fuzzcov_src,$*) $(FUZZCOV_LIB_OBJS) $(LDLIBS) \
		$(if $(filter fuzz_blk_% fuzz_virtio_net fuzz_virtio_console,$*),$(FUZZ_VDEV_WRAP))

$(BUILD)/blkpattern: tests/tools/blkpattern.c tests/guest/pattern.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -I. -o $@ $<

$(BUILD)/blk_bench: bench/blk_bench.c $(call obj,rel,$(VMM_LIB_SRCS))
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Live migration's data path host-side (bench/migrate_datapath.sh): no KVM.
$(BUILD)/mig_bench: bench/mig_bench.c $(call obj,rel,$(VMM_LIB_SRCS))
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

# KVM's dirty-logging interfaces side by side (bench/dirty_log.sh): KVM alone, no minivmm code.
$(BUILD)/dirty_log: bench/dirty_log.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -o $@ $<

# Drives block/qcow2 from the host for the tests; built with ASan/UBSan so that every qcow2
# test is also a sanitizer run.
$(BUILD)/mig_proxy: tests/tools/mig_proxy.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

$(BUILD)/qcow2io: tests/tools/qcow2io.c $(call obj,asan,$(QCOW2_SRCS))
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -o $@ $(filter %.c %.o,$^) -lz -lzstd

$(BUILD)/net_bench: bench/net_bench.c $(call obj,rel,$(VMM_LIB_SRCS))
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $^ $(LDLIBS)

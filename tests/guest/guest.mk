# The freestanding test guest: a bzImage (real-mode setup + 32/64-bit entries) and the same
# payload as an ELF with a PVH note. Compiled for what KVM's emulator can run in ring 0:
# general registers only (see ../shared/KVM-NOTES.md).
GUEST_DIR := tests/guest
GUEST_CC := gcc
GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-builtin -nostdlib \
	-fno-pic -fno-pie -fno-stack-protector -fno-asynchronous-unwind-tables -fcf-protection=none \
	-mno-red-zone -mgeneral-regs-only -mno-sse -mno-mmx -mno-80387 -mno-avx -mno-popcnt \
	-I$(GUEST_DIR)
GUEST_C_SRCS := $(wildcard $(GUEST_DIR)/*.c)
GUEST_C_SRCS := $(filter-out $(GUEST_DIR)/mkbzimage.c,$(GUEST_C_SRCS))
GUEST_OBJS := $(patsubst $(GUEST_DIR)/%.c,$(BUILD)/guest/%.o,$(GUEST_C_SRCS)) $(BUILD)/guest/head.o \
	$(BUILD)/guest/trampoline.o
GUEST_OUTPUTS := $(GUEST_DIR)/guest.bzImage $(GUEST_DIR)/guest.elf

guest: $(GUEST_OUTPUTS)

$(BUILD)/guest/%.o: $(GUEST_DIR)/%.c $(wildcard $(GUEST_DIR)/*.h)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guest/head.o: $(GUEST_DIR)/head.S $(GUEST_DIR)/longmode.h $(GUEST_DIR)/bootkind.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guest/trampoline.o: $(GUEST_DIR)/trampoline.S $(GUEST_DIR)/longmode.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guest/setup.o: $(GUEST_DIR)/setup.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) -c -o $@ $<

$(GUEST_DIR)/guest.elf: $(GUEST_OBJS) $(GUEST_DIR)/guest.ld
	$(GUEST_CC) $(GUEST_CFLAGS) -static -Wl,--build-id=none -Wl,-T,$(GUEST_DIR)/guest.ld \
		-Wl,-z,noexecstack -Wl,--no-warn-rwx-segments -o $@ $(GUEST_OBJS)

$(BUILD)/guest/setup.bin: $(BUILD)/guest/setup.o
	objcopy -O binary -j .setup $< $@

$(BUILD)/guest/payload.bin: $(GUEST_DIR)/guest.elf
	objcopy -O binary -R .bss -R .note.pvh $< $@

$(BUILD)/mkbzimage: $(GUEST_DIR)/mkbzimage.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $<

$(GUEST_DIR)/guest.bzImage: $(BUILD)/mkbzimage $(BUILD)/guest/setup.bin $(BUILD)/guest/payload.bin
	$(BUILD)/mkbzimage $(BUILD)/guest/setup.bin $(BUILD)/guest/payload.bin \
		$$(( 0x$$(nm $(GUEST_DIR)/guest.elf | awk '$$3 == "_end" {print $$1}') - 0x100000 )) $@

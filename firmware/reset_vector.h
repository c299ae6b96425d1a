/* The code a CPU finds at its reset vector. */
#ifndef MINIVMM_FIRMWARE_RESET_VECTOR_H
#define MINIVMM_FIRMWARE_RESET_VECTOR_H

#include "vmm/errmsg.h"
#include "vmm/memory.h"

#define RESET_VECTOR_ADDR 0xffff0ULL /* F000:FFF0 */

/* Puts a stub at the reset vector that does what a BIOS's POST ends in: a reset, here through
 * the i8042 (0xfe to port 0x64). Linux reaches it: on a hardware-reduced ACPI machine without
 * EFI its default reboot method is EFI, which falls through to a real-mode jump to F000:FFF0
 * (machine_real_restart), where there is no BIOS; Debian's stock kernel spun there forever on
 * `reboot -f`. */
int firmware_reset_vector(struct guest_mem *gm, struct errmsg *err)
	__attribute__((warn_unused_result));

#endif

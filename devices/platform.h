/* Small legacy platform devices: the i8042's reset line, the exit port (isa-debug-exit's
 * place) and the POST-code port. */
#ifndef MINIVMM_PLATFORM_H
#define MINIVMM_PLATFORM_H

#include "vmm/errmsg.h"

#define I8042_DATA_PORT 0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET 0xfe
#define EXIT_PORT 0xf4
#define POST_PORT 0x80

struct machine;

/* Registers the three on @vm's port bus. */
int platform_devices_setup(struct machine *m, struct errmsg *err) __attribute__((warn_unused_result));

#endif

/* Every scenario the test guest can run (scenario=NAME on its command line). */
#ifndef GUEST_SCENARIOS_H
#define GUEST_SCENARIOS_H

#include <stdbool.h>

/* scn_basic.c */
int scn_hello(void);
int scn_exit(void);
int scn_echo(void);
int scn_e820(void);
int scn_memtest(void);
int scn_initrd(void);
int scn_idle(void);
int scn_reboot(void);
int scn_triple_fault(void);
int scn_cmdline(void);
int scn_int3(void);
int scn_fwait(void);

/* scn_platform.c */
int scn_acpi(void);
int scn_smp(void);
int scn_poweroff(void);
int scn_acpi_reset(void);

/* scn_blk.c, scn_hostile.c */
int scn_blk_rw(void);
int scn_blk_ro(void);
int scn_blk_bounds(void);
int scn_blk_discard(void);
int scn_blk_hostile(void);
int scn_blk_slow(void);
int scn_console_stall(void);
int scn_storm(void);
int scn_serial_flood(void);

/* scn_net.c */
int scn_net_echo(void);
int scn_net_hostile(void);
/* scn_net.c's NIC for scenario=storm: up without receive buffers; then 16 posted, and how
 * many frames came into them. */
bool net_storm_open(void);
unsigned net_storm_receive(void);

/* scn_lifecycle.c */
int scn_ticker(void);
/* scn_state.c */
int scn_state(void);
/* scn_dirty.c */
int scn_dirty(void);

/* scn_console.c */
int scn_console(void);
int scn_console_flood(void);

#endif

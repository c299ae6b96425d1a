/* Application processors for scenarios that need a second CPU (scn_platform.c). */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include <stdbool.h>

/* Starts every other CPU the firmware tables list (INIT-SIPI-SIPI); each runs @work (if not
 * NULL) on its own stack after checking in, and halts when it returns. Returns how many
 * started, or -1 if not all did. @nr_cpus and @acpi (may be NULL): what the tables said. */
int smp_start(void (*work)(void), unsigned *nr_cpus, bool *acpi);

#endif

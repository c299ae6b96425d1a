/* Intel MultiProcessor Specification 1.4 tables: the fallback CPU/IRQ description for kernels
 * booted with --acpi off. Pure builder plus the address it goes to. */
#ifndef MINIVMM_MPTABLE_H
#define MINIVMM_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#define MPTABLE_ADDR 0xf0000ULL /* in the BIOS area the kernel scans, reserved in e820 */
#define MPTABLE_MAX_CPUS 254

/* Writes the floating pointer and the configuration table for @nr_cpus into @buf (for guest
 * address @base). Returns the bytes used, or -E2BIG/-EINVAL. */
int mptable_build(unsigned nr_cpus, uint64_t base, uint8_t *buf, size_t cap);

#endif

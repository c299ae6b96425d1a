/* One address-space bus type; each VM has two instances (port I/O and MMIO).
 *
 * Devices are registered during setup, before any vCPU runs; lookups after that are lock-free
 * because the table never changes while vCPUs dispatch into it. Devices do their own locking. */
#ifndef MINIVMM_BUS_H
#define MINIVMM_BUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vcpu;

/* @offset is relative to the device's base. Reads must fill all @len bytes of @data (the bus
 * zero-fills it beforehand, so a handler may fill only what it knows). */
typedef void (*bus_io_fn)(struct vcpu *vcpu, uint64_t offset, uint8_t *data, uint32_t len,
			  bool is_write, void *opaque);

struct bus_dev {
	uint64_t base;
	uint64_t len;
	bus_io_fn io;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name;        /* "pio" or "mmio", for messages */
	struct bus_dev *devs;    /* sorted by base, non-overlapping */
	size_t nr_devs;
	size_t cap;
	atomic_ulong unmapped;   /* count of accesses that hit no device */
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* Rejects zero length, wrap-around past the end of the 64-bit space and overlap with a
 * registered device (-EINVAL, -EOVERFLOW, -EEXIST). */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn io, void *opaque,
		 const char *name) __attribute__((warn_unused_result));

/* The device whose range holds all of [addr, addr+len), or NULL. */
const struct bus_dev *bus_find(const struct bus *bus, uint64_t addr, uint32_t len);

/* Routes one access. Reads of unmapped or partially mapped ranges return zeros; writes there are
 * dropped. Returns 0 if a device handled it, -ENOENT otherwise (the caller decides whether to
 * report; bus_should_report() rate-limits that). */
int bus_dispatch(struct bus *bus, struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
		 bool is_write);

/* True for the first few unmapped accesses and then for every 1024th, so a guest probing
 * ports in a loop cannot flood the log. */
bool bus_should_report(struct bus *bus);

#endif

#include "vmm/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	atomic_init(&bus->unmapped, 0);
}

void bus_destroy(struct bus *bus)
{
	free(bus->devs);
	bus->devs = NULL;
	bus->nr_devs = bus->cap = 0;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn io, void *opaque,
		 const char *name)
{
	size_t pos;

	if (len == 0 || !io)
		return -EINVAL;
	if (base + len - 1 < base)
		return -EOVERFLOW;
	for (pos = 0; pos < bus->nr_devs; pos++) {
		const struct bus_dev *d = &bus->devs[pos];

		if (base <= d->base + d->len - 1 && d->base <= base + len - 1)
			return -EEXIST;
		if (d->base > base)
			break;
	}
	if (bus->nr_devs == bus->cap) {
		size_t cap = bus->cap ? bus->cap * 2 : 8;
		struct bus_dev *devs = realloc(bus->devs, cap * sizeof(*devs));

		if (!devs)
			return -ENOMEM;
		bus->devs = devs;
		bus->cap = cap;
	}
	memmove(&bus->devs[pos + 1], &bus->devs[pos], (bus->nr_devs - pos) * sizeof(*bus->devs));
	bus->devs[pos] = (struct bus_dev){ base, len, io, opaque, name };
	bus->nr_devs++;
	return 0;
}

const struct bus_dev *bus_find(const struct bus *bus, uint64_t addr, uint32_t len)
{
	size_t lo = 0, hi = bus->nr_devs;

	if (len == 0 || addr + len - 1 < addr)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bus_dev *d = &bus->devs[mid];

		if (addr < d->base) {
			hi = mid;
		} else if (addr - d->base >= d->len) {
			lo = mid + 1;
		} else {
			/* addr is inside; the whole access must be too. */
			if (len > d->len - (addr - d->base))
				return NULL;
			return d;
		}
	}
	return NULL;
}

int bus_dispatch(struct bus *bus, struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
		 bool is_write)
{
	const struct bus_dev *d = bus_find(bus, addr, len);

	if (!is_write)
		memset(data, 0, len);
	if (!d) {
		atomic_fetch_add_explicit(&bus->unmapped, 1, memory_order_relaxed);
		return -ENOENT;
	}
	d->io(vcpu, addr - d->base, data, len, is_write, d->opaque);
	return 0;
}

bool bus_should_report(struct bus *bus)
{
	unsigned long n = atomic_load_explicit(&bus->unmapped, memory_order_relaxed);

	return n <= 8 || (n % 1024) == 0;
}

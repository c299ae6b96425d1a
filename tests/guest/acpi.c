#include "acpi.h"
#include "guest.h"

static uint8_t sum8(const void *p, uint64_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	for (uint64_t i = 0; i < n; i++)
		s = (uint8_t)(s + b[i]);
	return s;
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static const uint8_t *find_sig16(uint64_t from, uint64_t to, const char *sig, unsigned len)
{
	for (uint64_t a = from; a + len <= to; a += 16)
		if (!memcmp((const void *)a, sig, strlen(sig)) && sum8((const void *)a, len) == 0)
			return (const uint8_t *)a;
	return NULL;
}

/* A table at @addr with signature @sig and a valid checksum, or NULL (with a message). */
static const uint8_t *table(uint64_t addr, const char *sig, bool verbose)
{
	const uint8_t *t = (const uint8_t *)addr;
	uint32_t len;

	if (!addr || addr >= 0x100000000ULL) {
		printk("acpi: %s pointer 0x%lx out of reach\n", sig, addr);
		return NULL;
	}
	len = rd32(t + 4);
	if (memcmp(t, sig, 4) || len < 36 || len > (1 << 20)) {
		printk("acpi: no valid %s at 0x%lx\n", sig, addr);
		return NULL;
	}
	if (sum8(t, len)) {
		printk("acpi: %s checksum wrong\n", sig);
		return NULL;
	}
	if (verbose)
		printk("acpi: %s at 0x%lx, %u bytes, checksum ok\n", sig, addr, len);
	return t;
}

/* ---- a small AML walker: scopes, devices, names; enough to list devices and \_S5 ---- */

struct aml_cur {
	const uint8_t *p, *end;
};

static bool pkglen(struct aml_cur *c, const uint8_t **pkg_end)
{
	const uint8_t *start = c->p;
	unsigned n;
	uint32_t len;

	if (c->p >= c->end)
		return false;
	n = c->p[0] >> 6;
	len = n ? (c->p[0] & 0x0f) : (c->p[0] & 0x3f);
	if (c->p + 1 + n > c->end)
		return false;
	for (unsigned i = 0; i < n; i++)
		len |= (uint32_t)c->p[1 + i] << (4 + 8 * i);
	c->p += 1 + n;
	*pkg_end = start + len;
	return *pkg_end <= c->end && *pkg_end >= c->p;
}

/* Reads a NameString, leaving its last segment in @seg. */
static bool namestring(struct aml_cur *c, char seg[5])
{
	unsigned nsegs = 1;

	while (c->p < c->end && (*c->p == '\\' || *c->p == '^'))
		c->p++;
	if (c->p >= c->end)
		return false;
	if (*c->p == 0x00) {
		c->p++;
		seg[0] = 0;
		return true;
	}
	if (*c->p == 0x2e) {
		nsegs = 2;
		c->p++;
	} else if (*c->p == 0x2f) {
		if (c->p + 2 > c->end)
			return false;
		nsegs = c->p[1];
		c->p += 2;
	}
	if (c->p + 4 * nsegs > c->end)
		return false;
	memcpy(seg, c->p + 4 * (nsegs - 1), 4);
	seg[4] = 0;
	c->p += 4 * nsegs;
	return true;
}

static bool integer(struct aml_cur *c, uint64_t *v)
{
	unsigned n;

	if (c->p >= c->end)
		return false;
	switch (*c->p) {
	case 0x00: *v = 0; c->p++; return true;
	case 0x01: *v = 1; c->p++; return true;
	case 0xff: *v = ~0ULL; c->p++; return true;
	case 0x0a: n = 1; break;
	case 0x0b: n = 2; break;
	case 0x0c: n = 4; break;
	case 0x0e: n = 8; break;
	default: return false;
	}
	if (c->p + 1 + n > c->end)
		return false;
	*v = 0;
	for (unsigned i = 0; i < n; i++)
		*v |= (uint64_t)c->p[1 + i] << (8 * i);
	c->p += 1 + n;
	return true;
}

static void eisaid_to_str(uint32_t v, char out[9])
{
	static const char hex[] = "0123456789ABCDEF";

	v = __builtin_bswap32(v);
	out[0] = (char)('@' + ((v >> 26) & 0x1f));
	out[1] = (char)('@' + ((v >> 21) & 0x1f));
	out[2] = (char)('@' + ((v >> 16) & 0x1f));
	for (int i = 0; i < 4; i++)
		out[3 + i] = hex[(v >> (12 - 4 * i)) & 0xf];
	out[7] = 0;
}

static void parse_resources(const uint8_t *p, const uint8_t *end, struct plat_dev *d)
{
	while (p < end) {
		if (p[0] & 0x80) { /* large item */
			uint16_t len;

			if (p + 3 > end)
				return;
			len = rd16(p + 1);
			if (p + 3 + len > end)
				return;
			if (p[0] == 0x86 && len >= 9) {
				d->mem_base = rd32(p + 4);
				d->mem_len = rd32(p + 8);
			} else if (p[0] == 0x89 && len >= 6 && p[4] >= 1) {
				d->irq = (int)rd32(p + 5);
			}
			p += 3 + len;
		} else {
			unsigned len = p[0] & 7, type = (p[0] >> 3) & 0xf;

			if (type == 0xf)
				return; /* end tag */
			if (p + 1 + len > end)
				return;
			if (type == 0x8 && len >= 7)
				d->io_base = rd16(p + 2);
			else if (type == 0x4 && len >= 2) {
				uint16_t mask = rd16(p + 1);

				for (int i = 0; i < 16; i++)
					if (mask & (1 << i))
						d->irq = i;
			}
			p += 1 + len;
		}
	}
}

/* Value of a Name(): integers, strings (copied to @str), buffers (resources into @dev),
 * packages (first element into *@v). Skips what it does not understand by its length. */
static bool name_value(struct aml_cur *c, uint64_t *v, char *str, unsigned strcap,
		       struct plat_dev *dev, bool *is_int)
{
	const uint8_t *end;

	*is_int = false;
	if (c->p >= c->end)
		return false;
	if (integer(c, v)) {
		*is_int = true;
		return true;
	}
	switch (*c->p) {
	case 0x0d: { /* string */
		unsigned i = 0;

		c->p++;
		while (c->p < c->end && *c->p) {
			if (str && i + 1 < strcap)
				str[i++] = (char)*c->p;
			c->p++;
		}
		if (str)
			str[i] = 0;
		c->p++;
		return c->p <= c->end;
	}
	case 0x11: { /* buffer */
		uint64_t size;

		c->p++;
		if (!pkglen(c, &end) || !integer(c, &size))
			return false;
		if (dev)
			parse_resources(c->p, end, dev);
		c->p = end;
		return true;
	}
	case 0x12: { /* package: report the first element if it is an integer */
		struct aml_cur inner;

		c->p++;
		if (!pkglen(c, &end))
			return false;
		inner = (struct aml_cur){ c->p + 1, end };
		*is_int = integer(&inner, v);
		c->p = end;
		return true;
	}
	default:
		return false;
	}
}

static bool walk_terms(struct aml_cur c, struct platform *pl, struct plat_dev *dev, int depth)
{
	while (c.p < c.end) {
		uint8_t op = *c.p++;
		const uint8_t *end;
		char seg[5];

		if (depth > 8)
			return false;
		if (op == 0x10 || (op == 0x5b && c.p < c.end && *c.p == 0x82)) {
			bool is_dev = op == 0x5b;
			struct aml_cur inner;

			if (is_dev)
				c.p++;
			if (!pkglen(&c, &end))
				return false;
			inner = (struct aml_cur){ c.p, end };
			if (!namestring(&inner, seg))
				return false;
			if (is_dev && pl->nr_devs < PLAT_MAX_DEVS) {
				struct plat_dev *d = &pl->devs[pl->nr_devs++];

				memset(d, 0, sizeof(*d));
				memcpy(d->name, seg, 5);
				d->irq = -1;
				if (!walk_terms(inner, pl, d, depth + 1))
					return false;
			} else if (!walk_terms(inner, pl, dev, depth + 1)) {
				return false;
			}
			c.p = end;
		} else if (op == 0x08) {
			uint64_t v = 0;
			bool is_int;
			char str[9] = "";

			if (!namestring(&c, seg))
				return false;
			if (!name_value(&c, &v, str, sizeof(str),
					dev && !memcmp(seg, "_CRS", 4) ? dev : NULL, &is_int))
				return false;
			if (dev && !memcmp(seg, "_HID", 4)) {
				if (is_int)
					eisaid_to_str((uint32_t)v, dev->hid);
				else
					memcpy(dev->hid, str, sizeof(dev->hid));
			}
			if (!dev && !memcmp(seg, "_S5_", 4) && is_int)
				pl->s5_typ = (int)v;
		} else if (op == 0x5b && c.p < c.end && *c.p == 0x80) {
			/* OperationRegion: a SystemIO region is where the device's registers are
			 * (the GED's event status) when it has no I/O resource. */
			uint64_t off, len;
			uint8_t space;

			c.p++;
			if (!namestring(&c, seg) || c.p >= c.end)
				return false;
			space = *c.p++;
			if (!integer(&c, &off) || !integer(&c, &len))
				return false;
			if (dev && space == 1 && !dev->io_base)
				dev->io_base = (uint32_t)off;
		} else if (op == 0x5b && c.p < c.end && *c.p == 0x81) { /* Field: skip */
			c.p++;
			if (!pkglen(&c, &end))
				return false;
			c.p = end;
		} else if (op == 0x14) { /* Method: skip */
			if (!pkglen(&c, &end))
				return false;
			c.p = end;
		} else {
			printk("acpi: AML opcode 0x%x not understood, stopping the walk\n", op);
			return true;
		}
	}
	return true;
}

static bool from_acpi(struct platform *p, const uint8_t *rsdp, bool verbose)
{
	const uint8_t *xsdt, *madt = NULL, *fadt = NULL, *dsdt;
	uint32_t n;

	if (rsdp[15] < 2 || sum8(rsdp, rd32(rsdp + 20)) != 0) {
		printk("acpi: RSDP revision %u or extended checksum wrong\n", rsdp[15]);
		return false;
	}
	if (verbose)
		printk("acpi: RSDP at %p, revision %u, checksums ok\n", (const void *)rsdp, rsdp[15]);
	xsdt = table(rd64(rsdp + 24), "XSDT", verbose);
	if (!xsdt)
		return false;
	n = (rd32(xsdt + 4) - 36) / 8;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = rd64(xsdt + 36 + 8 * i);
		const uint8_t *t = (const uint8_t *)a;

		if (!memcmp(t, "APIC", 4))
			madt = table(a, "APIC", verbose);
		else if (!memcmp(t, "FACP", 4))
			fadt = table(a, "FACP", verbose);
		else
			table(a, (const char *)t, verbose);
	}
	if (!madt || !fadt) {
		printk("acpi: MADT or FADT missing\n");
		return false;
	}
	for (const uint8_t *e = madt + 44; e + 2 <= madt + rd32(madt + 4) && e[1]; e += e[1]) {
		if (e[0] == 0 && (rd32(e + 4) & 1) && p->nr_cpus < PLAT_MAX_CPUS)
			p->apic_ids[p->nr_cpus++] = e[3];
		else if (e[0] == 9 && (rd32(e + 8) & 1) && p->nr_cpus < PLAT_MAX_CPUS)
			p->apic_ids[p->nr_cpus++] = rd32(e + 4);
	}
	p->hw_reduced = rd32(fadt + 112) & (1U << 20);
	p->reset_supported = rd32(fadt + 112) & (1U << 10);
	if (fadt[116] == 1)
		p->reset_port = (uint16_t)rd64(fadt + 120);
	p->reset_value = fadt[128];
	p->pm1a_cnt_port = (uint16_t)rd32(fadt + 64);
	if (rd32(fadt + 4) >= 256 && fadt[244] == 1)
		p->sleep_ctl_port = (uint16_t)rd64(fadt + 248);
	dsdt = table(rd32(fadt + 4) >= 148 && rd64(fadt + 140) ? rd64(fadt + 140) : rd32(fadt + 40),
		     "DSDT", verbose);
	if (!dsdt)
		return false;
	return walk_terms((struct aml_cur){ dsdt + 36, dsdt + rd32(dsdt + 4) }, p, NULL, 0);
}

static bool from_mptable(struct platform *p, bool verbose)
{
	const uint8_t *mpf = find_sig16(0xf0000, 0x100000, "_MP_", 16), *mpc, *e;
	uint16_t len, count;

	if (!mpf)
		mpf = find_sig16(0x9fc00, 0xa0000, "_MP_", 16);
	if (!mpf) {
		printk("mptable: none found\n");
		return false;
	}
	mpc = (const uint8_t *)(uint64_t)rd32(mpf + 4);
	len = rd16(mpc + 4);
	if (memcmp(mpc, "PCMP", 4) || sum8(mpc, len)) {
		printk("mptable: configuration table missing or checksum wrong\n");
		return false;
	}
	if (verbose)
		printk("mptable: at %p, %u bytes, checksums ok\n", (const void *)mpc, len);
	count = rd16(mpc + 34);
	e = mpc + 44;
	for (unsigned i = 0; i < count && e < mpc + len; i++) {
		if (e[0] == 0) {
			if ((e[3] & 1) && p->nr_cpus < PLAT_MAX_CPUS)
				p->apic_ids[p->nr_cpus++] = e[1];
			e += 20;
		} else {
			e += 8;
		}
	}
	return true;
}

bool platform_discover(struct platform *p, bool verbose)
{
	const uint8_t *rsdp;

	memset(p, 0, sizeof(*p));
	p->s5_typ = -1;
	rsdp = bootinfo.rsdp ? (const uint8_t *)bootinfo.rsdp : NULL;
	if (rsdp && (memcmp(rsdp, "RSD PTR ", 8) || sum8(rsdp, 20))) {
		printk("acpi: boot_params RSDP at %p is invalid\n", (const void *)rsdp);
		return false;
	}
	if (!rsdp)
		rsdp = find_sig16(0xe0000, 0x100000, "RSD PTR ", 20);
	if (rsdp) {
		p->acpi = true;
		return from_acpi(p, rsdp, verbose);
	}
	return from_mptable(p, verbose);
}

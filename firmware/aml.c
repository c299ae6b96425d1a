#include "firmware/aml.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82 /* after the ExtOpPrefix */
#define AML_OP_REGION_OP 0x80 /* after the ExtOpPrefix */
#define AML_FIELD_OP 0x81 /* after the ExtOpPrefix */
#define AML_METHOD_OP 0x14
#define AML_LOCAL0_OP 0x60
#define AML_STORE_OP 0x70
#define AML_AND_OP 0x7b
#define AML_NOTIFY_OP 0x86
#define AML_IF_OP 0xa0
#define AML_NULL_NAME 0x00
#define AML_ROOT_CHAR '\\'
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f

#define AML_PKGLEN_MAX 0x0fffffff

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->data);
	aml_init(a);
}

int aml_error(const struct aml *a)
{
	return a->error;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->error || n == 0)
		return;
	if (a->len + n > a->cap) {
		size_t cap = a->cap ? a->cap : 64;
		uint8_t *d;

		while (cap < a->len + n)
			cap *= 2;
		d = realloc(a->data, cap);
		if (!d) {
			a->error = -ENOMEM;
			return;
		}
		a->data = d;
		a->cap = cap;
	}
	memcpy(a->data + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

void aml_append(struct aml *a, const struct aml *b)
{
	if (b->error && !a->error)
		a->error = b->error;
	aml_bytes(a, b->data, b->len);
}

int aml_pkglen_encode(size_t body_len, uint8_t out[4])
{
	size_t total;
	int n;

	/* The length counts the PkgLength bytes themselves: pick the smallest encoding that
	 * can express body + its own size. One byte holds 6 bits; more bytes hold 4 + 8k bits. */
	if (body_len + 1 <= 0x3f) {
		out[0] = (uint8_t)(body_len + 1);
		return 1;
	}
	for (n = 2; n <= 4; n++) {
		total = body_len + (size_t)n;
		if (total < (1UL << (4 + 8 * (n - 1))))
			break;
	}
	if (n > 4)
		return -EINVAL;
	out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
	for (int i = 1; i < n; i++)
		out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	return n;
}

static void aml_pkg_wrap(struct aml *a, const uint8_t *op, size_t op_len, const struct aml *body)
{
	uint8_t pl[4];
	int n = aml_pkglen_encode(body->len, pl);

	if (n < 0) {
		a->error = n;
		return;
	}
	aml_bytes(a, op, op_len);
	aml_bytes(a, pl, (size_t)n);
	aml_append(a, body);
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t b[9];
	size_t n;

	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
		return;
	}
	if (v == 1) {
		aml_byte(a, AML_ONE_OP);
		return;
	}
	if (v <= 0xff) {
		b[0] = AML_BYTE_PREFIX;
		n = 1;
	} else if (v <= 0xffff) {
		b[0] = AML_WORD_PREFIX;
		n = 2;
	} else if (v <= 0xffffffffULL) {
		b[0] = AML_DWORD_PREFIX;
		n = 4;
	} else {
		b[0] = AML_QWORD_PREFIX;
		n = 8;
	}
	for (size_t i = 0; i < n; i++)
		b[1 + i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, n + 1);
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x01 || (unsigned char)*p > 0x7f) {
			a->error = -EINVAL;
			return;
		}
	}
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

/* One NameSeg: leading character A-Z or '_', then A-Z, 0-9 or '_', padded with '_'. */
static int aml_nameseg(struct aml *a, const char *s, size_t len)
{
	char seg[4] = { '_', '_', '_', '_' };

	if (len == 0 || len > 4 || !(isupper((unsigned char)s[0]) || s[0] == '_'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!(isupper((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return -EINVAL;
		seg[i] = s[i];
	}
	aml_bytes(a, seg, 4);
	return 0;
}

void aml_namestring(struct aml *a, const char *name)
{
	const char *p = name;
	unsigned nsegs = 1;

	if (*p == AML_ROOT_CHAR) {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	}
	for (const char *q = p; *q; q++)
		nsegs += *q == '.';
	if (nsegs == 2)
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	else if (nsegs > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nsegs);
	}
	while (1) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (aml_nameseg(a, p, len)) {
			a->error = -EINVAL;
			return;
		}
		if (!dot)
			break;
		p = dot + 1;
	}
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v;

	/* Three letters (5 bits each, 'A' = 1) then four hex digits, stored big-endian. */
	if (strlen(id) != 7) {
		a->error = -EINVAL;
		return;
	}
	for (int i = 0; i < 3; i++)
		if (!isupper((unsigned char)id[i]))
			a->error = -EINVAL;
	for (int i = 3; i < 7; i++)
		if (!isxdigit((unsigned char)id[i]))
			a->error = -EINVAL;
	if (a->error)
		return;
	v = (uint32_t)(id[0] - 0x40) << 26 | (uint32_t)(id[1] - 0x40) << 21 |
	    (uint32_t)(id[2] - 0x40) << 16 | (uint32_t)strtoul(id + 3, NULL, 16);
	/* The value is byte-swapped: the compressed id reads in order in memory. */
	v = __builtin_bswap32(v);
	aml_byte(a, AML_DWORD_PREFIX);
	aml_bytes(a, &v, 4);
}

void aml_name(struct aml *a, const char *name, const struct aml *value)
{
	aml_byte(a, AML_NAME_OP);
	aml_namestring(a, name);
	aml_append(a, value);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_byte(a, AML_NAME_OP);
	aml_namestring(a, name);
	aml_integer(a, v);
}

void aml_name_string(struct aml *a, const char *name, const char *s)
{
	aml_byte(a, AML_NAME_OP);
	aml_namestring(a, name);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_byte(a, AML_NAME_OP);
	aml_namestring(a, name);
	aml_eisaid(a, id);
}

static void aml_named_pkg(struct aml *a, const uint8_t *op, size_t op_len, const char *name,
			  const struct aml *body)
{
	struct aml inner;

	aml_init(&inner);
	aml_namestring(&inner, name);
	aml_append(&inner, body);
	aml_pkg_wrap(a, op, op_len, &inner);
	if (inner.error && !a->error)
		a->error = inner.error;
	aml_free(&inner);
}

void aml_scope(struct aml *a, const char *name, const struct aml *body)
{
	static const uint8_t op[] = { AML_SCOPE_OP };

	aml_named_pkg(a, op, sizeof(op), name, body);
}

void aml_device(struct aml *a, const char *name, const struct aml *body)
{
	static const uint8_t op[] = { AML_EXT_OP_PREFIX, AML_DEVICE_OP };

	aml_named_pkg(a, op, sizeof(op), name, body);
}

void aml_package(struct aml *a, unsigned count, const struct aml *elements)
{
	static const uint8_t op[] = { AML_PACKAGE_OP };
	struct aml inner;

	if (count > 255) {
		a->error = -EINVAL;
		return;
	}
	aml_init(&inner);
	aml_byte(&inner, (uint8_t)count);
	aml_append(&inner, elements);
	aml_pkg_wrap(a, op, sizeof(op), &inner);
	aml_free(&inner);
}

void aml_buffer(struct aml *a, const void *bytes, size_t len)
{
	static const uint8_t op[] = { AML_BUFFER_OP };
	struct aml inner;

	aml_init(&inner);
	aml_integer(&inner, len);
	aml_bytes(&inner, bytes, len);
	aml_pkg_wrap(a, op, sizeof(op), &inner);
	if (inner.error && !a->error)
		a->error = inner.error;
	aml_free(&inner);
}

void aml_res_io(struct aml *r, uint16_t base, uint8_t len)
{
	/* Small item 0x08 (I/O port), 7 bytes: decode16, min, max, alignment, length. */
	uint8_t d[8] = { 0x47, 0x01, (uint8_t)base, (uint8_t)(base >> 8), (uint8_t)base,
			 (uint8_t)(base >> 8), 0x01, len };

	aml_bytes(r, d, sizeof(d));
}

void aml_res_irq_noflags(struct aml *r, uint8_t irq)
{
	/* Small item 0x04 (IRQ), 2 bytes: the mask; edge, active high, exclusive implied. */
	uint16_t mask = (uint16_t)(1U << (irq & 15));
	uint8_t d[3] = { 0x22, (uint8_t)mask, (uint8_t)(mask >> 8) };

	if (irq > 15)
		r->error = -EINVAL;
	aml_bytes(r, d, sizeof(d));
}

void aml_res_memory32_fixed(struct aml *r, uint32_t base, uint32_t len, int writable)
{
	/* Large item 0x06 (32-bit fixed memory), 9 bytes of data. */
	uint8_t d[12] = { 0x86, 9, 0, writable ? 1 : 0 };

	memcpy(d + 4, &base, 4);
	memcpy(d + 8, &len, 4);
	aml_bytes(r, d, sizeof(d));
}

void aml_res_interrupt(struct aml *r, uint32_t gsi, int level, int active_low)
{
	/* Large item 0x09 (extended interrupt): flags (consumer, mode, polarity, exclusive),
	 * one interrupt number. */
	uint8_t d[9] = { 0x89, 6, 0,
			 (uint8_t)(0x01 | (level ? 0 : 0x02) | (active_low ? 0x04 : 0)), 1 };

	memcpy(d + 5, &gsi, 4);
	aml_bytes(r, d, sizeof(d));
}

void aml_resource_template(struct aml *a, const struct aml *descriptors)
{
	struct aml body;
	static const uint8_t end_tag[2] = { 0x79, 0x00 }; /* checksum 0: "treat as correct" */

	aml_init(&body);
	aml_append(&body, descriptors);
	aml_bytes(&body, end_tag, sizeof(end_tag));
	aml_buffer(a, body.data, body.len);
	if (body.error && !a->error)
		a->error = body.error;
	aml_free(&body);
}

void aml_method(struct aml *a, const char *name, unsigned nargs, int serialized,
		const struct aml *body)
{
	static const uint8_t op[] = { AML_METHOD_OP };
	struct aml inner;

	if (nargs > 7) {
		a->error = -EINVAL;
		return;
	}
	aml_init(&inner);
	aml_namestring(&inner, name);
	/* MethodFlags: ArgCount in bits 0-2, SerializeFlag in bit 3, SyncLevel 0. */
	aml_byte(&inner, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
	aml_append(&inner, body);
	aml_pkg_wrap(a, op, sizeof(op), &inner);
	if (inner.error && !a->error)
		a->error = inner.error;
	aml_free(&inner);
}

void aml_operation_region(struct aml *a, const char *name, uint8_t space, uint64_t offset,
			  uint64_t len)
{
	static const uint8_t op[] = { AML_EXT_OP_PREFIX, AML_OP_REGION_OP };

	aml_bytes(a, op, sizeof(op));
	aml_namestring(a, name);
	aml_byte(a, space);
	aml_integer(a, offset);
	aml_integer(a, len);
}

void aml_field(struct aml *a, const char *region, uint8_t flags, const char *name,
	       unsigned bits)
{
	static const uint8_t op[] = { AML_EXT_OP_PREFIX, AML_FIELD_OP };
	struct aml inner;

	aml_init(&inner);
	aml_namestring(&inner, region);
	aml_byte(&inner, flags);
	/* NamedField: a NameSeg, then the width in bits in PkgLength's encoding — but the raw
	 * value, not counting its own bytes as a package length does. */
	if (aml_nameseg(&inner, name, strlen(name)) || bits == 0 || bits > 0xfff)
		inner.error = -EINVAL;
	else if (bits <= 0x3f)
		aml_byte(&inner, (uint8_t)bits);
	else
		aml_bytes(&inner, (uint8_t[]){ (uint8_t)(0x40 | (bits & 0x0f)), (uint8_t)(bits >> 4) },
			  2);
	aml_pkg_wrap(a, op, sizeof(op), &inner);
	if (inner.error && !a->error)
		a->error = inner.error;
	aml_free(&inner);
}

void aml_local(struct aml *a, unsigned n)
{
	if (n > 7) {
		a->error = -EINVAL;
		return;
	}
	aml_byte(a, (uint8_t)(AML_LOCAL0_OP + n));
}

void aml_store(struct aml *a, const struct aml *src, const struct aml *dst)
{
	aml_byte(a, AML_STORE_OP);
	aml_append(a, src);
	aml_append(a, dst);
}

void aml_and(struct aml *a, const struct aml *x, const struct aml *y)
{
	aml_byte(a, AML_AND_OP);
	aml_append(a, x);
	aml_append(a, y);
	aml_byte(a, AML_NULL_NAME);
}

void aml_if(struct aml *a, const struct aml *predicate, const struct aml *body)
{
	static const uint8_t op[] = { AML_IF_OP };
	struct aml inner;

	aml_init(&inner);
	aml_append(&inner, predicate);
	aml_append(&inner, body);
	aml_pkg_wrap(a, op, sizeof(op), &inner);
	aml_free(&inner);
}

void aml_notify(struct aml *a, const char *object, uint64_t value)
{
	aml_byte(a, AML_NOTIFY_OP);
	aml_namestring(a, object);
	aml_integer(a, value);
}

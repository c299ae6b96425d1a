#include "vmm/state.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

static int put_err(int r)
{
	return r == 0 ? 0 : r == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
}

int state_put_u32(void *fdt, int node, const char *name, uint32_t v)
{
	return put_err(fdt_setprop_u32(fdt, node, name, v));
}

int state_put_u64(void *fdt, int node, const char *name, uint64_t v)
{
	return put_err(fdt_setprop_u64(fdt, node, name, v));
}

int state_put_blob(void *fdt, int node, const char *name, const void *p, size_t len)
{
	if (len > INT32_MAX)
		return -EINVAL;
	return put_err(fdt_setprop(fdt, node, name, p, (int)len));
}

int state_add_node(void *fdt, int parent, const char *name)
{
	int node = fdt_add_subnode(fdt, parent, name);

	return node >= 0 ? node : put_err(node);
}

static const char *node_name(const void *fdt, int node)
{
	const char *n = fdt_get_name(fdt, node, NULL);

	return n && *n ? n : "/";
}

static const void *get(const void *fdt, int node, const char *name, size_t want_min,
		       size_t want_max, size_t *got, struct errmsg *err)
{
	int len;
	const void *p = fdt_getprop(fdt, node, name, &len);

	if (!p) {
		errmsg_set(err, -EINVAL, "state node %s: no property %s", node_name(fdt, node), name);
		return NULL;
	}
	if ((size_t)len < want_min || (size_t)len > want_max) {
		if (want_min == want_max)
			errmsg_set(err, -EINVAL, "state node %s: property %s is %d bytes, expected %zu",
				   node_name(fdt, node), name, len, want_min);
		else
			errmsg_set(err, -EINVAL, "state node %s: property %s is %d bytes, at most %zu",
				   node_name(fdt, node), name, len, want_max);
		return NULL;
	}
	*got = (size_t)len;
	return p;
}

int state_get_u32(const void *fdt, int node, const char *name, uint32_t *v, struct errmsg *err)
{
	size_t len;
	const void *p = get(fdt, node, name, 4, 4, &len, err);
	fdt32_t raw;

	if (!p)
		return -EINVAL;
	memcpy(&raw, p, 4);
	*v = fdt32_to_cpu(raw);
	return 0;
}

int state_get_u64(const void *fdt, int node, const char *name, uint64_t *v, struct errmsg *err)
{
	size_t len;
	const void *p = get(fdt, node, name, 8, 8, &len, err);
	fdt64_t raw;

	if (!p)
		return -EINVAL;
	memcpy(&raw, p, 8);
	*v = fdt64_to_cpu(raw);
	return 0;
}

int state_get_u16(const void *fdt, int node, const char *name, uint16_t *v, struct errmsg *err)
{
	uint32_t w;
	int ret = state_get_u32(fdt, node, name, &w, err);

	if (ret)
		return ret;
	if (w > UINT16_MAX)
		return errmsg_set(err, -EINVAL, "state node %s: property %s is %u, at most 65535",
				  node_name(fdt, node), name, w);
	*v = (uint16_t)w;
	return 0;
}

int state_get_bool(const void *fdt, int node, const char *name, bool *v, struct errmsg *err)
{
	uint32_t w;
	int ret = state_get_u32(fdt, node, name, &w, err);

	if (ret)
		return ret;
	if (w > 1)
		return errmsg_set(err, -EINVAL, "state node %s: property %s is %u, not 0 or 1",
				  node_name(fdt, node), name, w);
	*v = w;
	return 0;
}

int state_get_blob(const void *fdt, int node, const char *name, void *p, size_t len,
		   struct errmsg *err)
{
	size_t got;
	const void *src = get(fdt, node, name, len, len, &got, err);

	if (!src)
		return -EINVAL;
	memcpy(p, src, len);
	return 0;
}

int state_get_var(const void *fdt, int node, const char *name, const void **p, size_t *len,
		  size_t max, struct errmsg *err)
{
	*p = get(fdt, node, name, 0, max, len, err);
	return *p ? 0 : -EINVAL;
}

int state_node(const void *fdt, int parent, const char *name, struct errmsg *err)
{
	int node = fdt_subnode_offset(fdt, parent, name);

	if (node < 0)
		return errmsg_set(err, -EINVAL, "state node %s: no subnode %s", node_name(fdt, parent),
				  name);
	return node;
}

/* The longest property name a state tree may have (ours are short words). libfdt finds a
 * property's name by searching for its NUL up to the end of the strings block, for every
 * property it looks at: a tree of many properties naming one long string took minutes to
 * check (fdt_check_full() alone, about 75 s for 16 MiB). */
#define STATE_MAX_NAME 255

/* The strings block lies in the blob and is a list of NUL-terminated names of at most
 * STATE_MAX_NAME bytes. */
static bool strings_are_names(const void *fdt, size_t len)
{
	const char *s = (const char *)fdt + fdt_off_dt_strings(fdt);
	size_t size = fdt_size_dt_strings(fdt), run = 0;

	if (fdt_off_dt_strings(fdt) > len || size > len - fdt_off_dt_strings(fdt))
		return false;
	for (size_t i = 0; i < size; i++)
		if (!s[i])
			run = 0;
		else if (++run > STATE_MAX_NAME)
			return false;
	return run == 0;
}

int state_check(const void *fdt, size_t len, struct errmsg *err)
{
	int r;

	if (len < sizeof(struct fdt_header) || len > INT32_MAX)
		return errmsg_set(err, -EINVAL, "state blob of %zu bytes is not a device tree", len);
	/* Only the version we write (libfdt's sequential-write trees are version 17). libfdt
	 * 1.6.1's fdt_check_full() reads through a NULL pointer on some trees that claim an old
	 * version (found by fuzz_snapshot: a hostile snapshot or migration stream crashed the
	 * reader); such versions have no size fields for it to check against anyway. */
	if (fdt_magic(fdt) != FDT_MAGIC || fdt_version(fdt) != 17 || fdt_last_comp_version(fdt) != 16)
		return errmsg_set(err, -EINVAL, "state blob is not a well-formed device tree: magic 0x%x, version %u, compatible down to %u (minivmm writes and reads version 17)",
				  fdt_magic(fdt), fdt_version(fdt), fdt_last_comp_version(fdt));
	if (!strings_are_names(fdt, len))
		return errmsg_set(err, -EINVAL, "state blob's strings block (%u bytes at %u) is not a list of property names of at most %d bytes",
				  fdt_size_dt_strings(fdt), fdt_off_dt_strings(fdt), STATE_MAX_NAME);
	r = fdt_check_full(fdt, len);
	if (r)
		return errmsg_set(err, -EINVAL, "state blob is not a well-formed device tree: %s",
				  fdt_strerror(r));
	return 0;
}

int state_build(int (*fill)(void *fdt, void *arg), void *arg, size_t max, void **out,
		size_t *len)
{
	for (size_t cap = 64 * 1024; cap <= max; cap *= 2) {
		void *fdt = malloc(cap);
		int ret;

		if (!fdt)
			return -ENOMEM;
		ret = fdt_create_empty_tree(fdt, (int)cap) ? -EINVAL : fill(fdt, arg);
		if (ret == -ENOSPC) {
			free(fdt);
			continue;
		}
		if (ret) {
			free(fdt);
			return ret;
		}
		fdt_pack(fdt);
		*out = fdt;
		*len = fdt_totalsize(fdt);
		return 0;
	}
	return -E2BIG;
}

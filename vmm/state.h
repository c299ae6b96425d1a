/* Saved state as a flattened device tree (libfdt): a node per vCPU or device, a property per
 * field, numbers big-endian as FDT cells are. The readers treat the tree as hostile: a
 * property must exist and have exactly the size asked for, and an error names the node and the
 * property. Call state_check() (fdt_check_full) on a blob before any reader. */
#ifndef MINIVMM_STATE_H
#define MINIVMM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/errmsg.h"

/* Writers: 0, or -ENOSPC when the blob is full (the caller grows it and starts again). */
int state_put_u32(void *fdt, int node, const char *name, uint32_t v);
int state_put_u64(void *fdt, int node, const char *name, uint64_t v);
int state_put_blob(void *fdt, int node, const char *name, const void *p, size_t len);
/* A subnode; its offset or -ENOSPC. */
int state_add_node(void *fdt, int parent, const char *name);

int state_get_u32(const void *fdt, int node, const char *name, uint32_t *v, struct errmsg *err);
int state_get_u64(const void *fdt, int node, const char *name, uint64_t *v, struct errmsg *err);
int state_get_u16(const void *fdt, int node, const char *name, uint16_t *v, struct errmsg *err);
int state_get_bool(const void *fdt, int node, const char *name, bool *v, struct errmsg *err);
/* Exactly @len bytes. */
int state_get_blob(const void *fdt, int node, const char *name, void *p, size_t len,
		   struct errmsg *err);
/* Any length up to @max; *@len gets it. */
int state_get_var(const void *fdt, int node, const char *name, const void **p, size_t *len,
		  size_t max, struct errmsg *err);
/* The subnode @name of @parent, or an error naming it. */
int state_node(const void *fdt, int parent, const char *name, struct errmsg *err);

/* Builds a tree: calls @fill on an empty one, again on a bigger one while it says -ENOSPC (so
 * @fill must only encode, not gather), up to @max bytes; *@out is malloc'd and packed. */
int state_build(int (*fill)(void *fdt, void *arg), void *arg, size_t max, void **out,
		size_t *len) __attribute__((warn_unused_result));

/* fdt_check_full over @len bytes: a blob that is not a well-formed tree is refused whole. */
int state_check(const void *fdt, size_t len, struct errmsg *err);

#endif

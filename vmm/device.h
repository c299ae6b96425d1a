/* One small interface for every device of a VM, and the VM's one list of them.
 *
 * Pause quiesces a device: when it returns, the device writes no more guest memory and raises
 * no more interrupts, and work in flight is finished (a disk's requests completed and flushed);
 * it is idempotent. Resume undoes it. Save writes the device's state as properties of an FDT
 * node; load reads them back into a device built from the same configuration, checking every
 * value as if a guest had written it. Reset is the machine's reset. Destroy frees it.
 * Every operation is optional (a device without state has no save/load); all run on the I/O
 * thread, with the vCPUs parked for pause/save/load/reset. */
#ifndef MINIVMM_DEVICE_H
#define MINIVMM_DEVICE_H

#include <stdbool.h>

#include "vmm/errmsg.h"

struct dev_ops {
	const char *kind;   /* "uart", "virtio-blk", ... */
	int (*pause)(void *dev);
	void (*resume)(void *dev);
	int (*save)(void *dev, void *fdt, int node);
	int (*load)(void *dev, const void *fdt, int node, struct errmsg *err);
	void (*reset)(void *dev);
	void (*destroy)(void *dev);
	/* What the device is, as properties: its configuration and backend (a disk's format and
	 * size, a NIC's MAC), what a restore must match and what `status` shows. */
	int (*describe)(void *dev, void *fdt, int node);
};

#define DEV_MAX 32
#define DEV_NAME_MAX 40

struct dev {
	const struct dev_ops *ops;
	void *priv;
	char name[DEV_NAME_MAX];   /* unique; the FDT node name, e.g. "virtio@d0000000" */
};

struct dev_list {
	struct dev devs[DEV_MAX];
	unsigned n;
	bool paused;
};

/* @name must be unique in the list (-EEXIST) and at most DEV_NAME_MAX - 1 characters. */
int dev_list_add(struct dev_list *l, const struct dev_ops *ops, void *priv, const char *name)
	__attribute__((warn_unused_result));
/* Pauses every device; if one fails, the ones paused are resumed and its error returned. */
int dev_list_pause(struct dev_list *l) __attribute__((warn_unused_result));
void dev_list_resume(struct dev_list *l);
/* One subnode of @parent per device that has state, named after it. */
int dev_list_save(struct dev_list *l, void *fdt, int parent) __attribute__((warn_unused_result));
/* Every device with state must find its node, and no node may be left over. */
int dev_list_load(struct dev_list *l, const void *fdt, int parent, struct errmsg *err)
	__attribute__((warn_unused_result));
void dev_list_reset(struct dev_list *l);
/* One subnode of @parent per device: its kind and what describe() says. */
int dev_list_describe(struct dev_list *l, void *fdt, int parent) __attribute__((warn_unused_result));
/* Destroys in reverse order of addition and empties the list. */
void dev_list_destroy(struct dev_list *l);

#endif

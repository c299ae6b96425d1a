#include "vmm/device.h"

#include <errno.h>
#include <string.h>

#include <libfdt.h>

int dev_list_add(struct dev_list *l, const struct dev_ops *ops, void *priv, const char *name)
{
	if (l->n >= DEV_MAX)
		return -ENOSPC;
	if (strlen(name) >= DEV_NAME_MAX)
		return -ENAMETOOLONG;
	for (unsigned i = 0; i < l->n; i++)
		if (!strcmp(l->devs[i].name, name))
			return -EEXIST;
	l->devs[l->n] = (struct dev){ ops, priv, "" };
	strcpy(l->devs[l->n].name, name);
	l->n++;
	return 0;
}

int dev_list_pause(struct dev_list *l)
{
	int ret = 0;
	unsigned i;

	if (l->paused)
		return 0;
	for (i = 0; i < l->n && !ret; i++)
		if (l->devs[i].ops->pause)
			ret = l->devs[i].ops->pause(l->devs[i].priv);
	if (ret) {
		/* i - 1 failed; resume the ones before it */
		for (unsigned j = i - 1; j-- > 0;)
			if (l->devs[j].ops->resume)
				l->devs[j].ops->resume(l->devs[j].priv);
		return ret;
	}
	l->paused = true;
	return 0;
}

void dev_list_resume(struct dev_list *l)
{
	if (!l->paused)
		return;
	for (unsigned i = 0; i < l->n; i++)
		if (l->devs[i].ops->resume)
			l->devs[i].ops->resume(l->devs[i].priv);
	l->paused = false;
}

int dev_list_save(struct dev_list *l, void *fdt, int parent)
{
	for (unsigned i = 0; i < l->n; i++) {
		const struct dev *d = &l->devs[i];
		int node, ret;

		if (!d->ops->save)
			continue;
		node = fdt_add_subnode(fdt, parent, d->name);
		if (node < 0)
			return node == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
		ret = fdt_setprop_string(fdt, node, "kind", d->ops->kind);
		if (ret)
			return ret == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
		ret = d->ops->save(d->priv, fdt, node);
		if (ret)
			return ret;
	}
	return 0;
}

int dev_list_load(struct dev_list *l, const void *fdt, int parent, struct errmsg *err)
{
	unsigned expected = 0, found = 0;
	int node;

	for (unsigned i = 0; i < l->n; i++) {
		const struct dev *d = &l->devs[i];
		const char *kind;
		int len, ret;

		if (!d->ops->load)
			continue;
		expected++;
		node = fdt_subnode_offset(fdt, parent, d->name);
		if (node < 0)
			return errmsg_set(err, -EINVAL, "no state for device %s", d->name);
		kind = fdt_getprop(fdt, node, "kind", &len);
		if (!kind || len < 1 || kind[len - 1] != '\0' || strcmp(kind, d->ops->kind))
			return errmsg_set(err, -EINVAL, "device %s: state is for a different kind of device",
					  d->name);
		ret = d->ops->load(d->priv, fdt, node, err);
		if (ret)
			return errmsg_prefix(err, ret, "device %s", d->name);
	}
	fdt_for_each_subnode(node, fdt, parent)
		found++;
	if (found != expected)
		return errmsg_set(err, -EINVAL, "state holds %u devices, this VM has %u", found, expected);
	return 0;
}

int dev_list_describe(struct dev_list *l, void *fdt, int parent)
{
	for (unsigned i = 0; i < l->n; i++) {
		const struct dev *d = &l->devs[i];
		int node = fdt_add_subnode(fdt, parent, d->name), ret;

		if (node < 0)
			return node == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
		ret = fdt_setprop_string(fdt, node, "kind", d->ops->kind);
		if (ret)
			return ret == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
		if (d->ops->describe && (ret = d->ops->describe(d->priv, fdt, node)))
			return ret;
	}
	return 0;
}

void dev_list_reset(struct dev_list *l)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->devs[i].ops->reset)
			l->devs[i].ops->reset(l->devs[i].priv);
}

void dev_list_destroy(struct dev_list *l)
{
	while (l->n) {
		struct dev *d = &l->devs[--l->n];

		if (d->ops->destroy)
			d->ops->destroy(d->priv);
	}
	l->paused = false;
}

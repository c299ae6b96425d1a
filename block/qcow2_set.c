/* qcow2 layer 0: the cluster index set (open addressing, linear probing, grown at 50% load). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_set.h"

static size_t set_slot(const struct qcow2_cluster_set *s, uint64_t key)
{
	uint64_t h = (key + 1) * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 17) & (s->cap - 1);
}

static int set_grow(struct qcow2_cluster_set *s)
{
	struct qcow2_cluster_set n = { .cap = s->cap ? s->cap * 2 : 64 };

	n.key = calloc(n.cap, sizeof(*n.key));
	if (!n.key)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		if (s->key[i]) {
			size_t j = set_slot(&n, s->key[i] - 1);

			while (n.key[j])
				j = (j + 1) & (n.cap - 1);
			n.key[j] = s->key[i];
			n.count++;
		}
	}
	free(s->key);
	*s = n;
	return 0;
}

int qcow2_set_add(struct qcow2_cluster_set *s, uint64_t key)
{
	size_t i;

	if ((s->count + 1) * 2 > s->cap) {
		int ret = set_grow(s);

		if (ret)
			return ret;
	}
	for (i = set_slot(s, key); s->key[i]; i = (i + 1) & (s->cap - 1))
		if (s->key[i] == key + 1)
			return 0;
	s->key[i] = key + 1;
	s->count++;
	return 0;
}

bool qcow2_set_has(const struct qcow2_cluster_set *s, uint64_t key)
{
	if (!s->cap)
		return false;
	for (size_t i = set_slot(s, key); s->key[i]; i = (i + 1) & (s->cap - 1))
		if (s->key[i] == key + 1)
			return true;
	return false;
}

void qcow2_set_del(struct qcow2_cluster_set *s, uint64_t key)
{
	size_t i;

	if (!s->cap)
		return;
	for (i = set_slot(s, key); s->key[i]; i = (i + 1) & (s->cap - 1))
		if (s->key[i] == key + 1)
			break;
	if (!s->key[i])
		return;
	s->key[i] = 0;
	s->count--;
	/* Re-insert the rest of the probe run so lookups still find them. */
	for (size_t j = (i + 1) & (s->cap - 1); s->key[j]; j = (j + 1) & (s->cap - 1)) {
		uint64_t k = s->key[j];
		size_t t;

		s->key[j] = 0;
		for (t = set_slot(s, k - 1); s->key[t]; t = (t + 1) & (s->cap - 1))
			;
		s->key[t] = k;
	}
}

void qcow2_set_free(struct qcow2_cluster_set *s)
{
	free(s->key);
	memset(s, 0, sizeof(*s));
}

/* qcow2 layer 0: a set of cluster indices (the metadata clusters a data write must never land
 * on). Open addressing with linear probing, grown at 50% load. Knows nothing of the format.
 * Private to block/qcow2*.c (the layers: docs/architecture.md, tests/unit/layering.sh). */
#ifndef MINIVMM_BLOCK_QCOW2_SET_H
#define MINIVMM_BLOCK_QCOW2_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qcow2_cluster_set {
	uint64_t *key;               /* key + 1 stored; 0 = empty */
	size_t cap, count;
};

int qcow2_set_add(struct qcow2_cluster_set *s, uint64_t key);
bool qcow2_set_has(const struct qcow2_cluster_set *s, uint64_t key);
void qcow2_set_del(struct qcow2_cluster_set *s, uint64_t key);
void qcow2_set_free(struct qcow2_cluster_set *s);

#endif

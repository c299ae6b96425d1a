/* Live migration, the destination side: `minivmm run [the source's device flags] --incoming
 * URI`. */
#ifndef MINIVMM_INCOMING_H
#define MINIVMM_INCOMING_H

#include "vmm/errmsg.h"

struct vm;

/* During vm_create(), after the vCPUs exist and before any runs (as a restore): waits for one
 * source on @uri, receives the stream (the configuration checked field by field before any
 * RAM, every section checked, the state applied only after END), then sends the
 * confirmation. Any failure: -errno with @err naming it, and the VM must not run. */
int vm_incoming(struct vm *vm, const char *uri, struct errmsg *err)
	__attribute__((warn_unused_result));

#endif

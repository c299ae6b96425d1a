/* The control socket (--api-socket PATH): a unix stream socket on the VM's event loop, one
 * JSON request per line, one reply line per request, and event lines for clients that asked
 * (vmm/api_proto.h has the protocol; docs/api.md the commands). Everything here runs on the
 * I/O thread; nothing a client sends can stop or stall the VM: a bad line gets an error reply,
 * a client that misbehaves (floods, never reads) is dropped. */
#ifndef MINIVMM_API_H
#define MINIVMM_API_H

#include "vmm/errmsg.h"

#define API_MAX_CLIENTS 16
/* Replies and events a client has not read yet; past this it is dropped. */
#define API_MAX_PENDING_OUT (1024 * 1024)

struct vm;
struct api;

/* Creates the socket at @path (mode 0600) and adds it to @vm's event loop. Refuses a @path
 * that exists and is not a socket, or a socket something is listening on; replaces a stale
 * socket (nobody listening). */
int api_start(struct vm *vm, const char *path, struct api **out, struct errmsg *err)
	__attribute__((warn_unused_result));

/* The VM has stopped: tells event subscribers why, flushes what clients have pending. */
void api_vm_stopped(struct api *api);

/* Closes every client and the socket, and removes the socket file if it is still ours. */
void api_destroy(struct api *api);

#endif

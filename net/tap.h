/* Tap backend: /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (and IFF_MULTI_QUEUE for
 * several queue pairs), or an inherited descriptor. Knows no virtqueue. */
#ifndef MINIVMM_NET_TAP_H
#define MINIVMM_NET_TAP_H

#include <stdbool.h>

#include "vmm/errmsg.h"

/* Creates or attaches to tap @name with @queues descriptors in @fds (nonblocking). */
int tap_open(const char *name, unsigned queues, int *fds, struct errmsg *err)
	__attribute__((warn_unused_result));
/* Checks that @fd is a tap with IFF_NO_PI and IFF_VNET_HDR and makes it nonblocking. */
int tap_adopt_fd(int fd, struct errmsg *err) __attribute__((warn_unused_result));
/* Sets the vnet header length the tap reads and writes in front of each frame. */
int tap_set_vnet_hdr_len(int fd, int len);
/* TUN_F_* offloads the guest can take (checksum, TSO4/6). */
int tap_set_offload(int fd, unsigned flags);
/* Attaches or detaches one queue of a multiqueue tap (TUNSETQUEUE: no capability needed).
 * A detached queue gets no frames; tun spreads them over the attached ones. */
int tap_set_queue(int fd, bool attached);

#endif

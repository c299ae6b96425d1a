/* virtio-net on a tap device: VERSION_1, MAC, STATUS, MRG_RXBUF, CSUM/GUEST_CSUM, HOST_TSO4/6 and
 * GUEST_TSO4/6 through the vnet header, MQ with a control queue, EVENT_IDX. */
#ifndef MINIVMM_VIRTIO_NET_H
#define MINIVMM_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vmm/errmsg.h"

#define NET_MAX_PAIRS 4

/* Where frames come from and go to: the tap (net/tap.c) unless a configuration names other ops.
 * Tests and fuzzers stand a socketpair in for the tap this way. */
struct net_backend_ops {
	/* Reads one frame, vnet header first, into @iov. Returns the frame's whole length even when
	 * it did not fit (tun does that: a short buffer truncates the copy, not the count), or -1
	 * with errno (EAGAIN: nothing waiting). */
	ssize_t (*read)(int fd, const struct iovec *iov, int cnt);
	ssize_t (*write)(int fd, const struct iovec *iov, int cnt);
	/* TUN_F_* offloads the guest negotiated. */
	int (*set_offload)(int fd, unsigned flags);
	/* Optional, for several pairs: whether the backend sends frames to pair @fd at all. */
	int (*set_queue)(int fd, bool attached);
};

struct net_config {
	const char *tap;         /* tap=NAME, or NULL with fd= */
	int fd;                  /* fd=N (inherited), -1 with tap= */
	bool has_mac;
	uint8_t mac[6];
	unsigned pairs;          /* queue pairs (num_queues / 2) */
	unsigned index;          /* which --net this is (default MAC) */
	/* Not from the command line: frames through @backend on @backend_fds (one per pair,
	 * nonblocking, closed with the device) instead of a tap. */
	const struct net_backend_ops *backend;
	int backend_fds[NET_MAX_PAIRS];
};

struct machine;
struct virtio_net;

/* In virtio-mmio slot @slot; the machine's device list owns it from then on. */
int virtio_net_create(struct machine *m, unsigned slot, const struct net_config *cfg,
		      struct virtio_net **out, struct errmsg *err)
	__attribute__((warn_unused_result));
void virtio_net_destroy(struct virtio_net *n);

/* Sends three RARP broadcasts from the NIC's MAC out of its backend (what QEMU's self-announce
 * sends): a VM that now runs on this host (migrated, restored) is learnt on its new switch
 * port before it sends anything itself. 0 or -errno. */
int virtio_net_announce(struct virtio_net *n) __attribute__((warn_unused_result));

/* The MAC a configuration gets without mac=: 52:54:00 and 3 bytes of a hash of the backend
 * and the device's position, so the same command line gives the same address. */
void net_default_mac(const struct net_config *cfg, uint8_t mac[6]);

#endif

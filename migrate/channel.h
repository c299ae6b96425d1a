/* Where a migration goes: "tcp:HOST:PORT" or "unix:PATH", parsed without touching the network
 * (unit-tested), and the one connection each side makes. */
#ifndef MINIVMM_CHANNEL_H
#define MINIVMM_CHANNEL_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/un.h>

#include "vmm/errmsg.h"

enum channel_kind { CHANNEL_TCP, CHANNEL_UNIX };

struct channel_uri {
	enum channel_kind kind;
	char host[256];            /* tcp: a numeric address; "[v6]" without brackets */
	char port[8];              /* tcp: 1-65535, as given */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix */
};

/* Checks and splits @uri; @err names what is wrong with it. */
int channel_uri_parse(const char *uri, struct channel_uri *out, struct errmsg *err)
	__attribute__((warn_unused_result));

/* Destination: listens on @uri, accepts one connection (blocking), closes the listener (a
 * unix socket file is removed again). The accepted socket in *@fd. Gives up with -EINTR when
 * @abort_fd (a signalfd, or -1) becomes readable: the signals that stop a VM are blocked and
 * arrive only there. @ready (or NULL) goes to stderr once the listener is up. */
int channel_accept(const struct channel_uri *uri, int abort_fd, const char *ready, int *fd,
		   struct errmsg *err)
	__attribute__((warn_unused_result));

/* A send that moves no byte for this long fails with -EAGAIN: a destination that stopped
 * reading (hung, or a peer that trickles) fails the migration instead of holding the
 * source, and its vCPU throttle, for ever. */
#define CHANNEL_SEND_TIMEOUT_S 30

/* A destination that receives no byte for this long gives up: a source that stopped sending
 * without closing (gone with its host, or hostile) must not hold it for ever. Longer than
 * anything a source does between two sections (flushing its disks before the final state). */
#define CHANNEL_RECV_TIMEOUT_S 120

/* Source: connects to @uri (blocking). */
int channel_connect(const struct channel_uri *uri, int *fd, struct errmsg *err)
	__attribute__((warn_unused_result));

/* Bytes written to the connection @fd that the peer has not taken yet (SIOCOUTQ: TCP's
 * unsent and unacknowledged bytes, a unix socket's unread ones). */
int channel_unsent(int fd, uint64_t *bytes) __attribute__((warn_unused_result));

/* Waits until at most @below bytes are unsent on @fd, for up to @timeout_ms, polling every
 * millisecond; gives up early with -ECANCELED once *@cancel is set. What is left in *@unsent;
 * 0 (also on the timeout: the caller weighs what is left) or -errno. */
int channel_drain(int fd, uint64_t below, int timeout_ms, const atomic_bool *cancel,
		  uint64_t *unsent) __attribute__((warn_unused_result));

#endif

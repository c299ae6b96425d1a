/* Migration URIs and connections: see migrate/channel.h. */
#include "migrate/channel.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vmm/parse.h"

int channel_uri_parse(const char *uri, struct channel_uri *out, struct errmsg *err)
{
	const char *colon, *host;
	size_t hlen;
	uint64_t port;

	memset(out, 0, sizeof(*out));
	if (!strncmp(uri, "unix:", 5)) {
		size_t n = strlen(uri + 5);

		if (!n || n >= sizeof(out->path))
			return errmsg_set(err, -EINVAL, "%s: the socket path must be 1 to %zu bytes",
					  uri, sizeof(out->path) - 1);
		out->kind = CHANNEL_UNIX;
		memcpy(out->path, uri + 5, n + 1);
		return 0;
	}
	if (strncmp(uri, "tcp:", 4))
		return errmsg_set(err, -EINVAL, "%s: expected tcp:HOST:PORT or unix:PATH", uri);
	host = uri + 4;
	colon = strrchr(host, ':');
	if (!colon)
		return errmsg_set(err, -EINVAL, "%s: no port (tcp:HOST:PORT)", uri);
	hlen = (size_t)(colon - host);
	/* [::1]:port: the brackets say where the address ends; a bare v6 address would not. */
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	} else if (memchr(host, ':', hlen)) {
		return errmsg_set(err, -EINVAL, "%s: an IPv6 address goes in brackets: tcp:[ADDR]:PORT",
				  uri);
	}
	if (!hlen || hlen >= sizeof(out->host))
		return errmsg_set(err, -EINVAL, "%s: the host must be 1 to %zu characters", uri,
				  sizeof(out->host) - 1);
	if (parse_uint(colon + 1, 1, 65535, &port))
		return errmsg_set(err, -EINVAL, "%s: port '%s' is not 1 to 65535", uri, colon + 1);
	out->kind = CHANNEL_TCP;
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	snprintf(out->port, sizeof(out->port), "%u", (unsigned)port);
	return 0;
}

static void describe(const struct channel_uri *u, char *buf, size_t n)
{
	if (u->kind == CHANNEL_UNIX)
		snprintf(buf, n, "unix:%s", u->path);
	else
		snprintf(buf, n, "tcp:%s:%s", u->host, u->port);
}

static void unix_addr(const struct channel_uri *u, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(sa->sun_path, u->path, strlen(u->path) + 1);
}

/* Large socket buffers: RAM goes in 8 MiB sections, and a small buffer makes each send wait
 * for the peer's reads. TCP_NODELAY: the confirmation and the last sections are small. A
 * send timeout (CHANNEL_SEND_TIMEOUT_S). */
static void tune(int fd, enum channel_kind kind)
{
	struct timeval send_timeout = { CHANNEL_SEND_TIMEOUT_S, 0 };
	int one = 1, buf = 4 << 20;

	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (kind == CHANNEL_TCP)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Numeric addresses only: the binary is static, and glibc's name lookup would load NSS
 * modules at run time from whatever glibc the host has. */
static int tcp_addr(const struct channel_uri *u, struct sockaddr_storage *ss, socklen_t *len,
		    struct errmsg *err)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	uint16_t port = htons((uint16_t)atoi(u->port));

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, u->host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = port;
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, u->host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = port;
		*len = sizeof(*v6);
		return 0;
	}
	return errmsg_set(err, -EINVAL, "tcp:%s:%s: not a numeric IPv4 or IPv6 address", u->host,
			  u->port);
}

int channel_accept(const struct channel_uri *u, int abort_fd, const char *ready, int *fd,
		   struct errmsg *err)
{
	char name[sizeof(u->host) + sizeof(u->port) + sizeof(u->path) + 8];
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct sockaddr_un sa;
	int lfd = -1, ret = 0, one = 1;

	describe(u, name, sizeof(name));
	*fd = -1;
	if (u->kind == CHANNEL_UNIX) {
		unix_addr(u, &sa);
		lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		/* A socket file left by an earlier run nobody listens on any more. */
		if (lfd >= 0)
			(void)unlink(u->path);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			ret = -errno;
	} else {
		ret = tcp_addr(u, &ss, &sslen, err);
		if (ret)
			return ret;
		lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (lfd >= 0)
			(void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, sslen) < 0)
			ret = -errno;
	}
	if (!ret && listen(lfd, 1) < 0)
		ret = -errno;
	if (ret) {
		if (lfd >= 0)
			close(lfd);
		return errmsg_set(err, ret, "%s: cannot listen: %s", name, strerror(-ret));
	}
	/* Only now: whoever waits for the line may connect at once. */
	if (ready)
		fprintf(stderr, "%s\n", ready);
	for (;;) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
				       { .fd = abort_fd, .events = POLLIN } };

		if (poll(p, abort_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (abort_fd >= 0 && p[1].revents) {
			ret = -EINTR;
			break;
		}
		*fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (*fd >= 0 || (errno != EINTR && errno != ECONNABORTED)) {
			ret = *fd < 0 ? -errno : 0;
			break;
		}
	}
	close(lfd);
	if (u->kind == CHANNEL_UNIX)
		(void)unlink(u->path);
	if (ret)
		return errmsg_set(err, ret, "%s: %s", name,
				  ret == -EINTR ? "interrupted while waiting for the source" : strerror(-ret));
	tune(*fd, u->kind);
	return 0;
}

int channel_connect(const struct channel_uri *u, int *fd, struct errmsg *err)
{
	char name[sizeof(u->host) + sizeof(u->port) + sizeof(u->path) + 8];
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct sockaddr_un sa;
	int ret;

	describe(u, name, sizeof(name));
	*fd = -1;
	if (u->kind == CHANNEL_UNIX) {
		unix_addr(u, &sa);
		*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ret = *fd < 0 || connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	} else {
		ret = tcp_addr(u, &ss, &sslen, err);
		if (ret)
			return ret;
		*fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ret = *fd < 0 || connect(*fd, (struct sockaddr *)&ss, sslen) < 0 ? -errno : 0;
	}
	if (ret) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return errmsg_set(err, ret, "%s: cannot connect: %s", name, strerror(-ret));
	}
	tune(*fd, u->kind);
	return 0;
}

int channel_unsent(int fd, uint64_t *bytes)
{
	int n;

	if (ioctl(fd, SIOCOUTQ, &n) < 0)
		return -errno;
	*bytes = n > 0 ? (uint64_t)n : 0;
	return 0;
}

int channel_drain(int fd, uint64_t below, int timeout_ms, const atomic_bool *cancel,
		  uint64_t *unsent)
{
	const struct timespec ms = { 0, 1000000 };
	int ret;

	for (int waited = 0;; waited++) {
		if ((ret = channel_unsent(fd, unsent)))
			return ret;
		if (*unsent <= below || waited >= timeout_ms)
			return 0;
		if (atomic_load(cancel))
			return -ECANCELED;
		nanosleep(&ms, NULL);
	}
}

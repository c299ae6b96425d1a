#include "net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

int tap_open(const char *name, unsigned queues, int *fds, struct errmsg *err)
{
	struct ifreq ifr;
	unsigned i;
	int ret;

	if (strlen(name) >= IFNAMSIZ)
		return errmsg_set(err, -ENAMETOOLONG, "--net tap=%s: name longer than %d characters",
				  name, IFNAMSIZ - 1);
	for (i = 0; i < queues; i++) {
		fds[i] = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
		if (fds[i] < 0) {
			ret = errmsg_set(err, -errno, "--net tap=%s: /dev/net/tun: %s", name,
					 strerror(errno));
			goto fail;
		}
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0);
		if (ioctl(fds[i], TUNSETIFF, &ifr) < 0) {
			ret = errmsg_set(err, -errno, "--net tap=%s: TUNSETIFF: %s%s", name,
					 strerror(errno),
					 errno == EPERM ? " (needs CAP_NET_ADMIN, or pass a tap with fd=N)" :
					 errno == EINVAL ? " (exists with other flags, e.g. single- vs multi-queue)" :
					 errno == EBUSY ? " (in use by another process)" : "");
			close(fds[i]);
			goto fail;
		}
	}
	return 0;
fail:
	while (i--)
		close(fds[i]);
	return ret;
}

int tap_adopt_fd(int fd, struct errmsg *err)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return errmsg_set(err, -errno, "--net fd=%d: not a tap device (%s)", fd, strerror(errno));
	if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP)
		return errmsg_set(err, -EINVAL, "--net fd=%d: a tun device, not a tap", fd);
	if (!(ifr.ifr_flags & IFF_NO_PI) || !(ifr.ifr_flags & IFF_VNET_HDR))
		return errmsg_set(err, -EINVAL,
				  "--net fd=%d: the tap must be opened with IFF_NO_PI and IFF_VNET_HDR", fd);
	if (set_nonblock(fd) < 0)
		return errmsg_set(err, -errno, "--net fd=%d: %s", fd, strerror(errno));
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return errmsg_set(err, -errno, "--net fd=%d: %s", fd, strerror(errno));
	return 0;
}

int tap_set_vnet_hdr_len(int fd, int len)
{
	return ioctl(fd, TUNSETVNETHDRSZ, &len) < 0 ? -errno : 0;
}

int tap_set_offload(int fd, unsigned flags)
{
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}

int tap_set_queue(int fd, bool attached)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = attached ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	return ioctl(fd, TUNSETQUEUE, &ifr) < 0 ? -errno : 0;
}

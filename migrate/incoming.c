/* Live migration, the destination side: see migrate/incoming.h. */
#include "migrate/incoming.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migrate/channel.h"
#include "migrate/disk_stream.h"
#include "migrate/migrate.h"
#include "migrate/snapshot.h"
#include "migrate/stream.h"
#include "vmm/vm.h"

/* Tells the source it may resume (MIGRATE_REFUSED), then reads what it still sends for a
 * moment before closing: closing with unread data resets the connection, and a reset can
 * discard the refusal on its way; a source that gets neither the refusal nor an end of file
 * must assume this side runs the VM. Best effort: the source copes with silence. */
static void refuse(int fd)
{
	const uint8_t refused = MIGRATE_REFUSED;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t sink[4096];

	if (send(fd, &refused, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
		return;
	shutdown(fd, SHUT_WR);
	/* A source waiting for the answer closes at once; one still sending pre-copy does not
	 * read it, and is cut off after a few reads (its send fails: it resumes anyway). */
	for (int i = 0; i < 8 && poll(&p, 1, 100) > 0; i++)
		if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
}

int vm_incoming(struct vm *vm, const char *uri, struct errmsg *err)
{
	const uint8_t confirm = MIGRATE_CONFIRM;
	char ready[sizeof(struct channel_uri) + 64];
	struct channel_uri u;
	struct stream_reader r;
	double t0;
	int fd, ret;

	ret = channel_uri_parse(uri, &u, err);
	if (ret)
		return errmsg_prefix(err, ret, "--incoming");
	/* Tests and orchestration wait for this line (a tcp port has no file to wait for): it
	 * comes once the listener is up. */
	snprintf(ready, sizeof(ready), "minivmm: waiting for a migration on %s", uri);
	ret = channel_accept(&u, vm->signal_ev.fd, ready, &fd, err);
	if (ret)
		return errmsg_prefix(err, ret, "--incoming");
	t0 = vm_elapsed_ms(vm);
	stream_reader_init(&r, fd, "migration stream");
	stream_reader_watch(&r, vm->signal_ev.fd, CHANNEL_RECV_TIMEOUT_S * 1000);
	/* Not whole_file: the connection stays open for the confirmation. */
	ret = vm_receive_stream(vm, &r, false, err);
	/* Copied disks (disks=copy) stable before the source lets its VM go. */
	ret = ret ? ret : disk_stream_finish(vm, err);
	/* The source gave its image locks up before sending the final state (copied disks
	 * were taken when their copy began). */
	ret = ret ? ret : vm_disks_activate(vm, err);
	/* Only once everything is applied: the source stops for good when it reads this. A
	 * source that is gone by now has resumed its VM (or will): this one must not run. */
	if (!ret && send(fd, &confirm, 1, MSG_NOSIGNAL) != 1)
		ret = errmsg_set(err, -errno, "sending the confirmation: %s (the source keeps the VM)",
				 strerror(errno));
	else if (ret)
		refuse(fd);
	close(fd);
	if (ret)
		return errmsg_prefix(err, ret, "--incoming %s", uri);
	fprintf(stderr, "minivmm: migration received: %llu bytes in %.0f ms; the VM runs here now\n",
		(unsigned long long)r.offset, vm_elapsed_ms(vm) - t0);
	return 0;
}

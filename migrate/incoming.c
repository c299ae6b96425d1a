/* Live migration, the destination side: see migrate/incoming.h. */
#include "migrate/incoming.h"

#include <errno.h>
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

int vm_incoming(struct vm *vm, const char *uri, struct errmsg *err)
{
	const uint8_t confirm = MIGRATE_CONFIRM;
	struct channel_uri u;
	struct stream_reader r;
	double t0;
	int fd, ret;

	ret = channel_uri_parse(uri, &u, err);
	if (ret)
		return errmsg_prefix(err, ret, "--incoming");
	/* Tests and orchestration wait for this line (a tcp port has no file to wait for). */
	fprintf(stderr, "minivmm: waiting for a migration on %s\n", uri);
	ret = channel_accept(&u, vm->signal_ev.fd, &fd, err);
	if (ret)
		return errmsg_prefix(err, ret, "--incoming");
	t0 = vm_elapsed_ms(vm);
	stream_reader_init(&r, fd, "migration stream");
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
	close(fd);
	if (ret)
		return errmsg_prefix(err, ret, "--incoming %s", uri);
	fprintf(stderr, "minivmm: migration received: %llu bytes in %.0f ms; the VM runs here now\n",
		(unsigned long long)r.offset, vm_elapsed_ms(vm) - t0);
	return 0;
}

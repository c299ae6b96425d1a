/* Live migration's pieces that need no KVM: the URI syntax and when pre-copy stops. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "migrate/channel.h"
#include "migrate/converge.h"
#include "migrate/throttle.h"
#include "tests/unit/unit.h"

START_TEST(uris)
{
	struct channel_uri u;
	struct errmsg err = { "" };

	ck_assert_int_eq(channel_uri_parse("tcp:127.0.0.1:4444", &u, &err), 0);
	ck_assert_int_eq(u.kind, CHANNEL_TCP);
	ck_assert_str_eq(u.host, "127.0.0.1");
	ck_assert_str_eq(u.port, "4444");
	ck_assert_int_eq(channel_uri_parse("tcp:[::1]:1", &u, &err), 0);
	ck_assert_str_eq(u.host, "::1");
	ck_assert_int_eq(channel_uri_parse("unix:/run/m.sock", &u, &err), 0);
	ck_assert_int_eq(u.kind, CHANNEL_UNIX);
	ck_assert_str_eq(u.path, "/run/m.sock");
	ck_assert_int_eq(channel_uri_parse("tcp:10.0.0.1:0", &u, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "port '0'"));
	ck_assert_int_eq(channel_uri_parse("tcp:10.0.0.1:65536", &u, &err), -EINVAL);
	ck_assert_int_eq(channel_uri_parse("tcp:10.0.0.1:", &u, &err), -EINVAL);
	ck_assert_int_eq(channel_uri_parse("tcp:10.0.0.1", &u, &err), -EINVAL);
	ck_assert_int_eq(channel_uri_parse("tcp::80", &u, &err), -EINVAL);
	ck_assert_int_eq(channel_uri_parse("tcp:::1:80", &u, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "brackets"));
	ck_assert_int_eq(channel_uri_parse("unix:", &u, &err), -EINVAL);
	ck_assert_int_eq(channel_uri_parse("http://x", &u, &err), -EINVAL);
	ck_assert_int_eq(channel_uri_parse("tcp:1.2.3.4:80x", &u, &err), -EINVAL);
	{
		char longpath[200] = "unix:";

		memset(longpath + 5, 'a', 150);
		ck_assert_int_eq(channel_uri_parse(longpath, &u, &err), -EINVAL);
	}
}
END_TEST

static void *connector(void *arg)
{
	struct channel_uri *u = arg;
	struct errmsg err;
	int fd = -1;

	/* The listener may not be there yet. */
	for (int i = 0; i < 200 && channel_connect(u, &fd, &err); i++)
		usleep(5000);
	if (fd >= 0) {
		ck_assert_int_eq(write(fd, "x", 1), 1);
		close(fd);
	}
	return NULL;
}

START_TEST(accept_connect_and_abort)
{
	struct channel_uri u;
	struct errmsg err = { "" };
	char uri[64];
	pthread_t t;
	int fd, efd = eventfd(0, EFD_CLOEXEC);
	uint64_t one = 1;
	char c;

	snprintf(uri, sizeof(uri), "unix:/tmp/minivmm-chan.%d", (int)getpid());
	ck_assert_int_eq(channel_uri_parse(uri, &u, &err), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, connector, &u), 0);
	ck_assert_msg(channel_accept(&u, efd, NULL, &fd, &err) == 0, "%s", err.text);
	ck_assert_int_eq(read(fd, &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	close(fd);
	pthread_join(t, NULL);
	ck_assert_int_ne(access(u.path, F_OK), 0); /* the socket file is gone again */
	/* A stop signal (the signalfd readable) ends the wait. */
	ck_assert_int_eq(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	ck_assert_int_eq(channel_accept(&u, efd, NULL, &fd, &err), -EINTR);
	ck_assert_ptr_nonnull(strstr(err.text, "interrupted"));
	close(efd);
}
END_TEST

/* What a connection still holds before the pause is downtime too: the unsent count follows
 * what the peer has not read, a drain waits for it to fall, gives up after its timeout with
 * what is left, and stops at a cancel. */
START_TEST(send_queue_drains)
{
	static char buf[32768];
	atomic_bool cancel = false;
	uint64_t unsent = 0;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(channel_unsent(sv[0], &unsent), 0);
	ck_assert_uint_eq(unsent, 0);
	ck_assert_int_eq(write(sv[0], buf, sizeof(buf)), (ssize_t)sizeof(buf));
	ck_assert_int_eq(channel_unsent(sv[0], &unsent), 0);
	ck_assert_uint_ge(unsent, sizeof(buf));
	ck_assert_int_eq(channel_drain(sv[0], 0, 20, &cancel, &unsent), 0); /* timed out */
	ck_assert_uint_ge(unsent, sizeof(buf));
	cancel = true;
	ck_assert_int_eq(channel_drain(sv[0], 0, 20, &cancel, &unsent), -ECANCELED);
	cancel = false;
	for (size_t got = 0; got < sizeof(buf);) {
		ssize_t n = read(sv[1], buf, sizeof(buf) - got);

		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert_int_eq(channel_drain(sv[0], 0, 1000, &cancel, &unsent), 0);
	ck_assert_uint_eq(unsent, 0);
	ck_assert_int_eq(channel_unsent(-1, &unsent), -EBADF);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(convergence)
{
	struct converge_in in = { .remaining = 10 << 20, .bandwidth = 0, .downtime_ms = 50,
				  .iteration = 1, .max_iterations = 30 };
	double ms;

	/* No measurement yet: one more round. */
	ck_assert_int_eq(converge_decide(&in, &ms), CONVERGE_ITERATE);
	ck_assert(ms < 0);
	/* 10 MiB at 100 MB/s: ~105 ms > 50 ms. */
	in.bandwidth = 100e6;
	ck_assert_int_eq(converge_decide(&in, &ms), CONVERGE_ITERATE);
	ck_assert(ms > 104 && ms < 106);
	/* 4 MB at 100 MB/s: 40 ms, over the pages' half of the budget. */
	in.remaining = 4000000;
	ck_assert_int_eq(converge_decide(&in, &ms), CONVERGE_ITERATE);
	/* 2 MB, 20 ms, fits; exactly the half fits. */
	in.remaining = 2000000;
	ck_assert_int_eq(converge_decide(&in, &ms), CONVERGE_STOP_COPY);
	in.remaining = 2500000;
	ck_assert_int_eq(converge_decide(&in, &ms), CONVERGE_STOP_COPY);
	/* Nothing left: stop whatever the bandwidth. */
	in.remaining = 0;
	in.bandwidth = 0;
	ck_assert_int_eq(converge_decide(&in, &ms), CONVERGE_STOP_COPY);
	/* A guest that never converges gives up at the iteration limit... */
	in.remaining = 1ULL << 30;
	in.bandwidth = 1e6;
	in.iteration = 29;
	ck_assert_int_eq(converge_decide(&in, &ms), CONVERGE_ITERATE);
	in.iteration = 30;
	ck_assert_int_eq(converge_decide(&in, &ms), CONVERGE_GIVE_UP);
	ck_assert(ms > 1000);
	/* ...and one that fits in the last round stops and copies. */
	in.remaining = 10000;
	ck_assert_int_eq(converge_decide(&in, &ms), CONVERGE_STOP_COPY);
	/* Rounds too short to measure the link all along: a small VM that converges, not one
	 * to give up on. */
	in.remaining = 4096;
	in.bandwidth = 0;
	ck_assert_int_eq(converge_decide(&in, &ms), CONVERGE_STOP_COPY);
	ck_assert(ms < 0);
}
END_TEST

/* Auto-converge raises the throttle after two rounds in a row in which the guest dirtied more
 * than half of what was sent, 20% first, then 10 points at a time, never past 99%; a round
 * the link keeps up with starts the count again. */
START_TEST(throttle_steps)
{
	struct converge_throttle t = { 0 };

	ck_assert_uint_eq(converge_throttle_step(&t, 60, 100), 0);
	ck_assert_uint_eq(converge_throttle_step(&t, 40, 100), 0);   /* kept up: count again */
	ck_assert_uint_eq(converge_throttle_step(&t, 60, 100), 0);
	ck_assert_uint_eq(converge_throttle_step(&t, 60, 100), THROTTLE_START_PCT);
	ck_assert_uint_eq(converge_throttle_step(&t, 50, 100), THROTTLE_START_PCT); /* not above half */
	ck_assert_uint_eq(converge_throttle_step(&t, 500, 100), THROTTLE_START_PCT);
	ck_assert_uint_eq(converge_throttle_step(&t, 500, 100), THROTTLE_START_PCT + THROTTLE_STEP_PCT);
	for (int i = 0; i < 40; i++)
		converge_throttle_step(&t, 500, 100);
	ck_assert_uint_eq(t.pct, THROTTLE_MAX_PCT);
	/* Nothing sent in a round (all dirty pages were zero runs?) still counts as behind. */
	ck_assert_uint_eq(converge_throttle_step(&t, 1, 0), THROTTLE_MAX_PCT);
}
END_TEST

Suite *suite_migrate(void)
{
	Suite *s = suite_create("migrate");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, uris);
	tcase_add_test(tc, convergence);
	tcase_add_test(tc, send_queue_drains);
	tcase_add_test(tc, throttle_steps);
	tcase_add_test(tc, accept_connect_and_abort);
	suite_add_tcase(s, tc);
	return s;
}

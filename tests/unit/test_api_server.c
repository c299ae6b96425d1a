/* The control socket server (vmm/api.c) on a real event loop, with a VM that has no vCPUs and
 * no KVM: what a client sees, hostile clients included. The loop runs on its own thread, as
 * the I/O thread does; the test talks to it through the socket only. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/ged.h"
#include "firmware/acpi.h"
#include "tests/unit/unit.h"
#include "vmm/api.h"
#include "vmm/vm.h"

struct server {
	struct vm vm;
	struct vm_config cfg;
	struct ev_handler quit_ev;   /* ends the loop thread */
	pthread_t thread;
	char path[108];
	char dir[64];
};

static struct server srv;

static void on_quit(struct ev_handler *h, uint32_t events)
{
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) < 0) {
		/* the loop stops either way */
	}
	srv.vm.loop.stop = true;
}

static void *loop_thread(void *arg)
{
	(void)arg;
	ck_assert_int_eq(evloop_run(&srv.vm.loop), 0);
	return NULL;
}

static void setup(void)
{
	struct errmsg err = { "" };

	memset(&srv, 0, sizeof(srv));
	strcpy(srv.dir, "/tmp/minivmm-api-unit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(srv.dir));
	snprintf(srv.path, sizeof(srv.path), "%s/api.sock", srv.dir);
	srv.cfg.cpus = 1;
	srv.cfg.mem_size = 64 << 20;
	srv.cfg.serial.mode = CHARDEV_OFF;
	srv.cfg.acpi = true;
	clock_gettime(CLOCK_MONOTONIC, &srv.cfg.t_main);
	srv.vm.cfg = &srv.cfg;
	srv.vm.kvm_fd = srv.vm.vm_fd = -1;
	vm_machine_init(&srv.vm);
	srv.vm.stop_ev.fd = -1;
	pthread_mutex_init(&srv.vm.stop_lock, NULL);
	atomic_init(&srv.vm.stop_reason, VM_RUNNING);
	bus_init(&srv.vm.pio_bus, "pio");
	ck_assert_int_eq(evloop_init(&srv.vm.loop), 0);
	ck_assert_int_eq(vm_lifecycle_init(&srv.vm, &err), 0);
	ck_assert_int_eq(ged_create(&srv.vm.machine, ACPI_GED_IRQ, &srv.vm.ged, &err), 0);
	srv.quit_ev = (struct ev_handler){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), on_quit, NULL };
	ck_assert_int_ge(srv.quit_ev.fd, 0);
	ck_assert_int_eq(evloop_add(&srv.vm.loop, &srv.quit_ev, EPOLLIN), 0);
	ck_assert_msg(api_start(&srv.vm, srv.path, &srv.vm.api, &err) == 0, "%s", err.text);
	ck_assert_int_eq(pthread_create(&srv.thread, NULL, loop_thread, NULL), 0);
}

static void teardown(void)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(srv.quit_ev.fd, &one, sizeof(one)), sizeof(one));
	pthread_join(srv.thread, NULL);
	api_vm_stopped(srv.vm.api);
	api_destroy(srv.vm.api);
	dev_list_destroy(&srv.vm.devices);
	vm_lifecycle_destroy(&srv.vm);
	close(srv.quit_ev.fd);
	evloop_destroy(&srv.vm.loop);
	bus_destroy(&srv.vm.pio_bus);
	pthread_mutex_destroy(&srv.vm.stop_lock);
	ck_assert_int_eq(access(srv.path, F_OK), -1); /* api_destroy removed it */
	rmdir(srv.dir);
}

static int client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	strcpy(sa.sun_path, srv.path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		ck_assert_int_gt(w, 0);
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

/* One reply line, parsed (the caller decrefs). */
static json_t *read_line(int fd)
{
	char buf[8192];
	size_t n = 0;
	json_error_t jerr;
	json_t *j;

	while (n < sizeof(buf) - 1) {
		ssize_t r = recv(fd, buf + n, 1, 0);

		ck_assert_msg(r == 1, "no reply (recv %zd, errno %d) after '%.*s'", r, errno, (int)n, buf);
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	j = json_loads(buf, 0, &jerr);
	ck_assert_msg(j && json_is_object(j), "not a JSON object: %s", buf);
	return j;
}

static json_t *request(int fd, const char *line)
{
	send_all(fd, line, strlen(line));
	return read_line(fd);
}

static void expect_ok(json_t *r, const char *state)
{
	ck_assert_msg(json_is_true(json_object_get(r, "ok")), "not ok: %s",
		      json_string_value(json_object_get(r, "error")));
	if (state)
		ck_assert_str_eq(json_string_value(json_object_get(r, "state")), state);
	json_decref(r);
}

static void expect_error(json_t *r, const char *want)
{
	const char *e = json_string_value(json_object_get(r, "error"));

	ck_assert(json_is_false(json_object_get(r, "ok")));
	ck_assert_msg(e && strstr(e, want), "error '%s' lacks '%s'", e ? e : "(none)", want);
	json_decref(r);
}

START_TEST(status_pause_resume_quit)
{
	int fd = client();
	struct stat st;
	json_t *r, *devs;

	ck_assert_int_eq(stat(srv.path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	r = request(fd, "{\"cmd\":\"status\",\"id\":1}\n");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "memory_bytes")), 64 << 20);
	devs = json_object_get(r, "devices");
	/* The device list as it describes itself: here only the GED. */
	ck_assert(json_is_array(devs) && json_array_size(devs) == 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(devs, 0), "kind")),
			 "acpi-ged");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(devs, 0), "name")),
			 "ged@604");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(devs, 0), "irq")),
			 ACPI_GED_IRQ);
	expect_ok(r, "running");
	expect_ok(request(fd, "{\"cmd\":\"pause\"}\n"), "paused");
	expect_ok(request(fd, "{\"cmd\":\"pause\"}\n"), "paused");
	expect_error(request(fd, "{\"cmd\":\"shutdown\"}\n"), "resume it first");
	expect_ok(request(fd, "{\"cmd\":\"resume\"}\n"), "running");
	expect_ok(request(fd, "{\"cmd\":\"resume\"}\n"), "running");
	expect_error(request(fd, "{\"cmd\":\"snapshot\",\"path\":\"/nonexistent/x\"}\n"), "snapshot: ");
	expect_ok(request(fd, "{\"cmd\":\"quit\"}\n"), "stopping");
	ck_assert_int_eq(atomic_load(&srv.vm.stop_reason), VM_STOP_QUIT);
	/* Once stopping, commands that change state are refused; status still answers. */
	expect_error(request(fd, "{\"cmd\":\"pause\"}\n"), "pause: the VM is stopping");
	r = request(fd, "{\"cmd\":\"status\"}\n");
	ck_assert_str_eq(json_string_value(json_object_get(r, "exit_reason")), "quit");
	expect_ok(r, "stopping");
	close(fd);
}
END_TEST

START_TEST(shutdown_presses_the_button)
{
	int fd = client();

	expect_ok(request(fd, "{\"cmd\":\"shutdown\",\"timeout_s\":60}\n"), "shutting-down");
	ck_assert_uint_eq(ged_pending(srv.vm.ged), ACPI_GED_EVT_POWER_BUTTON);
	expect_error(request(fd, "{\"cmd\":\"pause\"}\n"), "shutting down");
	expect_ok(request(fd, "{\"cmd\":\"shutdown\",\"timeout_s\":1}\n"), "shutting-down");
	close(fd);
}
END_TEST

START_TEST(forced_shutdown_after_the_timeout)
{
	int fd = client();
	json_t *r;

	expect_ok(request(fd, "{\"cmd\":\"events\"}\n"), "running");
	r = request(fd, "{\"cmd\":\"shutdown\",\"timeout_s\":1}\n");
	/* The event comes first (the state changed while the command ran), then the reply. */
	ck_assert_str_eq(json_string_value(json_object_get(r, "event")), "shutting-down");
	json_decref(r);
	expect_ok(read_line(fd), "shutting-down");
	for (int i = 0; i < 300 && !vm_stopping(&srv.vm); i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&srv.vm.stop_reason), VM_STOP_SHUTDOWN_TIMEOUT);
	ck_assert_int_eq(srv.vm.exit_status, VM_EXIT_SHUTDOWN_FORCED);
	ck_assert_ptr_nonnull(strstr(srv.vm.stop_msg.text, "within 1 s"));
	close(fd);
}
END_TEST

START_TEST(events_go_only_to_subscribers)
{
	int a = client(), b = client();
	json_t *r;
	char c;

	expect_ok(request(a, "{\"cmd\":\"events\"}\n"), "running");
	expect_ok(request(b, "{\"cmd\":\"pause\"}\n"), "paused");
	r = read_line(a);
	ck_assert_str_eq(json_string_value(json_object_get(r, "event")), "paused");
	json_decref(r);
	expect_ok(request(b, "{\"cmd\":\"resume\"}\n"), "running");
	r = read_line(a);
	ck_assert_str_eq(json_string_value(json_object_get(r, "event")), "resumed");
	json_decref(r);
	/* b asked for none. */
	ck_assert_int_eq(recv(b, &c, 1, MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(a);
	close(b);
}
END_TEST

START_TEST(hostile_clients)
{
	int fd = client(), fds[API_MAX_CLIENTS + 4];
	char *big = malloc(200000);
	json_t *r;
	char c;

	expect_error(request(fd, "garbage\n"), "malformed JSON");
	expect_error(request(fd, "{\"cmd\":\"nope\",\"id\":\"x\"}\n"), "unknown command \"nope\"");
	memset(big, 'x', 200000);
	big[199999] = '\n';
	send_all(fd, big, 200000);
	expect_error(read_line(fd), "longer than 65536 bytes");
	free(big);
	expect_ok(request(fd, "{\"cmd\":\"status\"}\n"), "running");
	/* A request split across writes, and two in one. */
	send_all(fd, "{\"cmd\":", 7);
	usleep(20000);
	send_all(fd, "\"status\",\"id\":5}\n{\"cmd\":\"status\",\"id\":6}\n", 41);
	r = read_line(fd);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 5);
	json_decref(r);
	r = read_line(fd);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 6);
	json_decref(r);
	/* A client that leaves mid-request gets nothing and breaks nothing. */
	{
		int d = client();

		send_all(d, "{\"cmd\":\"pau", 11);
		close(d);
	}
	expect_ok(request(fd, "{\"cmd\":\"status\"}\n"), "running");
	/* Over the limit: turned away with a reason. fd is one of the 16. */
	for (unsigned i = 0; i < API_MAX_CLIENTS + 4; i++)
		fds[i] = client();
	usleep(100000);
	{
		unsigned refused = 0;

		for (unsigned i = 0; i < API_MAX_CLIENTS + 4; i++) {
			char buf[256];
			ssize_t n = recv(fds[i], buf, sizeof(buf) - 1, MSG_DONTWAIT);

			if (n > 0) {
				buf[n] = '\0';
				ck_assert_ptr_nonnull(strstr(buf, "too many clients"));
				refused++;
			}
		}
		ck_assert_uint_eq(refused, 5);
	}
	for (unsigned i = 0; i < API_MAX_CLIENTS + 4; i++)
		close(fds[i]);
	expect_ok(request(fd, "{\"cmd\":\"status\"}\n"), "running");
	ck_assert_int_eq(recv(fd, &c, 1, MSG_DONTWAIT), -1);
	close(fd);
}
END_TEST

START_TEST(a_client_that_never_reads_is_dropped)
{
	int fd = client(), other;
	char line[] = "{\"cmd\":\"status\"}\n";
	size_t sent = 0;

	/* Keep asking, never read: its replies pile up to the limit and it is cut off. */
	for (;;) {
		ssize_t w = send(fd, line, sizeof(line) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EAGAIN) {
			usleep(1000);
			if (sent > 64u << 20)
				break;
			continue;
		}
		if (w < 0)
			break; /* EPIPE / ECONNRESET: dropped */
		sent += (size_t)w;
	}
	ck_assert_uint_lt(sent, 64u << 20);
	other = client();
	expect_ok(request(other, "{\"cmd\":\"status\"}\n"), "running");
	close(other);
	close(fd);
}
END_TEST

START_TEST(socket_path_checks)
{
	struct vm vm2;
	struct api *api2;
	struct errmsg err = { "" };
	char path[128];

	/* The live socket of the fixture is refused. */
	memset(&vm2, 0, sizeof(vm2));
	vm2.cfg = &srv.cfg;
	ck_assert_int_eq(api_start(&vm2, srv.path, &api2, &err), -EADDRINUSE);
	ck_assert_ptr_nonnull(strstr(err.text, "a process is listening on it"));
	/* A stale socket is replaced; a plain file is refused. */
	snprintf(path, sizeof(path), "%s/stale.sock", srv.dir);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		strcpy(sa.sun_path, path);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	ck_assert_int_eq(evloop_init(&vm2.loop), 0);
	ck_assert_msg(api_start(&vm2, path, &api2, &err) == 0, "%s", err.text);
	api_destroy(api2);
	ck_assert_int_eq(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/plain", srv.dir);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	ck_assert_int_eq(api_start(&vm2, path, &api2, &err), -EEXIST);
	ck_assert_ptr_nonnull(strstr(err.text, "exists and is not a socket"));
	unlink(path);
	evloop_destroy(&vm2.loop);
}
END_TEST

Suite *suite_api_server(void)
{
	Suite *s = suite_create("api_server");
	TCase *tc = tcase_create("api_server");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, status_pause_resume_quit);
	tcase_add_test(tc, shutdown_presses_the_button);
	tcase_add_test(tc, forced_shutdown_after_the_timeout);
	tcase_add_test(tc, events_go_only_to_subscribers);
	tcase_add_test(tc, hostile_clients);
	tcase_add_test(tc, a_client_that_never_reads_is_dropped);
	tcase_add_test(tc, socket_path_checks);
	suite_add_tcase(s, tc);
	return s;
}

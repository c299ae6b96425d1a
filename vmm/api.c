#include "vmm/api.h"

#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "firmware/acpi.h"
#include "migrate/migrate.h"
#include "migrate/snapshot.h"
#include "vmm/api_proto.h"
#include "vmm/state.h"
#include "vmm/vm.h"

/* Bytes read from one client per wakeup: a client that floods cannot keep the I/O thread
 * from the others (the loop is level-triggered and comes back for the rest). */
#define API_READ_BUDGET (4 * API_MAX_LINE)
/* How long api_vm_stopped() lets clients take their last replies and events. */
#define API_FINAL_FLUSH_MS 200

struct api_client {
	struct ev_handler ev;
	struct api *api;
	struct api_client *next;
	struct api_linebuf in;
	char *out;
	size_t out_len, out_cap;
	uint32_t mask;         /* registered epoll events */
	bool events;           /* sent {"cmd": "events"}: gets event lines */
	bool read_closed;      /* the client hung up its side: close once out is flushed */
	/* Dropped from another client's handler (an event it had no room for): its fd is shut
	 * down so that its own handler runs and frees it. Only a client's own handler frees it,
	 * because the event loop may still hold its pointer in the batch being dispatched. */
	bool dead;
};

struct api {
	struct vm *vm;
	struct ev_handler listen;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	struct api_client *clients;
	unsigned nr_clients;
};

/* ---- clients ---- */

static void client_free(struct api_client *c)
{
	struct api *api = c->api;

	for (struct api_client **p = &api->clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	api->nr_clients--;
	if (c->ev.fd >= 0)
		close(c->ev.fd); /* also takes it out of the epoll set */
	api_linebuf_free(&c->in);
	free(c->out);
	free(c);
}

static void client_kill(struct api_client *c)
{
	if (c->dead)
		return;
	c->dead = true;
	c->out_len = 0;
	shutdown(c->ev.fd, SHUT_RDWR); /* its handler sees EPOLLHUP and frees it */
}

/* Sends what is pending. Returns 0, or -errno when the client is gone. */
static int client_flush(struct api_client *c)
{
	size_t done = 0;
	int ret = 0;

	while (done < c->out_len) {
		ssize_t n = send(c->ev.fd, c->out + done, c->out_len - done,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				ret = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (done) {
		memmove(c->out, c->out + done, c->out_len - done);
		c->out_len -= done;
	}
	return ret;
}

static void client_update_mask(struct api_client *c)
{
	uint32_t mask = (c->read_closed ? 0 : EPOLLIN) | (c->out_len ? EPOLLOUT : 0);

	if (mask != c->mask && evloop_mod(&c->api->vm->loop, &c->ev, mask) == 0)
		c->mask = mask;
}

/* Queues @line (taking it; NULL means out of memory) and sends what the socket takes. */
static void client_send(struct api_client *c, char *line)
{
	size_t n;

	if (c->dead) {
		free(line);
		return;
	}
	if (!line) {
		client_kill(c);
		return;
	}
	n = strlen(line);
	if (c->out_len + n > API_MAX_PENDING_OUT) {
		/* It does not read what it asked for: drop it rather than grow without end. */
		free(line);
		client_kill(c);
		return;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		while (cap < c->out_len + n)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			free(line);
			client_kill(c);
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, line, n);
	c->out_len += n;
	free(line);
	if (client_flush(c))
		client_kill(c);
	else
		client_update_mask(c);
}

static void api_broadcast(struct api *api, const char *line)
{
	for (struct api_client *c = api->clients; c; c = c->next)
		if (c->events && !c->dead)
			client_send(c, line ? strdup(line) : NULL);
}

/* ---- commands ---- */

static void set_chardev(json_t *d, const struct chardev_config *c)
{
	json_object_set_new(d, "backend", json_string(c->mode == CHARDEV_STDIO ? "stdio" :
						     c->mode == CHARDEV_FILE ? "file" : "off"));
	if (c->mode == CHARDEV_FILE)
		json_object_set_new(d, "path", api_json_string(c->path));
}

/* A property of a device's describe() node. FDT properties carry no type: a printable
 * NUL-terminated string is a string, 4 and 8 bytes are numbers (big-endian cells), a 6-byte
 * "mac" an address, anything else hex. */
static json_t *prop_json(const char *name, const uint8_t *p, int len)
{
	char hex[2 * 64 + 1];
	bool str = len > 0 && p[len - 1] == '\0';

	for (int i = 0; str && i < len - 1; i++)
		str = p[i] >= 0x20 && p[i] < 0x7f;
	if (str)
		return json_string((const char *)p);
	if (len == 4)
		return json_integer((json_int_t)fdt32_ld((const fdt32_t *)p));
	if (len == 8)
		return json_integer((json_int_t)fdt64_ld((const fdt64_t *)p)); /* 4-byte aligned */
	if (len == 6 && !strcmp(name, "mac")) {
		snprintf(hex, sizeof(hex), "%02x:%02x:%02x:%02x:%02x:%02x", p[0], p[1], p[2], p[3],
			 p[4], p[5]);
		return json_string(hex);
	}
	for (int i = 0; i < len && i < 64; i++)
		snprintf(hex + 2 * i, 3, "%02x", p[i]);
	hex[2 * (len < 64 ? len : 64)] = '\0';
	return json_string(hex);
}

static int describe_fill(void *fdt, void *arg)
{
	return dev_list_describe(arg, fdt, 0);
}

/* Every device on the VM's list as it describes itself (kind, and what its describe() says:
 * a disk's format and size, a NIC's MAC ...), with the backend the user gave it. */
static json_t *status_devices(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	unsigned disk = 0, nic = 0;
	json_t *list = json_array();
	void *fdt = NULL;
	size_t len;
	int node;

	if (!list || state_build(describe_fill, &vm->devices, 1 << 20, &fdt, &len)) {
		free(fdt);
		return list;
	}
	fdt_for_each_subnode(node, fdt, 0) {
		json_t *d = json_object();
		const char *type;
		int prop;

		if (!d)
			break;
		json_object_set_new(d, "name", json_string(fdt_get_name(fdt, node, NULL)));
		json_object_set_new(d, "kind", json_string(fdt_getprop(fdt, node, "kind", NULL)));
		fdt_for_each_property_offset(prop, fdt, node) {
			const char *name;
			int plen;
			const uint8_t *p = fdt_getprop_by_offset(fdt, prop, &name, &plen);

			if (p && strcmp(name, "name") && strcmp(name, "kind"))
				json_object_set_new(d, name, prop_json(name, p, plen));
		}
		/* virtio devices say which in "device"; the rest in "kind". */
		type = json_string_value(json_object_get(d, "device"));
		if (!type)
			type = json_string_value(json_object_get(d, "kind"));
		type = type ? type : "";
		if (!strcmp(type, "uart")) {
			set_chardev(d, &cfg->serial);
		} else if (!strcmp(type, "virtio-console")) {
			set_chardev(d, &cfg->console);
		} else if (!strcmp(type, "virtio-blk") && disk < cfg->nr_disks) {
			/* Slots go disks first, then NICs, in command-line order (vm.c). */
			const struct disk_config *dc = &cfg->disks[disk++];

			json_object_set_new(d, "backend", json_string("file"));
			json_object_set_new(d, "path", api_json_string(dc->path));
			json_object_set_new(d, "engine", json_string(!dc->engine_set ? "io_uring-or-sync" :
								    dc->engine == BLK_ENGINE_SYNC ? "sync" :
								    "io_uring"));
			json_object_set_new(d, "direct", json_boolean(dc->direct));
			if (dc->id)
				json_object_set_new(d, "id", api_json_string(dc->id));
		} else if (!strcmp(type, "virtio-net") && nic < cfg->nr_nets) {
			const struct net_config *nc = &cfg->nets[nic++];

			if (nc->tap) {
				json_object_set_new(d, "backend", json_string("tap"));
				json_object_set_new(d, "tap", api_json_string(nc->tap));
			} else {
				json_object_set_new(d, "backend", json_string("fd"));
				json_object_set_new(d, "fd", json_integer(nc->fd));
			}
		}
		json_array_append_new(list, d);
	}
	free(fdt);
	return list;
}

static json_t *status_json(struct vm *vm)
{
	enum vm_state st = vm_state(vm);
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "state", json_string(vm_state_name(st)));
	json_object_set_new(o, "uptime_s", json_real((double)(long long)vm_elapsed_ms(vm) / 1e3));
	json_object_set_new(o, "vcpus", json_integer(vm->nr_vcpus));
	json_object_set_new(o, "memory_bytes", json_integer((json_int_t)vm->cfg->mem_size));
	json_object_set_new(o, "devices", status_devices(vm));
	if (st == VM_STATE_SHUTTING_DOWN)
		json_object_set_new(o, "shutdown_timeout_s",
				    json_integer(vm->lc.shutdown_timeout_s));
	if (st == VM_STATE_STOPPING) {
		json_object_set_new(o, "exit_reason",
				    json_string(vm_stop_reason_name(atomic_load(&vm->stop_reason))));
		json_object_set_new(o, "exit_status", json_integer(vm->exit_status));
	}
	return o;
}

static json_t *state_fields(const struct vm *vm)
{
	return json_pack("{s:s}", "state", vm_state_name(vm_state(vm)));
}

/* A migration pauses and resumes the VM itself: a pause or resume from a client meanwhile
 * would change what it resumes on failure. */
static bool busy_migrating(struct vm *vm, struct errmsg *err)
{
	if (!migrate_running(vm))
		return false;
	errmsg_set(err, -EBUSY, "a migration is running (migrate-cancel stops it)");
	return true;
}

static json_t *migrate_status_json(struct vm *vm)
{
	struct migrate_status st;
	json_t *o;

	migrate_get_status(vm, &st);
	o = json_pack("{s:s,s:s,s:i,s:I,s:I,s:f,s:f,s:f,s:f,s:i}", "state", vm_state_name(vm_state(vm)),
		      "phase", migrate_phase_name(st.phase), "iteration", (int)st.iteration,
		      "bytes_sent", (json_int_t)st.bytes_sent, "remaining", (json_int_t)st.remaining,
		      "dirty_rate_mbs", st.dirty_rate / 1e6, "bandwidth_mbs", st.bandwidth / 1e6,
		      "expected_downtime_ms", st.expected_downtime_ms, "total_ms", st.total_ms,
		      "throttle_pct", (int)st.throttle_pct);
	if (o && st.phase != MIGRATE_NONE)
		json_object_set_new(o, "uri", api_json_string(st.uri));
	if (o && st.phase == MIGRATE_COMPLETED)
		json_object_set_new(o, "downtime_ms", json_real(st.downtime_ms));
	if (o && st.error[0])
		json_object_set_new(o, "error", api_json_string(st.error));
	return o;
}

static char *api_do(struct api_client *c, const struct api_request *req)
{
	struct vm *vm = c->api->vm;
	struct errmsg err = { "" };
	char msg[sizeof(err.text) + 16];
	json_t *fields = NULL;
	int ret = 0;

	switch (req->cmd) {
	case API_CMD_STATUS:
		return api_reply_ok(req->id, status_json(vm));
	case API_CMD_PAUSE:
		ret = busy_migrating(vm, &err) ? -EBUSY : vm_pause(vm, &err);
		break;
	case API_CMD_RESUME:
		/* After a migration whose outcome is unknown, the images first (refused while
		 * the destination holds them). */
		ret = busy_migrating(vm, &err) ? -EBUSY : migrate_before_resume(vm, &err);
		ret = ret ? ret : vm_resume(vm, &err);
		break;
	case API_CMD_SHUTDOWN:
		ret = vm_shutdown(vm, req->timeout_s, &err);
		if (!ret)
			fields = json_pack("{s:s,s:i}", "state", vm_state_name(vm_state(vm)),
					   "timeout_s", (int)vm->lc.shutdown_timeout_s);
		break;
	case API_CMD_QUIT:
		vm_request_stop(vm, VM_STOP_QUIT, 0, "stopped by 'quit' on the control socket");
		break;
	case API_CMD_SNAPSHOT:
		if (vm_stopping(vm))
			ret = errmsg_set(&err, -ESHUTDOWN, "the VM is stopping");
		else if (busy_migrating(vm, &err))
			ret = -EBUSY;
		else
			ret = vm_snapshot(vm, req->path, req->stop, &err);
		if (!ret)
			fields = json_pack("{s:s,s:o}", "state", vm_state_name(vm_state(vm)),
					   "path", api_json_string(req->path));
		break;
	case API_CMD_EVENTS:
		c->events = true;
		break;
	case API_CMD_MIGRATE: {
		struct migrate_params p = { req->path, req->downtime_ms, req->bandwidth,
					    req->auto_converge, req->disks };

		ret = migrate_start(vm, &p, &err);
		if (!ret)
			fields = migrate_status_json(vm);
		break;
	}
	case API_CMD_MIGRATE_STATUS:
		return api_reply_ok(req->id, migrate_status_json(vm));
	case API_CMD_MIGRATE_CANCEL:
		ret = migrate_cancel(vm, &err);
		break;
	}
	if (ret) {
		json_decref(fields);
		snprintf(msg, sizeof(msg), "%s: %s", api_cmd_name(req->cmd), err.text);
		return api_reply_error(req->id, msg);
	}
	return api_reply_ok(req->id, fields ? fields : state_fields(vm));
}

static void client_handle_line(struct api_client *c, const char *line, size_t len)
{
	struct api_request req;
	struct errmsg err = { "" };
	json_t *id = NULL;

	if (api_parse_request(line, len, &req, &id, &err)) {
		client_send(c, api_reply_error(id, err.text));
		json_decref(id);
		return;
	}
	json_decref(id);
	client_send(c, api_do(c, &req));
	api_request_free(&req);
}

static void client_read(struct api_client *c)
{
	size_t budget = API_READ_BUDGET;

	while (budget && !c->dead && !c->read_closed) {
		size_t avail;
		char *space = api_linebuf_space(&c->in, &avail), *line;
		ssize_t n;
		size_t len;
		enum api_line_kind k;

		if (avail > budget)
			avail = budget;
		n = recv(c->ev.fd, space, avail, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				client_kill(c);
			return;
		}
		if (n == 0) {
			/* A line without its '\n' is a request the client gave up on: no reply. */
			c->read_closed = true;
			return;
		}
		budget -= (size_t)n;
		api_linebuf_commit(&c->in, (size_t)n);
		while (!c->dead && (k = api_linebuf_next(&c->in, &line, &len)) != API_LINE_NONE) {
			if (k == API_LINE_TOO_LONG)
				client_send(c, api_reply_error(NULL, "request line longer than 65536 bytes; dropped up to its end"));
			else if (len)
				client_handle_line(c, line, len);
		}
	}
}

static void client_ev(struct ev_handler *h, uint32_t events)
{
	struct api_client *c = h->opaque;

	if (!c->dead && (events & EPOLLOUT) && client_flush(c))
		client_kill(c);
	if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		client_read(c);
	if (c->dead || (c->read_closed && !c->out_len) || (events & EPOLLERR)) {
		client_free(c);
		return;
	}
	client_update_mask(c);
}

static void api_on_accept(struct ev_handler *h, uint32_t events)
{
	struct api *api = h->opaque;

	(void)events;
	for (int i = 0; i < API_MAX_CLIENTS; i++) {
		int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct api_client *c;

		if (fd < 0)
			return; /* EAGAIN, or a client that went away before we took it */
		if (api->nr_clients >= API_MAX_CLIENTS) {
			static const char full[] =
				"{\"ok\":false,\"error\":\"too many clients (at most 16 at once)\"}\n";

			if (send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
				/* it is being turned away either way */
			}
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || api_linebuf_init(&c->in, API_MAX_LINE)) {
			free(c);
			close(fd);
			continue;
		}
		c->api = api;
		c->ev = (struct ev_handler){ fd, client_ev, c };
		c->mask = EPOLLIN;
		if (evloop_add(&api->vm->loop, &c->ev, c->mask)) {
			api_linebuf_free(&c->in);
			free(c);
			close(fd);
			continue;
		}
		c->next = api->clients;
		api->clients = c;
		api->nr_clients++;
	}
}

/* ---- events ---- */

static void api_on_vm_event(void *opaque, const char *event)
{
	struct api *api = opaque;
	char *line = api_event_line(event, state_fields(api->vm));

	api_broadcast(api, line);
	free(line);
}

void api_vm_stopped(struct api *api)
{
	struct vm *vm = api->vm;
	int reason = atomic_load(&vm->stop_reason);
	char *line;
	struct timespec t0, now;

	line = api_event_line("stopped", json_pack("{s:s,s:s,s:i,s:o}", "state", "stopped",
						   "exit_reason", vm_stop_reason_name(reason),
						   "exit_status", vm->exit_status, "message",
						   api_json_string(vm->stop_msg.text)));
	api_broadcast(api, line);
	free(line);
	/* The loop no longer runs: give clients a moment to take their last lines (the reply
	 * to a `quit`, this event). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfds[API_MAX_CLIENTS];
		int n = 0;
		long left;

		for (struct api_client *c = api->clients; c && n < API_MAX_CLIENTS; c = c->next) {
			if (c->dead || !c->out_len || client_flush(c) || !c->out_len)
				continue;
			pfds[n++] = (struct pollfd){ .fd = c->ev.fd, .events = POLLOUT };
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = API_FINAL_FLUSH_MS - ((now.tv_sec - t0.tv_sec) * 1000 +
					     (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (!n || left <= 0)
			break;
		if (poll(pfds, (nfds_t)n, (int)left) <= 0)
			break;
	}
}

/* ---- the socket ---- */

/* A socket file at @path: live (something accepts connections: refuse), or stale (remove). */
static int api_check_existing(const char *path, struct errmsg *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 :
		       errmsg_set(err, -errno, "--api-socket %s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return errmsg_set(err, -EEXIST, "--api-socket %s: exists and is not a socket", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errmsg_set(err, -errno, "--api-socket %s: socket: %s", path, strerror(errno));
	memcpy(sa.sun_path, path, strlen(path));
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (ret == 0)
		return errmsg_set(err, -EADDRINUSE,
				  "--api-socket %s: a process is listening on it (another minivmm?)",
				  path);
	if (errno != ECONNREFUSED)
		return errmsg_set(err, -errno, "--api-socket %s: %s", path, strerror(errno));
	/* Left behind by a process that is gone (a crash, a SIGKILL): nobody listens. */
	if (unlink(path) < 0 && errno != ENOENT)
		return errmsg_set(err, -errno, "--api-socket %s: cannot remove the stale socket: %s",
				  path, strerror(errno));
	return 0;
}

int api_start(struct vm *vm, const char *path, struct api **out, struct errmsg *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct api *api;
	struct stat st;
	int ret;

	*out = NULL;
	if (!*path || strlen(path) >= sizeof(sa.sun_path))
		return errmsg_set(err, -ENAMETOOLONG, "--api-socket %s: path too long (at most %zu bytes)",
				  path, sizeof(sa.sun_path) - 1);
	ret = api_check_existing(path, err);
	if (ret)
		return ret;
	/* jansson seeds its hash function from /dev/urandom at the first JSON object, which would
	 * be the first request's, made under the I/O thread's seccomp filter (no open there): seed
	 * it now, during setup (docs/hardening.md). */
	json_object_seed(0);
	api = calloc(1, sizeof(*api));
	if (!api)
		return errmsg_set(err, -ENOMEM, "--api-socket: out of memory");
	api->vm = vm;
	memcpy(api->path, path, strlen(path) + 1);
	api->listen = (struct ev_handler){
		socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), api_on_accept, api
	};
	if (api->listen.fd < 0) {
		ret = errmsg_set(err, -errno, "--api-socket %s: socket: %s", path, strerror(errno));
		goto fail;
	}
	memcpy(sa.sun_path, path, strlen(path));
	/* The file bind() creates takes the socket inode's mode: 0600 from the start, with no
	 * window in which another user could connect (and no process-wide umask change). */
	if (fchmod(api->listen.fd, 0600) < 0 ||
	    bind(api->listen.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = errmsg_set(err, -errno, "--api-socket %s: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, 0600) < 0 || lstat(path, &st) < 0) {
		ret = errmsg_set(err, -errno, "--api-socket %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	api->dev = st.st_dev;
	api->ino = st.st_ino;
	/* A backlog well above the client limit: a burst of connections waits to be accepted (and
	 * those over the limit are told so) instead of a client's non-blocking connect failing
	 * with EAGAIN while the event loop is busy elsewhere. */
	if (listen(api->listen.fd, 4 * API_MAX_CLIENTS) < 0 ||
	    (ret = evloop_add(&vm->loop, &api->listen, EPOLLIN))) {
		ret = errmsg_set(err, ret ? ret : -errno, "--api-socket %s: %s", path,
				 strerror(ret ? -ret : errno));
		unlink(path);
		goto fail;
	}
	vm_lifecycle_set_notify(vm, api_on_vm_event, api);
	*out = api;
	return 0;
fail:
	if (api->listen.fd >= 0)
		close(api->listen.fd);
	free(api);
	return ret;
}

void api_destroy(struct api *api)
{
	struct stat st;

	if (!api)
		return;
	vm_lifecycle_set_notify(api->vm, NULL, NULL);
	while (api->clients)
		client_free(api->clients);
	if (api->listen.fd >= 0)
		close(api->listen.fd);
	/* Only our own socket: another minivmm may have replaced a file we left (it found it
	 * stale only if we had stopped listening, but be sure). */
	if (lstat(api->path, &st) == 0 && st.st_dev == api->dev && st.st_ino == api->ino)
		unlink(api->path);
	free(api);
}

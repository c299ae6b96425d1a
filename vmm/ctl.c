/* `minivmm ctl`: the control socket's client. Builds one request from the command line,
 * prints the reply readably (or as it came, with --json), and exits 0 on "ok", 1 otherwise. */
#include "vmm/ctl.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmm/errmsg.h"
#include "vmm/parse.h"

#define CTL_DEFAULT_TIMEOUT_S 120
#define CTL_MAX_REPLY (1024 * 1024)

static const char ctl_usage[] =
	"usage: minivmm ctl [--json] [--timeout SECONDS] SOCKET COMMAND [key=value...]\n"
	"\n"
	"Talks to a VM started with --api-socket SOCKET.\n"
	"\n"
	"  status                       state, uptime, vCPUs, memory, devices and their backends\n"
	"  pause                        stop the vCPUs and device I/O (idempotent)\n"
	"  resume                       let them run again (idempotent)\n"
	"  shutdown [timeout_s=N]       press the ACPI power button; stop the VM by force if the\n"
	"                               guest has not powered off after N s (default 30; the VM\n"
	"                               then exits with status 125)\n"
	"  quit                         stop the VM now\n"
	"  snapshot path=FILE [stop=true]  save the VM to FILE (minivmm run --restore FILE);\n"
	"                               with stop=true the VM then ends instead of running on\n"
	"  events                       print state changes until the VM stops\n"
	"  migrate uri=tcp:ADDR:PORT|unix:PATH [downtime_ms=N] [bandwidth=MB/s]\n"
	"          [auto_converge=false] [disks=shared|copy|copy-top]\n"
	"                               live-migrate to a minivmm run --incoming URI; returns\n"
	"                               at once (migrate-status follows it); the VM stops here\n"
	"                               once the destination confirms (default downtime 50 ms);\n"
	"                               a guest that dirties memory faster than the link carries\n"
	"                               it has its vCPUs slowed until it fits (auto_converge);\n"
	"                               disks=copy sends the writable disks too, into the\n"
	"                               destination's own new images (copy-top: only a qcow2\n"
	"                               image's top, over a backing file both hosts have)\n"
	"  migrate-status               phase, round, bytes sent, remaining, rates, downtime\n"
	"  migrate-cancel               stop a migration; the VM runs on here\n"
	"\n"
	"  --json                       print the reply (and events) as the JSON lines received\n"
	"  --timeout SECONDS            give up waiting for the reply after this long (default\n"
	"                               120; 0 waits for ever)\n"
	"\n"
	"Exit status: 0 when the VM answered ok, 1 when it answered an error or could not be\n"
	"reached (the message on stderr says which).\n";

struct ctl_conn {
	int fd;
	char *buf;
	size_t len, cap;
};

/* Strings from the socket go to a terminal: no control characters. */
static void put_clean(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s, f);
}

static int ctl_connect(const char *path, struct errmsg *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!*path || strlen(path) >= sizeof(sa.sun_path))
		return errmsg_set(err, -ENAMETOOLONG, "%s: a socket path must be 1 to %zu bytes",
				  path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errmsg_set(err, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		if (e == ENOENT)
			return errmsg_set(err, -e, "%s: no such socket (is minivmm running with --api-socket %s?)",
					  path, path);
		if (e == ECONNREFUSED)
			return errmsg_set(err, -e, "%s: connection refused (nothing listens there: the VM has stopped?)",
					  path);
		return errmsg_set(err, -e, "%s: %s", path, strerror(e));
	}
	return fd;
}

/* Reads one line into *@line (NUL-terminated, without '\n'); waits at most until @deadline
 * (NULL: for ever). Returns 1, 0 at end of stream, or -errno. */
static int ctl_read_line(struct ctl_conn *c, const struct timespec *deadline, char **line)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int timeout = -1;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - c->buf);

			*line = strndup(c->buf, l);
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return *line ? 1 : -ENOMEM;
		}
		if (c->len == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 4096;
			char *p;

			if (cap > CTL_MAX_REPLY)
				return -E2BIG;
			p = realloc(c->buf, cap);
			if (!p)
				return -ENOMEM;
			c->buf = p;
			c->cap = cap;
		}
		if (deadline) {
			struct timespec now;
			long ms;

			clock_gettime(CLOCK_MONOTONIC, &now);
			ms = (deadline->tv_sec - now.tv_sec) * 1000 +
			     (deadline->tv_nsec - now.tv_nsec) / 1000000;
			if (ms <= 0)
				return -ETIMEDOUT;
			timeout = ms > INT_MAX ? INT_MAX : (int)ms;
		}
		n = poll(&pfd, 1, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ECONNRESET ? 0 : -errno;
		if (n == 0)
			return 0;
		c->len += (size_t)n;
	}
}

/* key=value → a request member. Values are typed by key so that `timeout_s=10` is a number;
 * a key the VM does not know goes as a string and the VM's reply names it. */
static int ctl_add_arg(json_t *req, const char *arg, struct errmsg *err)
{
	const char *eq = strchr(arg, '=');
	char key[64];
	const char *value;
	json_t *v;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(key))
		return errmsg_set(err, -EINVAL, "'%s': expected key=value", arg);
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	value = eq + 1;
	if (!strcmp(key, "cmd"))
		return errmsg_set(err, -EINVAL, "'%s': the command is the argument before the key=value pairs",
				  arg);
	if (!strcmp(key, "timeout_s")) {
		uint64_t n;

		if (parse_uint(value, 0, INT32_MAX, &n))
			return errmsg_set(err, -EINVAL, "timeout_s=%s: expected whole seconds", value);
		v = json_integer((json_int_t)n);
	} else if (!strcmp(key, "downtime_ms")) {
		uint64_t n;

		if (parse_uint(value, 1, INT32_MAX, &n))
			return errmsg_set(err, -EINVAL, "downtime_ms=%s: expected whole milliseconds", value);
		v = json_integer((json_int_t)n);
	} else if (!strcmp(key, "bandwidth")) {
		char *end;
		double b;

		errno = 0;
		b = strtod(value, &end);
		if (errno || end == value || *end || !(b > 0))
			return errmsg_set(err, -EINVAL, "bandwidth=%s: expected MB/s, a number above 0", value);
		v = json_real(b);
	} else if (!strcmp(key, "stop") || !strcmp(key, "auto_converge")) {
		bool b;

		if (parse_bool(value, &b))
			return errmsg_set(err, -EINVAL, "%s=%s: expected true or false", key, value);
		v = json_boolean(b);
	} else if (!strcmp(key, "path") && value[0] && value[0] != '/') {
		/* The VM resolves paths from its own directory, not ours. */
		char cwd[PATH_MAX], *abs;

		if (!getcwd(cwd, sizeof(cwd)))
			return errmsg_set(err, -errno, "path=%s: cannot make it absolute: %s", value,
					  strerror(errno));
		if (asprintf(&abs, "%s/%s", cwd, value) < 0)
			return errmsg_set(err, -ENOMEM, "out of memory");
		v = json_string(abs);
		free(abs);
	} else {
		v = json_string(value);
	}
	if (!v)
		return errmsg_set(err, -EINVAL, "%s: not valid UTF-8", arg);
	if (json_object_get(req, key)) {
		json_decref(v);
		return errmsg_set(err, -EINVAL, "%s given twice", key);
	}
	json_object_set_new(req, key, v);
	return 0;
}

static void print_scalar(FILE *f, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		put_clean(f, json_string_value(v));
		break;
	case JSON_INTEGER:
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		fprintf(f, "%.3f", json_real_value(v));
		break;
	case JSON_TRUE:
		fputs("true", f);
		break;
	case JSON_FALSE:
		fputs("false", f);
		break;
	case JSON_NULL:
		fputs("null", f);
		break;
	default: {
		char *s = json_dumps(v, JSON_COMPACT);

		if (s)
			put_clean(f, s);
		free(s);
	}
	}
}

/* One device (or any object in a list): "name  type  k=v k=v", the type being a virtio
 * device's "device" or else its "kind". */
static void print_item(const json_t *o)
{
	const json_t *name = json_object_get(o, "name"), *type = json_object_get(o, "device");

	if (!type)
		type = json_object_get(o, "kind");
	const char *k;
	json_t *v;
	bool sep = true;

	fputs("  ", stdout);
	if (json_is_string(name) && json_is_string(type)) {
		int n = 0;

		put_clean(stdout, json_string_value(name));
		n += (int)strlen(json_string_value(name));
		printf("%*s", n < 13 ? 13 - n : 1, "");
		put_clean(stdout, json_string_value(type));
		n = (int)strlen(json_string_value(type));
		printf("%*s", n < 16 ? 16 - n : 1, "");
	}
	json_object_foreach((json_t *)o, k, v) {
		if (v == name || v == type)
			continue;
		if (!sep)
			putchar(' ');
		sep = false;
		put_clean(stdout, k);
		putchar('=');
		print_scalar(stdout, v);
	}
	putchar('\n');
}

static void print_fields(const json_t *reply, const char *skip1, const char *skip2)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)reply, k, v) {
		if (!strcmp(k, skip1) || !strcmp(k, skip2) || !strcmp(k, "id"))
			continue;
		put_clean(stdout, k);
		putchar(':');
		if (json_is_array(v)) {
			size_t i;
			json_t *e;

			putchar('\n');
			json_array_foreach(v, i, e) {
				if (json_is_object(e)) {
					print_item(e);
				} else {
					fputs("  ", stdout);
					print_scalar(stdout, e);
					putchar('\n');
				}
			}
			continue;
		}
		putchar(' ');
		if (!strcmp(k, "memory_bytes") && json_is_integer(v))
			printf("%" JSON_INTEGER_FORMAT " MiB", json_integer_value(v) >> 20);
		else
			print_scalar(stdout, v);
		if (!strcmp(k, "uptime_s") || !strcmp(k, "timeout_s") ||
		    !strcmp(k, "shutdown_timeout_s"))
			fputs(" s", stdout);
		putchar('\n');
	}
}

/* Prints a reply; returns 0 for ok, 1 for an error. */
static int print_reply(const char *line, const char *cmd, bool raw)
{
	json_error_t jerr;
	json_t *r = json_loads(line, 0, &jerr);
	const json_t *ok;
	int ret;

	if (!r || !json_is_object(r)) {
		fprintf(stderr, "minivmm ctl: %s: the VM's reply is not a JSON object: %s\n", cmd,
			r ? "" : jerr.text);
		json_decref(r);
		return 1;
	}
	ok = json_object_get(r, "ok");
	ret = json_is_true(ok) ? 0 : 1;
	if (raw) {
		printf("%s\n", line);
	} else if (ret) {
		const json_t *e = json_object_get(r, "error");

		fputs("minivmm ctl: ", stderr);
		put_clean(stderr, json_is_string(e) ? json_string_value(e) : "error (no message)");
		fputc('\n', stderr);
	} else {
		print_fields(r, "ok", "ok");
	}
	if (raw && ret) {
		const json_t *e = json_object_get(r, "error");

		fputs("minivmm ctl: ", stderr);
		put_clean(stderr, json_is_string(e) ? json_string_value(e) : "error");
		fputc('\n', stderr);
	}
	json_decref(r);
	return ret;
}

static void print_event(const char *line, bool raw)
{
	json_t *e = json_loads(line, 0, NULL);
	const json_t *name = e ? json_object_get(e, "event") : NULL;

	if (raw || !json_is_string(name)) {
		printf("%s\n", line);
	} else {
		fputs("event ", stdout);
		put_clean(stdout, json_string_value(name));
		putchar('\n');
		print_fields(e, "event", "event");
	}
	fflush(stdout);
	json_decref(e);
}

int ctl_main(int argc, char **argv)
{
	struct ctl_conn c = { .fd = -1 };
	struct errmsg err = { "" };
	struct timespec deadline;
	unsigned timeout_s = CTL_DEFAULT_TIMEOUT_S;
	bool raw = false;
	const char *path, *cmd;
	json_t *req;
	char *line = NULL, *reqs;
	int i = 1, ret;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json")) {
			raw = true;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			uint64_t n;

			if (parse_uint(argv[++i], 0, 30U * 24 * 3600, &n)) {
				fprintf(stderr, "minivmm ctl: --timeout '%s': expected whole seconds\n",
					argv[i]);
				return 1;
			}
			timeout_s = (unsigned)n;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(ctl_usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "minivmm ctl: unknown flag '%s' (see 'minivmm ctl --help')\n",
				argv[i]);
			return 1;
		}
	}
	if (argc - i < 2) {
		fputs(ctl_usage, stderr);
		return 1;
	}
	path = argv[i++];
	cmd = argv[i++];
	req = json_pack("{s:s}", "cmd", cmd);
	if (!req) {
		fprintf(stderr, "minivmm ctl: '%s': not a command name\n", cmd);
		return 1;
	}
	for (; i < argc; i++) {
		if (ctl_add_arg(req, argv[i], &err)) {
			fprintf(stderr, "minivmm ctl: %s: %s\n", cmd, err.text);
			json_decref(req);
			return 1;
		}
	}
	reqs = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(req);
	if (!reqs) {
		fprintf(stderr, "minivmm ctl: out of memory\n");
		return 1;
	}
	c.fd = ctl_connect(path, &err);
	if (c.fd < 0) {
		fprintf(stderr, "minivmm ctl: %s\n", err.text);
		free(reqs);
		return 1;
	}
	ret = 1;
	{
		size_t n = strlen(reqs), done = 0;

		reqs[n] = '\n'; /* json_dumps' NUL becomes the line's end */
		while (done <= n) {
			ssize_t w = send(c.fd, reqs + done, n + 1 - done, MSG_NOSIGNAL);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				fprintf(stderr, "minivmm ctl: %s: send: %s\n", path, strerror(errno));
				goto out;
			}
			done += (size_t)w;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_s;
	ret = ctl_read_line(&c, timeout_s ? &deadline : NULL, &line);
	if (ret <= 0) {
		fprintf(stderr, "minivmm ctl: %s: %s: %s\n", path, cmd,
			ret == 0 ? "the VM closed the connection without a reply (it stopped?)" :
			ret == -ETIMEDOUT ? "no reply in time (see --timeout)" : strerror(-ret));
		ret = 1;
		goto out;
	}
	ret = print_reply(line, cmd, raw);
	fflush(stdout);
	/* After a successful `events`, every further line is an event, until the VM stops. */
	if (ret == 0 && !strcmp(cmd, "events")) {
		for (;;) {
			int r;

			free(line);
			line = NULL;
			r = ctl_read_line(&c, NULL, &line);
			if (r <= 0)
				break;
			print_event(line, raw);
		}
	}
out:
	free(line);
	free(reqs);
	free(c.buf);
	close(c.fd);
	return ret;
}

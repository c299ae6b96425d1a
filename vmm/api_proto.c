#include "vmm/api_proto.h"

#include "migrate/migrate.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/migrate.h"

/* ---- framing ---- */

int api_linebuf_init(struct api_linebuf *lb, size_t max_line)
{
	memset(lb, 0, sizeof(*lb));
	lb->max_line = max_line;
	/* Room for the longest line, its '\n' and the NUL that api_linebuf_next() writes. */
	lb->buf = malloc(max_line + 2);
	return lb->buf ? 0 : -ENOMEM;
}

void api_linebuf_free(struct api_linebuf *lb)
{
	free(lb->buf);
	lb->buf = NULL;
	lb->len = lb->start = 0;
}

static void lb_compact(struct api_linebuf *lb)
{
	if (lb->start == 0)
		return;
	memmove(lb->buf, lb->buf + lb->start, lb->len - lb->start);
	lb->len -= lb->start;
	lb->start = 0;
}

char *api_linebuf_space(struct api_linebuf *lb, size_t *avail)
{
	lb_compact(lb);
	/* api_linebuf_next() drops a full buffer that holds no '\n', so there is always room
	 * here once the caller has taken every line. */
	if (lb->len > lb->max_line) {
		lb->len = 0;
		lb->discarding = true;
	}
	*avail = lb->max_line + 1 - lb->len;
	return lb->buf + lb->len;
}

void api_linebuf_commit(struct api_linebuf *lb, size_t n)
{
	lb->len += n;
}

enum api_line_kind api_linebuf_next(struct api_linebuf *lb, char **line, size_t *len)
{
	for (;;) {
		char *p = lb->buf + lb->start;
		size_t held = lb->len - lb->start;
		char *nl = memchr(p, '\n', held);

		if (lb->discarding) {
			if (!nl) {
				lb->len = lb->start = 0;
				return API_LINE_NONE;
			}
			lb->start += (size_t)(nl - p) + 1;
			lb->discarding = false;
			continue;
		}
		if (!nl) {
			if (held > lb->max_line) {
				/* Too long, and its end is not here yet: drop what is held and the
				 * rest up to the next '\n'. */
				lb->len = lb->start = 0;
				lb->discarding = true;
				return API_LINE_TOO_LONG;
			}
			return API_LINE_NONE;
		}
		lb->start += (size_t)(nl - p) + 1;
		if ((size_t)(nl - p) > lb->max_line)
			return API_LINE_TOO_LONG;
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			*--nl = '\0';
		*line = p;
		*len = (size_t)(nl - p);
		return API_LINE;
	}
}

bool api_linebuf_partial(const struct api_linebuf *lb)
{
	return lb->len > lb->start;
}

/* ---- requests ---- */

static const char *const api_cmd_names[] = {
	[API_CMD_STATUS] = "status",
	[API_CMD_PAUSE] = "pause",
	[API_CMD_RESUME] = "resume",
	[API_CMD_SHUTDOWN] = "shutdown",
	[API_CMD_QUIT] = "quit",
	[API_CMD_SNAPSHOT] = "snapshot",
	[API_CMD_EVENTS] = "events",
	[API_CMD_MIGRATE] = "migrate",
	[API_CMD_MIGRATE_STATUS] = "migrate-status",
	[API_CMD_MIGRATE_CANCEL] = "migrate-cancel",
};
#define API_NR_CMDS (sizeof(api_cmd_names) / sizeof(api_cmd_names[0]))

const char *api_cmd_name(enum api_cmd cmd)
{
	return (unsigned)cmd < API_NR_CMDS ? api_cmd_names[cmd] : "?";
}

/* A client's string quoted back in a message: at most 40 characters, printable ASCII only, so
 * that an error message cannot carry terminal escapes or a megabyte of junk. */
static void quote_name(char out[48], const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n < 40; i++)
		out[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (len > 40) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

static int parse_id(json_t *v, struct errmsg *err)
{
	if (json_is_integer(v))
		return 0;
	if (json_is_string(v) && json_string_length(v) <= API_MAX_ID &&
	    strlen(json_string_value(v)) == json_string_length(v))
		return 0;
	return errmsg_set(err, -EINVAL, "\"id\" must be an integer or a string of at most %d characters",
			  API_MAX_ID);
}

/* Which fields each command takes besides "cmd" and "id". */
static bool field_allowed(enum api_cmd cmd, const char *key)
{
	switch (cmd) {
	case API_CMD_SHUTDOWN:
		return !strcmp(key, "timeout_s");
	case API_CMD_SNAPSHOT:
		return !strcmp(key, "path") || !strcmp(key, "stop");
	case API_CMD_MIGRATE:
		return !strcmp(key, "uri") || !strcmp(key, "downtime_ms") || !strcmp(key, "bandwidth") ||
		       !strcmp(key, "auto_converge") || !strcmp(key, "disks");
	default:
		return false;
	}
}

/* migrate {uri, downtime_ms, bandwidth, auto_converge, disks}: the URI's syntax is the migration's
 * to check. */
static int parse_migrate(json_t *obj, struct api_request *req, struct errmsg *err)
{
	json_t *v = json_object_get(obj, "uri");

	if (!v)
		return errmsg_set(err, -EINVAL, "migrate: \"uri\" (tcp:ADDR:PORT or unix:PATH) is required");
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > API_MAX_PATH ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return errmsg_set(err, -EINVAL, "migrate: \"uri\" must be a string of 1 to %d bytes without NUL",
				  API_MAX_PATH);
	memcpy(req->path, json_string_value(v), json_string_length(v) + 1);
	req->downtime_ms = MIGRATE_DEFAULT_DOWNTIME_MS;
	v = json_object_get(obj, "downtime_ms");
	if (v) {
		json_int_t t = json_is_integer(v) ? json_integer_value(v) : -1;

		if (t < 1 || t > MIGRATE_MAX_DOWNTIME_MS)
			return errmsg_set(err, -EINVAL,
					  "migrate: \"downtime_ms\" must be an integer from 1 to %d, not %s",
					  MIGRATE_MAX_DOWNTIME_MS, json_is_integer(v) ? "that" : json_type_name(v));
		req->downtime_ms = (unsigned)t;
	}
	v = json_object_get(obj, "bandwidth");
	if (v) {
		double b = json_is_number(v) ? json_number_value(v) : -1;

		/* NaN fails both comparisons. */
		if (!(b > 0 && b <= API_MAX_BANDWIDTH))
			return errmsg_set(err, -EINVAL,
					  "migrate: \"bandwidth\" must be a number of MB/s above 0 and at most %d, not %s",
					  API_MAX_BANDWIDTH, json_is_number(v) ? "that" : json_type_name(v));
		req->bandwidth = b;
	}
	v = json_object_get(obj, "auto_converge");
	if (v && !json_is_boolean(v))
		return errmsg_set(err, -EINVAL, "migrate: \"auto_converge\" must be true or false, not %s",
				  json_type_name(v));
	req->auto_converge = !v || json_is_true(v);
	v = json_object_get(obj, "disks");
	req->disks = DISK_STREAM_SHARED;
	if (v && json_is_string(v) && !strcmp(json_string_value(v), "copy"))
		req->disks = DISK_STREAM_COPY;
	else if (v && json_is_string(v) && !strcmp(json_string_value(v), "copy-top"))
		req->disks = DISK_STREAM_COPY_TOP;
	else if (v && !(json_is_string(v) && !strcmp(json_string_value(v), "shared")))
		return errmsg_set(err, -EINVAL, "migrate: \"disks\" must be \"shared\", \"copy\" or \"copy-top\"");
	return 0;
}

static int parse_fields(json_t *obj, struct api_request *req, struct errmsg *err)
{
	const char *name = api_cmd_name(req->cmd);
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		char q[48];

		if (!strcmp(key, "cmd") || !strcmp(key, "id"))
			continue;
		if (!field_allowed(req->cmd, key)) {
			quote_name(q, key, strlen(key));
			return errmsg_set(err, -EINVAL, "%s: unknown field \"%s\"", name, q);
		}
	}
	if (req->cmd == API_CMD_SHUTDOWN) {
		req->timeout_s = API_DEFAULT_SHUTDOWN_TIMEOUT_S;
		v = json_object_get(obj, "timeout_s");
		if (v) {
			json_int_t t = json_is_integer(v) ? json_integer_value(v) : -1;

			if (t < 1 || t > API_MAX_SHUTDOWN_TIMEOUT_S)
				return errmsg_set(err, -EINVAL,
						  "shutdown: \"timeout_s\" must be an integer from 1 to %d (seconds), not %s",
						  API_MAX_SHUTDOWN_TIMEOUT_S,
						  json_is_integer(v) ? "that" : json_type_name(v));
			req->timeout_s = (unsigned)t;
		}
	}
	if (req->cmd == API_CMD_SNAPSHOT) {
		v = json_object_get(obj, "path");
		if (!v)
			return errmsg_set(err, -EINVAL, "snapshot: \"path\" (the file to write) is required");
		if (!json_is_string(v))
			return errmsg_set(err, -EINVAL, "snapshot: \"path\" must be a string, not %s",
					  json_type_name(v));
		/* JSON strings may hold \u0000; a path cut there would name another file. */
		if (json_string_length(v) == 0 || json_string_length(v) > API_MAX_PATH ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return errmsg_set(err, -EINVAL,
					  "snapshot: \"path\" must be 1 to %d bytes without NUL",
					  API_MAX_PATH);
		memcpy(req->path, json_string_value(v), json_string_length(v) + 1);
		v = json_object_get(obj, "stop");
		if (v && !json_is_boolean(v))
			return errmsg_set(err, -EINVAL, "snapshot: \"stop\" must be true or false, not %s",
					  json_type_name(v));
		req->stop = v && json_is_true(v);
	}
	if (req->cmd == API_CMD_MIGRATE)
		return parse_migrate(obj, req, err);
	return 0;
}

int api_parse_request(const char *line, size_t len, struct api_request *req, json_t **id_out,
		      struct errmsg *err)
{
	json_error_t jerr;
	json_t *obj, *cmd, *id;
	const char *name;
	size_t i;
	int ret;

	memset(req, 0, sizeof(*req));
	if (id_out)
		*id_out = NULL;
	if (len > API_MAX_LINE)
		return errmsg_set(err, -E2BIG, "request longer than %d bytes", API_MAX_LINE);
	/* Duplicate keys would let two readers of one request disagree on it. */
	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		char q[48];

		quote_name(q, jerr.text, strlen(jerr.text));
		return errmsg_set(err, -EINVAL, "malformed JSON at byte %d: %s", jerr.position, q);
	}
	ret = -EINVAL;
	if (!json_is_object(obj)) {
		errmsg_set(err, ret, "a request must be a JSON object, not %s", json_type_name(obj));
		goto out;
	}
	id = json_object_get(obj, "id");
	if (id) {
		if (parse_id(id, err))
			goto out;
		if (id_out)
			*id_out = json_incref(id);
	}
	cmd = json_object_get(obj, "cmd");
	if (!cmd) {
		errmsg_set(err, ret, "the request has no \"cmd\" (status, pause, resume, shutdown, quit, snapshot, events, migrate, migrate-status or migrate-cancel)");
		goto out;
	}
	if (!json_is_string(cmd)) {
		errmsg_set(err, ret, "\"cmd\" must be a string, not %s", json_type_name(cmd));
		goto out;
	}
	name = json_string_value(cmd);
	for (i = 0; i < API_NR_CMDS; i++)
		if (strlen(name) == json_string_length(cmd) && !strcmp(name, api_cmd_names[i]))
			break;
	if (i == API_NR_CMDS) {
		char q[48];

		quote_name(q, name, json_string_length(cmd));
		errmsg_set(err, ret, "unknown command \"%s\" (status, pause, resume, shutdown, quit, snapshot, events, migrate, migrate-status or migrate-cancel)",
			   q);
		goto out;
	}
	req->cmd = (enum api_cmd)i;
	ret = parse_fields(obj, req, err);
	if (!ret && id)
		req->id = json_incref(id);
out:
	json_decref(obj);
	return ret;
}

void api_request_free(struct api_request *req)
{
	json_decref(req->id);
	req->id = NULL;
}

/* ---- replies and events ---- */

json_t *api_json_string(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j)
		return j;
	/* Not UTF-8 (or out of memory): keep ASCII, replace the rest. */
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* Serializes @obj (taking its reference) as one line. */
static char *api_line(json_t *obj)
{
	char *s, *line;
	size_t n;

	if (!obj)
		return NULL;
	/* Compact output never holds a raw '\n' (JSON escapes them in strings), so one object
	 * stays one line. */
	s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	json_decref(obj);
	if (!s)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

/* {k1: v1, "id": id, ...fields}; takes the references of @v1 and @fields. */
static json_t *api_object(const char *k1, json_t *v1, const json_t *id, json_t *fields)
{
	json_t *obj = json_object();
	int bad;

	/* json_object_set_new() releases its value even when it fails. */
	bad = !obj || json_object_set_new(obj, k1, v1);
	bad = bad || (id && json_object_set(obj, "id", (json_t *)id));
	/* The reply's own keys win over a field of the same name. */
	bad = bad || (fields && json_object_update_missing(obj, fields));
	if (!obj)
		json_decref(v1);
	json_decref(fields);
	if (bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

char *api_reply_ok(const json_t *id, json_t *fields)
{
	return api_line(api_object("ok", json_true(), id, fields));
}

char *api_reply_error(const json_t *id, const char *message)
{
	json_t *msg = api_json_string(message);
	json_t *fields = json_object();

	if (!msg || !fields || json_object_set_new(fields, "error", msg)) {
		if (!fields)
			json_decref(msg);
		json_decref(fields);
		return NULL;
	}
	return api_line(api_object("ok", json_false(), id, fields));
}

char *api_event_line(const char *event, json_t *fields)
{
	return api_line(api_object("event", api_json_string(event), NULL, fields));
}

/* The control socket's protocol, without a VM: framing of request lines, parsing and checking
 * of requests, building of replies and events. Every byte a client sends is hostile until
 * this file has checked it; vmm/api.c only sees a struct api_request.
 *
 * One JSON object per line in each direction (UTF-8, '\n'-terminated):
 *   → {"cmd": "status"}                      ← {"ok": true, "state": "running", ...}
 *   → {"cmd": "shutdown", "timeout_s": 10}   ← {"ok": true, ...}
 *   → {"cmd": "bogus"}                       ← {"ok": false, "error": "unknown command ..."}
 * A request may carry "id" (a string of up to 64 characters or an integer), echoed in its
 * reply. Events (after {"cmd": "events"}) are lines {"event": "paused", ...}. */
#ifndef MINIVMM_API_PROTO_H
#define MINIVMM_API_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "migrate/disk_stream.h"
#include "vmm/errmsg.h"

#define API_MAX_LINE (64 * 1024)        /* a request line, without its '\n' */
#define API_MAX_PATH 4095
#define API_MAX_ID 64
#define API_DEFAULT_SHUTDOWN_TIMEOUT_S 30
#define API_MAX_SHUTDOWN_TIMEOUT_S 86400
#define API_MAX_BANDWIDTH 1000000      /* MB/s */

/* ---- framing ---- */

struct api_linebuf {
	char *buf;
	size_t len;          /* bytes held */
	size_t start;        /* first byte not yet handed out */
	size_t max_line;
	bool discarding;     /* inside a line that was too long: drop up to its '\n' */
};

enum api_line_kind {
	API_LINE_NONE,       /* no complete line held: read more */
	API_LINE,            /* a line (NUL-terminated, '\n' and a trailing '\r' removed) */
	API_LINE_TOO_LONG,   /* a line over max_line was dropped (reported once per line) */
};

int api_linebuf_init(struct api_linebuf *lb, size_t max_line) __attribute__((warn_unused_result));
void api_linebuf_free(struct api_linebuf *lb);
/* Where to read into, and how much fits (never 0). */
char *api_linebuf_space(struct api_linebuf *lb, size_t *avail);
/* @n bytes were read into the space. */
void api_linebuf_commit(struct api_linebuf *lb, size_t n);
/* The next line; *line stays valid until the next call. */
enum api_line_kind api_linebuf_next(struct api_linebuf *lb, char **line, size_t *len);
/* True while part of a line is held (a client that hangs up now left a request unfinished). */
bool api_linebuf_partial(const struct api_linebuf *lb);

/* ---- requests ---- */

enum api_cmd {
	API_CMD_STATUS,
	API_CMD_PAUSE,
	API_CMD_RESUME,
	API_CMD_SHUTDOWN,
	API_CMD_QUIT,
	API_CMD_SNAPSHOT,
	API_CMD_EVENTS,
	API_CMD_MIGRATE,
	API_CMD_MIGRATE_STATUS,
	API_CMD_MIGRATE_CANCEL,
};

struct api_request {
	enum api_cmd cmd;
	json_t *id;            /* NULL, or the request's "id" (a reference the request owns) */
	unsigned timeout_s;    /* shutdown */
	char path[API_MAX_PATH + 1]; /* snapshot: the file; migrate: the URI */
	bool stop;             /* snapshot: stay paused afterwards */
	unsigned downtime_ms;  /* migrate */
	double bandwidth;      /* migrate: MB/s, 0 when not given */
	bool auto_converge;    /* migrate: true unless given false */
	enum disk_stream_mode disks; /* migrate: shared unless given */
};

/* Parses and checks one request line. On failure @err names what was wrong (the command,
 * the field, the expected type or range) and *@id_out (if non-NULL) receives the request's
 * "id" when one could be read, so that even an error reply carries it (release with
 * json_decref). */
int api_parse_request(const char *line, size_t len, struct api_request *req, json_t **id_out,
		      struct errmsg *err) __attribute__((warn_unused_result));
void api_request_free(struct api_request *req);
const char *api_cmd_name(enum api_cmd cmd);

/* ---- replies and events ---- */

/* Each returns a malloc'd, '\n'-terminated line, or NULL when out of memory. @fields (may be
 * NULL) is an object whose members are added to the line; its reference is stolen. */
char *api_reply_ok(const json_t *id, json_t *fields);
char *api_reply_error(const json_t *id, const char *message);
char *api_event_line(const char *event, json_t *fields);

/* A JSON string of @s, even when @s is not valid UTF-8 (file names are bytes): such bytes
 * become '?'. NULL only when out of memory. */
json_t *api_json_string(const char *s);

#endif

/* libFuzzer target: the control socket's protocol as a client drives it. The input is a byte
 * stream as it arrives on the socket; the first byte picks the read size (1-256 bytes), so
 * lines arrive split at every place. Each line (or "too long" report) is parsed as a request
 * and answered the way vmm/api.c answers: an error reply, or for a good request an ok reply
 * echoing its id. Checks: no crash, leak or sanitizer report (ASan/UBSan); every reply is one
 * line of valid JSON with "ok" true or with a string "error"; nothing the client sends makes
 * a reply longer than the limit the client's line had plus the message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/api_proto.h"

#define FUZZ_MAX_LINE 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(char *line, bool want_ok)
{
	json_t *r, *ok, *e;
	size_t n;

	if (!line)
		return; /* out of memory: the server drops the client */
	n = strlen(line);
	if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
		abort(); /* not exactly one line */
	r = json_loads(line, 0, NULL);
	if (!r || !json_is_object(r))
		abort();
	ok = json_object_get(r, "ok");
	e = json_object_get(r, "error");
	if (want_ok ? !json_is_true(ok) : (!json_is_false(ok) || !json_is_string(e)))
		abort();
	json_decref(r);
	free(line);
}

static void handle_line(const char *line, size_t len)
{
	struct api_request req;
	struct errmsg err = { "" };
	json_t *id = NULL;

	if (api_parse_request(line, len, &req, &id, &err)) {
		if (!err.text[0])
			abort(); /* every refusal says why */
		check_reply(api_reply_error(id, err.text), false);
		json_decref(id);
		return;
	}
	json_decref(id);
	if (req.cmd == API_CMD_SNAPSHOT && (!req.path[0] || strlen(req.path) > API_MAX_PATH))
		abort();
	if (req.cmd == API_CMD_SHUTDOWN &&
	    (req.timeout_s < 1 || req.timeout_s > API_MAX_SHUTDOWN_TIMEOUT_S))
		abort();
	check_reply(api_reply_ok(req.id, json_pack("{s:s,s:o}", "state", api_cmd_name(req.cmd),
						   "path", api_json_string(req.path))),
		    true);
	api_request_free(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_linebuf lb;
	size_t chunk, off = 1;

	if (size < 1 || api_linebuf_init(&lb, FUZZ_MAX_LINE))
		return 0;
	chunk = (size_t)data[0] + 1;
	while (off < size) {
		size_t avail, take, len;
		char *space = api_linebuf_space(&lb, &avail), *line;
		enum api_line_kind k;

		if (!avail)
			abort();
		take = size - off < chunk ? size - off : chunk;
		if (take > avail)
			take = avail;
		memcpy(space, data + off, take);
		off += take;
		api_linebuf_commit(&lb, take);
		while ((k = api_linebuf_next(&lb, &line, &len)) != API_LINE_NONE) {
			if (k == API_LINE_TOO_LONG) {
				check_reply(api_reply_error(NULL, "too long"), false);
				continue;
			}
			if (len > FUZZ_MAX_LINE || strlen(line) > len)
				abort();
			handle_line(line, len);
		}
	}
	api_linebuf_free(&lb);
	return 0;
}

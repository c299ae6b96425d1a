/* The control socket's protocol without a VM: framing, request checks, replies. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "vmm/api_proto.h"

static int parse(const char *line, struct api_request *req, struct errmsg *err)
{
	return api_parse_request(line, strlen(line), req, NULL, err);
}

/* The request must be refused with a message containing @want. */
static void refused(const char *line, const char *want)
{
	struct api_request req;
	struct errmsg err = { "" };

	ck_assert_msg(parse(line, &req, &err) < 0, "accepted: %s", line);
	ck_assert_msg(strstr(err.text, want), "%s: message '%s' lacks '%s'", line, err.text, want);
	api_request_free(&req);
}

START_TEST(every_command_parses)
{
	static const struct { const char *line; enum api_cmd cmd; } ok[] = {
		{ "{\"cmd\":\"status\"}", API_CMD_STATUS },
		{ "{\"cmd\":\"pause\"}", API_CMD_PAUSE },
		{ " { \"cmd\" : \"resume\" } ", API_CMD_RESUME },
		{ "{\"cmd\":\"shutdown\"}", API_CMD_SHUTDOWN },
		{ "{\"cmd\":\"quit\"}", API_CMD_QUIT },
		{ "{\"cmd\":\"snapshot\",\"path\":\"/tmp/s\"}", API_CMD_SNAPSHOT },
		{ "{\"cmd\":\"events\"}", API_CMD_EVENTS },
	};
	struct api_request req;
	struct errmsg err = { "" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(parse(ok[i].line, &req, &err) == 0, "%s: %s", ok[i].line, err.text);
		ck_assert_int_eq(req.cmd, ok[i].cmd);
		ck_assert_ptr_null(req.id);
		api_request_free(&req);
	}
}
END_TEST

START_TEST(fields_and_defaults)
{
	struct api_request req;
	struct errmsg err = { "" };

	ck_assert_int_eq(parse("{\"cmd\":\"shutdown\"}", &req, &err), 0);
	ck_assert_uint_eq(req.timeout_s, API_DEFAULT_SHUTDOWN_TIMEOUT_S);
	ck_assert_int_eq(parse("{\"cmd\":\"shutdown\",\"timeout_s\":5}", &req, &err), 0);
	ck_assert_uint_eq(req.timeout_s, 5);
	ck_assert_int_eq(parse("{\"cmd\":\"shutdown\",\"timeout_s\":86400}", &req, &err), 0);
	ck_assert_int_eq(parse("{\"cmd\":\"snapshot\",\"path\":\"/a b/ü\",\"stop\":true}", &req,
			       &err), 0);
	ck_assert_str_eq(req.path, "/a b/ü");
	ck_assert(req.stop);
	ck_assert_int_eq(parse("{\"cmd\":\"snapshot\",\"stop\":false,\"path\":\"x\"}", &req, &err), 0);
	ck_assert(!req.stop);
	/* Auto-converge is on unless a migrate says otherwise. */
	ck_assert_int_eq(parse("{\"cmd\":\"migrate\",\"uri\":\"unix:/s\"}", &req, &err), 0);
	ck_assert(req.auto_converge);
	ck_assert_int_eq(parse("{\"cmd\":\"migrate\",\"uri\":\"unix:/s\",\"auto_converge\":false}", &req,
			       &err), 0);
	ck_assert(!req.auto_converge);
	ck_assert_int_eq(req.disks, DISK_STREAM_SHARED);
	ck_assert_int_eq(parse("{\"cmd\":\"migrate\",\"uri\":\"unix:/s\",\"disks\":\"copy-top\"}", &req,
			       &err), 0);
	ck_assert_int_eq(req.disks, DISK_STREAM_COPY_TOP);
	/* An id is echoed: integers and short strings. */
	ck_assert_int_eq(parse("{\"id\":42,\"cmd\":\"status\"}", &req, &err), 0);
	ck_assert(json_is_integer(req.id) && json_integer_value(req.id) == 42);
	api_request_free(&req);
	ck_assert_int_eq(parse("{\"cmd\":\"status\",\"id\":\"abc\"}", &req, &err), 0);
	ck_assert_str_eq(json_string_value(req.id), "abc");
	api_request_free(&req);
}
END_TEST

START_TEST(hostile_requests_are_refused_with_a_reason)
{
	char big[80];

	refused("", "malformed JSON");
	refused("{", "malformed JSON");
	refused("{\"cmd\":\"status\"", "malformed JSON");
	refused("nonsense", "malformed JSON");
	refused("42", "malformed JSON");
	refused("[\"status\"]", "must be a JSON object, not an array");
	refused("{}", "has no \"cmd\"");
	refused("{\"cmd\":7}", "\"cmd\" must be a string, not an integer");
	refused("{\"cmd\":null}", "not null");
	refused("{\"cmd\":\"bogus\"}", "unknown command \"bogus\"");
	refused("{\"cmd\":\"STATUS\"}", "unknown command");
	/* A command name with a NUL in it is not "status". */
	refused("{\"cmd\":\"status\\u0000x\"}", "malformed JSON");
	refused("{\"cmd\":\"status\",\"cmd\":\"quit\"}", "malformed JSON"); /* duplicate key */
	refused("{\"cmd\":\"pause\",\"now\":true}", "pause: unknown field \"now\"");
	refused("{\"cmd\":\"status\",\"timeout_s\":1}", "status: unknown field \"timeout_s\"");
	refused("{\"cmd\":\"shutdown\",\"timeout_s\":0}", "from 1 to 86400");
	refused("{\"cmd\":\"shutdown\",\"timeout_s\":-5}", "from 1 to 86400");
	refused("{\"cmd\":\"shutdown\",\"timeout_s\":86401}", "from 1 to 86400");
	refused("{\"cmd\":\"shutdown\",\"timeout_s\":\"10\"}", "not a string");
	refused("{\"cmd\":\"shutdown\",\"timeout_s\":1.5}", "not a number");
	refused("{\"cmd\":\"shutdown\",\"timeout_s\":99999999999999999999999}", "malformed JSON");
	refused("{\"cmd\":\"snapshot\"}", "\"path\" (the file to write) is required");
	refused("{\"cmd\":\"snapshot\",\"path\":5}", "\"path\" must be a string");
	refused("{\"cmd\":\"snapshot\",\"path\":\"\"}", "1 to 4095 bytes");
	refused("{\"cmd\":\"snapshot\",\"path\":\"x\",\"stop\":\"yes\"}", "\"stop\" must be true or false");
	refused("{\"cmd\":\"migrate\",\"uri\":\"unix:/s\",\"disks\":\"all\"}",
		"\"disks\" must be \"shared\", \"copy\" or \"copy-top\"");
	refused("{\"cmd\":\"migrate\",\"uri\":\"unix:/s\",\"auto_converge\":1}",
		"\"auto_converge\" must be true or false, not an integer");
	refused("{\"cmd\":\"status\",\"auto_converge\":true}", "status: unknown field \"auto_converge\"");
	refused("{\"cmd\":\"status\",\"id\":[1]}", "\"id\" must be an integer or a string");
	refused("{\"cmd\":\"status\",\"id\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}",
		"\"id\"");
	refused("{\"cmd\":\"st\xc3\"}", "malformed JSON"); /* invalid UTF-8 */
	/* Names quoted back are cut and cleaned. */
	memset(big, 'A', sizeof(big));
	memcpy(big, "{\"cmd\":\"", 8);
	memcpy(big + sizeof(big) - 3, "\"}", 3);
	refused(big, "AAA...");
	refused("{\"cmd\":\"a\\u001b[31mb\"}", "a?[31mb");
}
END_TEST

START_TEST(id_survives_an_error)
{
	struct api_request req;
	struct errmsg err = { "" };
	json_t *id = NULL;
	const char *bad = "{\"id\":\"r1\",\"cmd\":\"nope\"}";

	ck_assert_int_lt(api_parse_request(bad, strlen(bad), &req, &id, &err), 0);
	ck_assert_ptr_nonnull(id);
	ck_assert_str_eq(json_string_value(id), "r1");
	json_decref(id);
	/* A line over the limit is refused before parsing. */
	ck_assert_int_eq(api_parse_request(bad, API_MAX_LINE + 1, &req, NULL, &err), -E2BIG);
}
END_TEST

START_TEST(replies_are_one_json_line)
{
	json_t *id = json_integer(7), *r;
	char *line;

	line = api_reply_ok(id, json_pack("{s:s,s:s}", "state", "paused", "ok", "spoofed"));
	ck_assert_ptr_nonnull(line);
	ck_assert_str_eq(line, "{\"ok\":true,\"id\":7,\"state\":\"paused\"}\n");
	free(line);
	line = api_reply_ok(NULL, NULL);
	ck_assert_str_eq(line, "{\"ok\":true}\n");
	free(line);
	/* Messages with newlines and quotes stay one line of valid JSON. */
	line = api_reply_error(id, "bad \"thing\"\nsecond line");
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
	r = json_loads(line, 0, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert(json_is_false(json_object_get(r, "ok")));
	ck_assert_str_eq(json_string_value(json_object_get(r, "error")), "bad \"thing\"\nsecond line");
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 7);
	json_decref(r);
	free(line);
	line = api_event_line("paused", json_pack("{s:s}", "state", "paused"));
	ck_assert_str_eq(line, "{\"event\":\"paused\",\"state\":\"paused\"}\n");
	free(line);
	json_decref(id);
}
END_TEST

START_TEST(strings_that_are_not_utf8)
{
	json_t *s = api_json_string("/tmp/\xff\xfe.img");

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(json_string_value(s), "/tmp/??.img");
	json_decref(s);
	s = api_json_string("plain");
	ck_assert_str_eq(json_string_value(s), "plain");
	json_decref(s);
}
END_TEST

/* Feeds @input to a line buffer of @max bytes in chunks of @chunk; returns the lines seen as
 * "L:text|" and "T|" (too long) in @out. */
static void feed(const char *input, size_t n, size_t max, size_t chunk, char *out, size_t cap)
{
	struct api_linebuf lb;
	size_t off = 0;

	out[0] = '\0';
	ck_assert_int_eq(api_linebuf_init(&lb, max), 0);
	while (off < n) {
		size_t avail, take;
		char *space = api_linebuf_space(&lb, &avail), *line;
		size_t len;
		enum api_line_kind k;

		ck_assert_uint_gt(avail, 0);
		take = n - off < chunk ? n - off : chunk;
		if (take > avail)
			take = avail;
		memcpy(space, input + off, take);
		off += take;
		api_linebuf_commit(&lb, take);
		while ((k = api_linebuf_next(&lb, &line, &len)) != API_LINE_NONE) {
			size_t used = strlen(out);

			if (k == API_LINE_TOO_LONG) {
				snprintf(out + used, cap - used, "T|");
			} else {
				ck_assert_uint_eq(strlen(line), len);
				snprintf(out + used, cap - used, "L:%s|", line);
			}
		}
	}
	api_linebuf_free(&lb);
}

START_TEST(line_framing)
{
	const char in[] = "ab\ncd\r\n\n0123456789\n0123456789ABC\nxy\n012345678901234567890123456789\nend";
	char out[256];

	for (size_t chunk = 1; chunk <= sizeof(in); chunk++) {
		feed(in, sizeof(in) - 1, 10, chunk, out, sizeof(out));
		/* Lines up to 10 bytes pass; longer ones are reported once and skipped whole; the
		 * last line has no '\n' yet. */
		ck_assert_msg(!strcmp(out, "L:ab|L:cd|L:|L:0123456789|T|L:xy|T|"),
			      "chunk %zu: %s", chunk, out);
	}
}
END_TEST

Suite *suite_api_proto(void)
{
	Suite *s = suite_create("api_proto");
	TCase *tc = tcase_create("api_proto");

	tcase_add_test(tc, every_command_parses);
	tcase_add_test(tc, fields_and_defaults);
	tcase_add_test(tc, hostile_requests_are_refused_with_a_reason);
	tcase_add_test(tc, id_survives_an_error);
	tcase_add_test(tc, replies_are_one_json_line);
	tcase_add_test(tc, strings_that_are_not_utf8);
	tcase_add_test(tc, line_framing);
	suite_add_tcase(s, tc);
	return s;
}

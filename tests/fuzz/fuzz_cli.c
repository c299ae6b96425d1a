/* libFuzzer target: `minivmm run`'s argument parser, the --disk/--net/--memory/--serial/...
 * option parsers behind it included. The input is the argument list: NUL-separated words (a
 * user's shell can pass any bytes but NUL). Checks: no crash or sanitizer report, every refusal
 * says why, and an accepted configuration keeps its own limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/cli.h"

#define FUZZ_MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[FUZZ_MAX_ARGS + 2], *p;
	struct vm_config cfg = { 0 };
	struct errmsg err = { "" };
	int argc = 0, ret;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = "run";
	for (p = buf; p < buf + size && argc <= FUZZ_MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	ret = cli_parse_run(argc, argv, &cfg, &err);
	if (ret < 0 && !err.text[0])
		abort(); /* a refusal that names nothing */
	if (ret == CLI_RUN && (cfg.cpus < 1 || cfg.cpus > 1024 /* CLI_MAX_CPUS */ || cfg.mem_size == 0))
		abort();
	free(buf);
	return 0;
}

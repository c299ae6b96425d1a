/* `minivmm run` flags → struct vm_config. */
#ifndef MINIVMM_CLI_H
#define MINIVMM_CLI_H

#include "vmm/config.h"
#include "vmm/errmsg.h"

enum cli_result { CLI_RUN = 0, CLI_HELP = 1, CLI_VERSION = 2 };

/* Parses argv (starting after "run"). Values point into argv, which may be modified in place.
 * Returns CLI_RUN, CLI_HELP, CLI_VERSION, or -errno with @err naming the flag. */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, struct errmsg *err);

/* Pieces reused by later flags: "--memory 1G" or "size=1G,hugepages=on". */
int cli_parse_memory(char *arg, struct vm_config *cfg, struct errmsg *err);
/* "stdio", "off", "file=PATH" for --serial (and later --console). */
int cli_parse_chardev(const char *flag, const char *arg, struct chardev_config *out,
		      struct errmsg *err);

/* "path=FILE,readonly=on,..." for --disk (repeatable). */
int cli_parse_disk(char *arg, struct vm_config *cfg, struct errmsg *err);
int cli_parse_net(char *arg, struct vm_config *cfg, struct errmsg *err);

extern const char cli_run_usage[];

#endif

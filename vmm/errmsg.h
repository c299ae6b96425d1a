/* Error messages that name the thing that was wrong.
 *
 * Library code never prints and never exits: it fills a struct errmsg and returns -errno, and
 * main() decides what to do with it. */
#ifndef MINIVMM_ERRMSG_H
#define MINIVMM_ERRMSG_H

#include <stddef.h>

struct errmsg {
	char text[512];
};

/* Formats the message into @e (if non-NULL) and returns @err, so that callers can write
 * `return errmsg_set(e, -EINVAL, "...")`. */
int errmsg_set(struct errmsg *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with "prefix: " (for context added by a caller). */
int errmsg_prefix(struct errmsg *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif

#include "vmm/errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int errmsg_set(struct errmsg *e, int err, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return err;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	return err;
}

int errmsg_prefix(struct errmsg *e, int err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(e->text)];
	va_list ap;

	if (!e)
		return err;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->text, sizeof(old));
	/* Truncation is acceptable: the message is for people. */
	if (snprintf(e->text, sizeof(e->text), "%s: %.*s", prefix, (int)(sizeof(old) - 1), old) < 0)
		e->text[0] = '\0';
	return err;
}

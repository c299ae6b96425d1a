#include "vmm/machine.h"

#include <stdio.h>

void machine_request_stop(struct machine *m, enum vm_stop_reason reason, int status,
			  const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!m->stop)
		return;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	m->stop(m->owner, reason, status, fmt ? msg : NULL);
}

void machine_trace(struct machine *m, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	if (!m->trace)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	m->trace(m->owner, what);
}

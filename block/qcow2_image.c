/* qcow2 layer 2: what every layer above may need of an open image besides its fields. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "block/qcow2_file.h"
#include "block/qcow2_image.h"

int qcow2_corrupt(struct qcow2 *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->err.text, sizeof(q->err.text), fmt, ap);
	va_end(ap);
	return -EIO;
}

int qcow2_backing_read(struct qcow2 *q, void *buf, uint64_t len, uint64_t off)
{
	uint64_t have = off < q->backing.size ? q->backing.size - off : 0;
	int ret = 0;

	if (have > len)
		have = len;
	if (have) {
		if (q->backing.q) {
			ret = q->backing.read(q->backing.q, buf, have, off);
		} else {
			ssize_t n = qcow2_read_upto(q->backing.fd, buf, have, off);

			ret = n < 0 ? (int)n : 0; /* past a shrunk file's end: zeros */
		}
	}
	memset((uint8_t *)buf + have, 0, len - have);
	return ret;
}

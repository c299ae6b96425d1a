/* libFuzzer target: the input is a qcow2 image file. Open it read-write, read and write a few
 * places chosen from the input, discard, flush, close, then run `img check` on the result.
 * Any crash, sanitizer report or hang is a bug; errors are the expected outcome. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"

static char dir[64], path[96];

static uint64_t pick(const uint8_t *data, size_t size, size_t i)
{
	uint64_t v = 0;

	for (size_t k = 0; k < 8; k++)
		v = v << 8 | (size ? data[(size - 1 - (i * 8 + k) % size)] : 0);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[1 << 17];
	struct qcow2_check_result res;
	struct errmsg err;
	struct qcow2 *q;
	FILE *devnull;
	int fd;

	if (!dir[0]) {
		/* Backing file names resolve here, where nothing else lives. */
		snprintf(dir, sizeof(dir), "/tmp/fuzz_qcow2.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/image.qcow2", dir);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (qcow2_open(path, false, &q, NULL, &err) == 0) {
		uint64_t vsize = qcow2_size(q);

		for (size_t i = 0; i < 6 && vsize; i++) {
			uint64_t off = pick(data, size, i) % vsize;
			uint64_t len = 1 + pick(data, size, i + 6) % sizeof(buf);

			if (len > vsize - off)
				len = vsize - off;
			if (i < 3) {
				(void)qcow2_pread(q, buf, len, off);
			} else if (i < 5) {
				memset(buf, (int)i, len);
				(void)qcow2_pwrite(q, buf, len, off);
			} else {
				(void)qcow2_zero(q, off, len, true);
			}
		}
		(void)qcow2_flush(q);
		qcow2_close(q);
		devnull = fopen("/dev/null", "w");
		if (devnull) {
			(void)qcow2_check(path, devnull, &res, &err);
			fclose(devnull);
		}
	}
	return 0;
}

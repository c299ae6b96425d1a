#include "block/iov.h"

#include <errno.h>
#include <string.h>

uint64_t iov_total(const struct iovec *iov, int cnt)
{
	uint64_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

int iov_slice(const struct iovec *iov, int cnt, uint64_t skip, uint64_t len, struct iovec *out,
	      int max)
{
	int n = 0;

	for (int i = 0; i < cnt && len; i++) {
		uint64_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		if (n == max)
			return -E2BIG;
		l -= skip;
		if (l > len)
			l = len;
		out[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[n].iov_len = l;
		n++;
		len -= l;
		skip = 0;
	}
	return n;
}

/* Calls @fn on each piece of [skip, skip+len) of @iov. */
static void iov_walk(const struct iovec *iov, int cnt, uint64_t skip, uint64_t len,
		     void (*fn)(void *iov_part, uint64_t done, uint64_t n, void *arg), void *arg)
{
	uint64_t done = 0;

	for (int i = 0; i < cnt && done < len; i++) {
		uint64_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len - done)
			l = len - done;
		fn((uint8_t *)iov[i].iov_base + skip, done, l, arg);
		done += l;
		skip = 0;
	}
}

static void part_from_buf(void *part, uint64_t done, uint64_t n, void *arg)
{
	memcpy(part, (const uint8_t *)arg + done, n);
}

static void part_to_buf(void *part, uint64_t done, uint64_t n, void *arg)
{
	memcpy((uint8_t *)arg + done, part, n);
}

static void part_memset(void *part, uint64_t done, uint64_t n, void *arg)
{
	(void)done;
	memset(part, *(int *)arg, n);
}

void iov_from_buf(const struct iovec *iov, int cnt, uint64_t skip, const void *buf, uint64_t len)
{
	iov_walk(iov, cnt, skip, len, part_from_buf, (void *)buf);
}

void iov_to_buf(const struct iovec *iov, int cnt, uint64_t skip, void *buf, uint64_t len)
{
	iov_walk(iov, cnt, skip, len, part_to_buf, buf);
}

void iov_memset(const struct iovec *iov, int cnt, uint64_t skip, int c, uint64_t len)
{
	iov_walk(iov, cnt, skip, len, part_memset, &c);
}

/* Helpers over iovec arrays: slices, copies and zero-fill at a byte offset. */
#ifndef MINIVMM_BLOCK_IOV_H
#define MINIVMM_BLOCK_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

uint64_t iov_total(const struct iovec *iov, int cnt);
/* Fills @out (at most @max entries) with the bytes [skip, skip+len) of @iov; returns the
 * number of entries, or -E2BIG when @max is too small. */
int iov_slice(const struct iovec *iov, int cnt, uint64_t skip, uint64_t len, struct iovec *out,
	      int max);
void iov_from_buf(const struct iovec *iov, int cnt, uint64_t skip, const void *buf, uint64_t len);
void iov_to_buf(const struct iovec *iov, int cnt, uint64_t skip, void *buf, uint64_t len);
void iov_memset(const struct iovec *iov, int cnt, uint64_t skip, int c, uint64_t len);

#endif

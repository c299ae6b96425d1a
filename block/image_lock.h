/* Image locks that QEMU understands, so that minivmm and QEMU's tools see each other's use. */
#ifndef MINIVMM_BLOCK_IMAGE_LOCK_H
#define MINIVMM_BLOCK_IMAGE_LOCK_H

#include <stdbool.h>

/* Takes the locks of a writer (@write) or of a reader on @fd: 0, -EAGAIN when another process
 * holds the image in a way that excludes this use (a writer excludes other writers and plain
 * readers; readers exclude writers; `qemu-img info -U` style shared readers fit beside either),
 * or another -errno. Filesystems without locks: 0. The locks go with the file description. */
int image_lock(int fd, bool write) __attribute__((warn_unused_result));

/* Gives up every lock image_lock() took on @fd (a migration hands the image over). */
void image_unlock(int fd);

/* What a failed image_lock() means, for an error message. */
const char *image_lock_strerror(int ret);

#endif

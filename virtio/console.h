/* virtio-console, port 0 only (no MULTIPORT): the transmit queue goes to an output (stdout, a
 * file, nowhere), the receive queue is fed from stdin when the console owns it. */
#ifndef MINIVMM_VIRTIO_CONSOLE_H
#define MINIVMM_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/config.h"
#include "vmm/errmsg.h"

struct machine;
struct stdin_input;
struct virtio_console;

/* In virtio-mmio slot @slot; @input is told when receive buffers arrive. The machine's device
 * list owns it from then on. */
int virtio_console_create(struct machine *m, unsigned slot, struct stdin_input *input,
			  const struct chardev_config *cfg, struct virtio_console **out,
			  struct errmsg *err) __attribute__((warn_unused_result));
void virtio_console_destroy(struct virtio_console *c);

/* stdin_push_fn: hands input to the guest's posted receive buffers. */
size_t virtio_console_push_input(void *console, const uint8_t *buf, size_t len);

#endif

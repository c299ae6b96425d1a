/* Inside the virtio module (mmio.c and transport_state.c): what the transport's device-list
 * entry does. Not for device code. */
#ifndef MINIVMM_VIRTIO_TRANSPORT_STATE_H
#define MINIVMM_VIRTIO_TRANSPORT_STATE_H

#include "virtio/device.h"
#include "vmm/device.h"

/* Pause, resume, save, load, reset and destroy of a virtio-mmio device: transport, queues,
 * then the device's own hooks. */
extern const struct dev_ops virtio_dev_list_ops;

/* The driver's reset (Status = 0), also the machine's. d->lock held. */
void virtio_transport_reset(struct virtio_dev *d);

#endif

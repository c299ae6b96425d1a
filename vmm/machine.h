/* What a device may see of the VM it belongs to: guest memory, the two buses, the event loop,
 * the KVM VM descriptor (ioeventfds, irqfds, IRQ lines), the list devices join, and two calls
 * back (stop the VM, trace a boot milestone). Devices get this, never struct vm, so they cannot
 * reach vCPUs, other devices or the VM's lifecycle. vm.c fills it in. */
#ifndef MINIVMM_MACHINE_H
#define MINIVMM_MACHINE_H

#include <stdarg.h>

#include "vmm/bus.h"
#include "vmm/device.h"
#include "vmm/evloop.h"
#include "vmm/memory.h"

enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_EXIT_PORT,  /* guest wrote its verdict to the exit port */
	VM_STOP_POWEROFF,
	VM_STOP_REBOOT,
	VM_STOP_SIGNAL,
	VM_STOP_TIMEOUT,
	VM_STOP_QUIT,       /* Ctrl-A x, or the control socket's quit */
	VM_STOP_ERROR,
	VM_STOP_SHUTDOWN_TIMEOUT, /* a graceful shutdown the guest did not finish in time */
	VM_STOP_SNAPSHOT,   /* snapshot {stop: true} */
	VM_STOP_MIGRATED,   /* the destination confirmed a migration: it runs the VM now */
};

struct machine {
	struct guest_mem *mem;
	struct bus *pio;
	struct bus *mmio;
	struct evloop *loop;
	int vm_fd;                 /* -1 in tests and benches without KVM */
	struct dev_list *devices;
	/* Any thread. The first request wins; @msg may be NULL. */
	void (*stop)(void *owner, enum vm_stop_reason reason, int status, const char *msg);
	/* --boot-trace milestone (no-op without the flag). */
	void (*trace)(void *owner, const char *what);
	void *owner;
};

void machine_request_stop(struct machine *m, enum vm_stop_reason reason, int status,
			  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void machine_trace(struct machine *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

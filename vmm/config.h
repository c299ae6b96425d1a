/* What the user asked for: the parsed command line of `minivmm run`. */
#ifndef MINIVMM_CONFIG_H
#define MINIVMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "block/disk.h"
#include "virtio/net.h"
#include "vmm/privs.h"
#include "vmm/seccomp.h"

enum chardev_mode { CHARDEV_STDIO, CHARDEV_FILE, CHARDEV_OFF };

struct chardev_config {
	enum chardev_mode mode;
	const char *path; /* CHARDEV_FILE */
};

#define VM_DEFAULT_MEM (512ULL << 20)
#define VM_MIN_MEM (2ULL << 20)
#define VM_MAX_DISKS 8
#define VM_MAX_NETS 4

struct vm_config {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	unsigned cpus;
	uint64_t mem_size;
	bool hugepages;
	bool mergeable;         /* --memory merge=on: KSM */
	struct chardev_config serial;
	struct chardev_config console;  /* virtio-console; off by default */
	struct disk_config disks[VM_MAX_DISKS];
	unsigned nr_disks;
	struct net_config nets[VM_MAX_NETS];
	unsigned nr_nets;
	unsigned timeout_sec;   /* 0: no timeout */
	uint32_t kvm_pv_off;    /* KVM_FEATURE_* bits hidden from the guest (--kvm-pv-off) */
	bool verbose;
	bool boot_trace;        /* milestones and POST codes to stderr */
	bool acpi;              /* ACPI tables (default) or an MP table */
	/* Announce virtio-mmio devices as virtio_mmio.device= on the kernel command line. Default
	 * (auto): only without ACPI. With a hardware-reduced FADT, Linux sets up no legacy PIC, so
	 * a raw IRQ number from the command line has no descriptor (request_irq fails, -EINVAL);
	 * the DSDT's GSI is mapped through the IOAPIC instead. Both at once make Linux probe every
	 * device twice. */
	enum { VIRTIO_CMDLINE_AUTO, VIRTIO_CMDLINE_ON, VIRTIO_CMDLINE_OFF } virtio_cmdline;
	const char *dump_acpi;  /* directory to write the ACPI tables to, or NULL */
	const char *restore;    /* --restore FILE: start from this snapshot instead of booting */
	const char *incoming;   /* --incoming URI: start from a live migration instead */
	bool start_paused;      /* --paused: the vCPUs wait for `ctl resume` */
	bool reboot_fails;      /* --on-reboot fail: a guest reboot exits with status 1 */
	const char *api_socket; /* --api-socket PATH: the control socket (vmm/api.h), or NULL */
	struct privs_config privs;     /* --user, --chroot: applied by main() after setup */
	enum seccomp_policy seccomp;   /* --seccomp on (default), log, off */
	/* The filters for @seccomp (NULL when off): main() owns them, setup builds them, then
	 * each thread installs its own kind's (docs/hardening.md). */
	struct seccomp_set *seccomp_set;
	struct timespec t_main; /* when main() started: the origin of --boot-trace times */
};

/* Milliseconds since cfg->t_main. */
static inline double config_elapsed_ms(const struct vm_config *cfg)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - cfg->t_main.tv_sec) * 1e3 +
	       (double)(now.tv_nsec - cfg->t_main.tv_nsec) / 1e6;
}

#endif

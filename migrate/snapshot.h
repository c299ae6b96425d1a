/* Snapshot a running VM to a file, and start a VM from one (migrate/stream.h has the format).
 *
 * A snapshot pauses the VM (vCPUs parked, devices quiesced: disks' requests completed and
 * their images stable), writes the configuration, the VM's, vCPUs' and devices' state and the
 * non-zero pages of guest RAM, syncs the file, and resumes (or stops the VM). The file appears
 * under its name only once complete (written beside it, then renamed).
 *
 * A restore builds the VM from the same flags (devices in the same slots), checks the file's
 * configuration against it field by field, reads RAM into the fresh (zeroed) guest memory,
 * checks every section, then loads the VM, vCPU and device state; nothing runs before the
 * whole file has been read and checked. */
#ifndef MINIVMM_SNAPSHOT_H
#define MINIVMM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/errmsg.h"

struct vm;

/* I/O thread. With @stop the VM then stops (status 0) instead of resuming. */
int vm_snapshot(struct vm *vm, const char *path, bool stop, struct errmsg *err)
	__attribute__((warn_unused_result));

/* The STATE section of a paused VM (I/O thread): the VM's (irqchip, PIT, clock), every
 * vCPU's and every device's state, an FDT (malloc'd). */
int vm_state_capture(struct vm *vm, void **state, size_t *len, struct errmsg *err)
	__attribute__((warn_unused_result));

/* During vm_create(), after the vCPUs exist and before any runs. */
int vm_restore(struct vm *vm, const char *path, struct errmsg *err)
	__attribute__((warn_unused_result));

struct stream_reader;
/* Reads a whole stream into @vm (a snapshot file, or a migration's connection): CONFIG checked
 * first, then RAM and STATE, then END; the state is applied only after END. @whole_file: the
 * source must end right after END. */
int vm_receive_stream(struct vm *vm, struct stream_reader *r, bool whole_file,
		      struct errmsg *err) __attribute__((warn_unused_result));

/* The configuration of @vm as the snapshot records it (an FDT, malloc'd): RAM size, vCPUs,
 * ACPI, the CPUID the guest sees, and each device with its backend. */
int snapshot_config_build(struct vm *vm, void **fdt, size_t *len)
	__attribute__((warn_unused_result));

/* The configuration the file records (an FDT) must match the one @vm has; the first field that
 * differs is named, @theirs naming where @saved comes from ("the snapshot", "the source").
 * Exposed for the unit tests and the fuzzer. */
int snapshot_config_compare(const void *saved, const void *current, const char *theirs,
			    struct errmsg *err)
	__attribute__((warn_unused_result));

#endif

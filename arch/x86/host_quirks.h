/* Work-arounds for KVMs that emulate guest kernel code in software (nested, page-table based
 * ones such as this project's CI hosts, see ../shared/KVM-NOTES.md). On hardware VT-x/SVM these
 * never fire. */
#ifndef MINIVMM_X86_HOST_QUIRKS_H
#define MINIVMM_X86_HOST_QUIRKS_H

#include <linux/kvm.h>

#include "vmm/memory.h"

/* On KVM_EXIT_INTERNAL_ERROR at CPL 0, finishes the two instructions such emulators fail on that
 * Linux executes in the kernel:
 *   int3  (0xCC): delivers the #BP the CPU would raise (RIP past it, vector 3 injected);
 *   fwait (0x9B): skips it: with no x87 exception pending it does nothing, and the one pending
 *                 case Linux meets (fpu__drop at task exit) is one it ignores on purpose.
 * Returns 0 when handled, -ENOTSUP for any other failure (the caller reports it). */
int x86_quirk_emulation_failure(int vcpu_fd, const struct guest_mem *gm,
				const struct kvm_run *run);

#endif

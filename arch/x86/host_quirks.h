/* Which KVM this is, and the work-arounds for KVMs that emulate guest kernel code in software
 * (nested, page-table based ones such as kvm_pvm, see ../shared/KVM-NOTES.md). The flavour is
 * detected once per VM; the work-arounds apply only to the software flavour and never change
 * what happens on hardware VT-x/SVM. */
#ifndef MINIVMM_X86_HOST_QUIRKS_H
#define MINIVMM_X86_HOST_QUIRKS_H

#include <stdbool.h>
#include <linux/kvm.h>

#include "vmm/memory.h"

enum x86_kvm_flavour {
	X86_KVM_VMX,  /* kvm_intel: hardware VT-x (possibly nested) */
	X86_KVM_SVM,  /* kvm_amd: hardware AMD-V (possibly nested, e.g. the QEMU/TCG test box) */
	X86_KVM_SOFT, /* kvm_pvm or any KVM on a CPU without VT-x/SVM: guest ring 0 is emulated */
};

/* What the decision rests on, gathered by x86_kvm_flavour_detect(). */
struct x86_kvm_facts {
	bool cpu_vmx, cpu_svm;                 /* CPUID 1.ECX[5], 0x80000001.ECX[2] */
	bool mod_intel, mod_amd, mod_pvm;      /* /sys/module/kvm_{intel,amd,pvm} */
};

/* A KVM on a CPU that offers neither VT-x nor SVM cannot be hardware-assisted; kvm_pvm loaded
 * without a hardware vendor module is the software one too. */
enum x86_kvm_flavour x86_kvm_flavour_of(const struct x86_kvm_facts *f);
enum x86_kvm_flavour x86_kvm_flavour_detect(void);
/* "vmx", "svm" or "soft", and a sentence for people. */
const char *x86_kvm_flavour_name(enum x86_kvm_flavour f);
const char *x86_kvm_flavour_desc(enum x86_kvm_flavour f);

/* On KVM_EXIT_INTERNAL_ERROR at CPL 0 on the software flavour, finishes the two instructions
 * such emulators fail on that Linux executes in the kernel:
 *   int3  (0xCC): delivers the #BP the CPU would raise (RIP past it, vector 3 injected);
 *   fwait (0x9B): skips it: with no x87 exception pending it does nothing, and the one pending
 *                 case Linux meets (fpu__drop at task exit) is one it ignores on purpose.
 * Returns 0 when handled, -ENOTSUP for any other failure or flavour (the caller reports it). */
int x86_quirk_emulation_failure(enum x86_kvm_flavour flavour, int vcpu_fd,
				const struct guest_mem *gm, const struct kvm_run *run);

#endif

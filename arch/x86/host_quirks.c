#include "arch/x86/host_quirks.h"

#include <cpuid.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86/regs.h"

#define INT3_OPCODE 0xcc
#define FWAIT_OPCODE 0x9b
#define BP_VECTOR 3

enum x86_kvm_flavour x86_kvm_flavour_of(const struct x86_kvm_facts *f)
{
	if (!f->cpu_vmx && !f->cpu_svm)
		return X86_KVM_SOFT;
	if (f->mod_pvm && !f->mod_intel && !f->mod_amd)
		return X86_KVM_SOFT;
	if (f->mod_amd || (!f->mod_intel && f->cpu_svm))
		return X86_KVM_SVM;
	return X86_KVM_VMX;
}

enum x86_kvm_flavour x86_kvm_flavour_detect(void)
{
	struct x86_kvm_facts f = {
		.mod_intel = access("/sys/module/kvm_intel", F_OK) == 0,
		.mod_amd = access("/sys/module/kvm_amd", F_OK) == 0,
		.mod_pvm = access("/sys/module/kvm_pvm", F_OK) == 0,
	};
	unsigned a, b, c, d;

	if (__get_cpuid(1, &a, &b, &c, &d))
		f.cpu_vmx = c & (1u << 5);
	if (__get_cpuid(0x80000001, &a, &b, &c, &d))
		f.cpu_svm = c & (1u << 2);
	return x86_kvm_flavour_of(&f);
}

const char *x86_kvm_flavour_name(enum x86_kvm_flavour f)
{
	return f == X86_KVM_VMX ? "vmx" : f == X86_KVM_SVM ? "svm" : "soft";
}

const char *x86_kvm_flavour_desc(enum x86_kvm_flavour f)
{
	switch (f) {
	case X86_KVM_VMX:
		return "hardware-assisted (Intel VT-x): guest code runs natively";
	case X86_KVM_SVM:
		return "hardware-assisted (AMD-V): guest code runs natively";
	default:
		return "software (no VT-x/SVM, e.g. kvm_pvm): guest ring 0 goes through KVM's instruction emulator";
	}
}

int x86_quirk_emulation_failure(enum x86_kvm_flavour flavour, int vcpu_fd,
				const struct guest_mem *gm, const struct kvm_run *run)
{
	struct kvm_vcpu_events ev;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint8_t op;

	if (flavour != X86_KVM_SOFT || run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION ||
	    vcpu_fd < 0)
		return -ENOTSUP;
	if (ioctl(vcpu_fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -ENOTSUP;
	if (sregs.cs.dpl != 0)
		return -ENOTSUP;
	if (x86_read_at_rip(vcpu_fd, gm, &regs, &sregs, &op, 1) ||
	    (op != INT3_OPCODE && op != FWAIT_OPCODE))
		return -ENOTSUP;
	/* Both are one byte; #BP is a trap, delivered with RIP already past the instruction. */
	regs.rip += 1;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -ENOTSUP;
	if (op == FWAIT_OPCODE)
		return 0;
	if (ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -ENOTSUP;
	ev.exception.injected = 1;
	ev.exception.nr = BP_VECTOR;
	ev.exception.has_error_code = 0;
	ev.exception.error_code = 0;
	ev.flags = 0;
	return ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0 ? -ENOTSUP : 0;
}

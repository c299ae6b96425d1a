#include "arch/x86/host_quirks.h"

#include <errno.h>
#include <sys/ioctl.h>

#include "arch/x86/regs.h"

#define INT3_OPCODE 0xcc
#define FWAIT_OPCODE 0x9b
#define BP_VECTOR 3

int x86_quirk_emulation_failure(int vcpu_fd, const struct guest_mem *gm,
				const struct kvm_run *run)
{
	struct kvm_vcpu_events ev;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint8_t op;

	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION || vcpu_fd < 0)
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

/* The startup floor on this host: the least a VMM must do before a guest can say anything.
 * Opens /dev/kvm, creates a VM, one memory slot and one vCPU, runs a 3-instruction real-mode
 * guest to its first port write and prints the byte it wrote (as a serial console would).
 * Nothing else: no irqchip, no CPUID, no page tables. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_SIZE (64 << 20)

int main(void)
{
	/* mov $0x3f8, %dx; mov $'H', %al; out %al, (%dx); hlt */
	static const unsigned char code[] = { 0xba, 0xf8, 0x03, 0xb0, 'H', 0xee, 0xf4 };
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, vcpu, run_size;
	struct kvm_userspace_memory_region slot;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	unsigned char *mem;

	if (kvm < 0 || (vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0) {
		perror("kvm");
		return 1;
	}
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	memcpy(mem + 0x1000, code, sizeof(code));
	slot = (struct kvm_userspace_memory_region){ 0, 0, 0, MEM_SIZE, (unsigned long)mem };
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0 ||
	    (vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0) {
		perror("kvm setup");
		return 1;
	}
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	ioctl(vcpu, KVM_GET_SREGS, &sregs);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	ioctl(vcpu, KVM_SET_SREGS, &sregs);
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x1000;
	regs.rflags = 2;
	ioctl(vcpu, KVM_SET_REGS, &regs);
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			perror("KVM_RUN");
			return 1;
		}
		if (run->exit_reason == KVM_EXIT_IO) {
			char c = *((char *)run + run->io.data_offset);

			if (write(1, &c, 1) != 1)
				return 1;
			return 0;
		}
		if (run->exit_reason != KVM_EXIT_INTR)
			return 2;
	}
}

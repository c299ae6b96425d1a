/* vCPU threads and KVM exit dispatch. */
#ifndef MINIVMM_VCPU_H
#define MINIVMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	unsigned throttle_seen;  /* the last throttle tick this vCPU slept for */
};

enum vcpu_exit_action { VCPU_CONTINUE = 0, VCPU_STOP = 1 };

/* Creates vCPU @id: fd, kvm_run mapping, CPUID, MSRs, LAPIC, and for the BSP the boot entry. */
int vcpu_init(struct vm *vm, struct vcpu *v, unsigned id) __attribute__((warn_unused_result));

/* Handles one exit: routes port and MMIO accesses to the VM's buses, turns shutdown into a
 * reboot request and failures into an error stop. No KVM calls on the I/O path, so it is
 * unit-tested with a hand-filled kvm_run. */
enum vcpu_exit_action vcpu_handle_exit(struct vm *vm, struct vcpu *v, struct kvm_run *run);

int vcpu_start(struct vcpu *v) __attribute__((warn_unused_result));

/* Makes a running KVM_RUN return (immediate_exit plus a signal) so the thread sees a stop or
 * a pause request (vmm/lifecycle.h). */
void vcpu_kick(struct vcpu *v);
/* Interrupts a running KVM_RUN without asking for anything (no immediate_exit): the thread
 * then takes its auto-converge sleep, if any (migrate/throttle.h). A nudge that finds the
 * thread outside KVM_RUN is lost, which the next one makes up for. */
void vcpu_nudge(struct vcpu *v);

/* The vCPU throttle's time slice: a throttled vCPU runs about this long, then sleeps
 * pct / (100 - pct) of it. */
#define VCPU_THROTTLE_SLICE_NS 10000000ULL
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

/* Installs the no-op handler of the kick signal. Once per process, before any vCPU starts. */
int vcpu_install_kick_handler(void);

#endif

#include "arch/x86/kvm_state.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "vmm/state.h"

#define MSR_MAX 1024   /* far above what any KVM lists (~100); bounds a hostile blob */

/* One saved MSR: index and value, as KVM's struct kvm_msr_entry without its padding. */
struct msr_rec {
	uint32_t index;
	uint32_t pad;
	uint64_t data;
};

int x86_msr_list_get(int kvm_fd, struct x86_msr_list **out)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *l;
	struct x86_msr_list *r;

	/* The first call fails with E2BIG and says how many there are. */
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	if (probe.nmsrs > MSR_MAX)
		return -E2BIG;
	l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
	if (!l)
		return -ENOMEM;
	l->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		int ret = -errno;

		free(l);
		return ret;
	}
	r = malloc(sizeof(*r) + l->nmsrs * sizeof(uint32_t));
	if (!r) {
		free(l);
		return -ENOMEM;
	}
	r->n = l->nmsrs;
	memcpy(r->idx, l->indices, l->nmsrs * sizeof(uint32_t));
	free(l);
	*out = r;
	return 0;
}

/* Everything KVM_GET_* gives for one vCPU. */
struct x86_vcpu_state {
	uint32_t nmsrs;
	struct msr_rec *msrs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
	struct kvm_debugregs dregs;
	struct kvm_regs regs;
	struct kvm_xsave xsave;    /* last: newer headers end it with a flexible array */
};

/* One fixed-size KVM structure per property: get/set ioctl pairs, in the order they are
 * applied (as in KVM's selftests and QEMU): special registers (APIC base, EFER) before the
 * MSRs, the LAPIC after them, MP state before pending events, general registers last. The
 * MSRs go right after sregs. */
struct vcpu_part {
	const char *name;
	unsigned long get, set;
	size_t off, size;
};

#define PART(n, g, f) { n, KVM_GET_##g, KVM_SET_##g, offsetof(struct x86_vcpu_state, f), \
			sizeof(((struct x86_vcpu_state *)0)->f) }
static const struct vcpu_part vcpu_parts[] = {
	PART("sregs", SREGS, sregs),
	PART("xcrs", XCRS, xcrs),
	PART("xsave", XSAVE, xsave),
	PART("lapic", LAPIC, lapic),
	PART("mp-state", MP_STATE, mp),
	PART("events", VCPU_EVENTS, events),
	PART("debugregs", DEBUGREGS, dregs),
	PART("regs", REGS, regs),
};
#define NR_PARTS (sizeof(vcpu_parts) / sizeof(vcpu_parts[0]))

void x86_vcpu_state_free(struct x86_vcpu_state *s)
{
	if (s)
		free(s->msrs);
	free(s);
}

/* Reads every listed MSR KVM can read for this vCPU. KVM_GET_MSRS stops at the first one it
 * cannot (some listed MSRs depend on CPUID: absent features): that one is skipped. */
static int capture_msrs(int fd, const struct x86_msr_list *list, struct x86_vcpu_state *s)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + list->n * sizeof(struct kvm_msr_entry));
	uint32_t start = 0;
	int ret = 0;

	s->msrs = calloc(list->n ? list->n : 1, sizeof(*s->msrs));
	if (!m || !s->msrs) {
		free(m);
		return -ENOMEM;
	}
	while (start < list->n) {
		int r;

		m->nmsrs = list->n - start;
		for (uint32_t i = 0; i < m->nmsrs; i++)
			m->entries[i] = (struct kvm_msr_entry){ .index = list->idx[start + i] };
		r = ioctl(fd, KVM_GET_MSRS, m);
		if (r < 0) {
			ret = -errno;
			break;
		}
		for (int i = 0; i < r; i++)
			s->msrs[s->nmsrs++] = (struct msr_rec){ m->entries[i].index, 0, m->entries[i].data };
		start += (uint32_t)r + 1; /* skip the one KVM refused */
	}
	free(m);
	return ret;
}

int x86_vcpu_state_capture(int vcpu_fd, const struct x86_msr_list *msrs,
			   struct x86_vcpu_state **out)
{
	struct x86_vcpu_state *s = calloc(1, sizeof(*s));
	int ret = s ? 0 : -ENOMEM;

	for (size_t i = 0; !ret && i < NR_PARTS; i++)
		if (ioctl(vcpu_fd, vcpu_parts[i].get, (uint8_t *)s + vcpu_parts[i].off) < 0)
			ret = -errno;
	ret = ret ? ret : capture_msrs(vcpu_fd, msrs, s);
	if (ret) {
		x86_vcpu_state_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int x86_vcpu_state_encode(const struct x86_vcpu_state *s, void *fdt, int node)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < NR_PARTS; i++)
		ret = state_put_blob(fdt, node, vcpu_parts[i].name,
				     (const uint8_t *)s + vcpu_parts[i].off, vcpu_parts[i].size);
	return ret ? ret : state_put_blob(fdt, node, "msrs", s->msrs, s->nmsrs * sizeof(*s->msrs));
}

int x86_vcpu_state_decode(const void *fdt, int node, struct x86_vcpu_state **out,
			  struct errmsg *err)
{
	struct x86_vcpu_state *s = calloc(1, sizeof(*s));
	const void *recs;
	size_t len;
	int ret = s ? 0 : -ENOMEM;

	for (size_t i = 0; !ret && i < NR_PARTS; i++)
		ret = state_get_blob(fdt, node, vcpu_parts[i].name, (uint8_t *)s + vcpu_parts[i].off,
				     vcpu_parts[i].size, err);
	ret = ret ? ret : state_get_var(fdt, node, "msrs", &recs, &len,
					MSR_MAX * sizeof(struct msr_rec), err);
	if (!ret && len % sizeof(struct msr_rec))
		ret = errmsg_set(err, -EINVAL, "MSR list of %zu bytes is not whole records", len);
	if (!ret) {
		s->nmsrs = (uint32_t)(len / sizeof(struct msr_rec));
		s->msrs = malloc(len ? len : 1);
		if (!s->msrs)
			ret = -ENOMEM;
		else
			memcpy(s->msrs, recs, len); /* the property may be unaligned */
	}
	if (ret) {
		x86_vcpu_state_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

static int apply_msrs(int fd, const struct x86_vcpu_state *s, struct errmsg *err)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + s->nmsrs * sizeof(struct kvm_msr_entry));
	int r, ret = 0;

	if (!m)
		return -ENOMEM;
	m->nmsrs = s->nmsrs;
	for (uint32_t i = 0; i < s->nmsrs; i++)
		m->entries[i] = (struct kvm_msr_entry){ .index = s->msrs[i].index,
							 .data = s->msrs[i].data };
	r = ioctl(fd, KVM_SET_MSRS, m);
	if (r < 0)
		ret = errmsg_set(err, -errno, "KVM_SET_MSRS: %s", strerror(errno));
	else if ((uint32_t)r != s->nmsrs)
		ret = errmsg_set(err, -EINVAL, "KVM refused MSR 0x%x (value 0x%llx)",
				 m->entries[r].index, (unsigned long long)m->entries[r].data);
	free(m);
	return ret;
}

int x86_vcpu_state_apply(int vcpu_fd, const struct x86_vcpu_state *s, struct errmsg *err)
{
	struct kvm_vcpu_events ev = s->events;
	int ret = 0;

	/* A saved NMI and SIPI vector are set only when their flags say so. */
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	for (size_t i = 0; !ret && i < NR_PARTS; i++) {
		const struct vcpu_part *p = &vcpu_parts[i];
		const void *v = p->set == KVM_SET_VCPU_EVENTS ? (const void *)&ev
							      : (const uint8_t *)s + p->off;

		if (ioctl(vcpu_fd, p->set, v) < 0)
			ret = errmsg_set(err, -errno, "KVM refused the saved %s: %s", p->name,
					 strerror(errno));
		if (!ret && p->set == KVM_SET_SREGS)
			ret = apply_msrs(vcpu_fd, s, err);
	}
	return ret;
}

/* The in-kernel irqchip's three chips (KVM_IRQCHIP_PIC_MASTER, _SLAVE, _IOAPIC), the PIT and
 * the clock. */
static const char *const chip_names[] = { "pic-master", "pic-slave", "ioapic" };

int x86_vm_state_save(int vm_fd, void *fdt, int node)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock = { 0 };
	int ret = 0;

	for (unsigned c = 0; c < 3 && !ret; c++) {
		struct kvm_irqchip chip = { .chip_id = c };

		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			return -errno;
		ret = state_put_blob(fdt, node, chip_names[c], &chip, sizeof(chip));
	}
	if (!ret && ioctl(vm_fd, KVM_GET_PIT2, &pit) < 0)
		return -errno;
	ret = ret ? ret : state_put_blob(fdt, node, "pit", &pit, sizeof(pit));
	if (!ret && ioctl(vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return -errno;
	return ret ? ret : state_put_u64(fdt, node, "clock", clock.clock);
}

int x86_vm_state_load(int vm_fd, const void *fdt, int node, struct errmsg *err)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock = { 0 };
	uint64_t ns;
	int ret = 0;

	for (unsigned c = 0; c < 3 && !ret; c++) {
		struct kvm_irqchip chip;

		ret = state_get_blob(fdt, node, chip_names[c], &chip, sizeof(chip), err);
		if (ret)
			return ret;
		if (chip.chip_id != c)
			return errmsg_set(err, -EINVAL, "%s: chip id %u", chip_names[c], chip.chip_id);
		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
			return errmsg_set(err, -errno, "KVM refused the saved %s: %s", chip_names[c],
					  strerror(errno));
	}
	ret = state_get_blob(fdt, node, "pit", &pit, sizeof(pit), err);
	if (ret)
		return ret;
	if (ioctl(vm_fd, KVM_SET_PIT2, &pit) < 0)
		return errmsg_set(err, -errno, "KVM refused the saved PIT: %s", strerror(errno));
	ret = state_get_u64(fdt, node, "clock", &ns, err);
	if (ret)
		return ret;
	clock.clock = ns;
	/* Guest time goes on from where it stopped, however long the VM was saved. */
	if (ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return errmsg_set(err, -errno, "KVM_SET_CLOCK: %s", strerror(errno));
	return 0;
}

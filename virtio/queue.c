#include "virtio/queue.h"

#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

#include "vmm/state.h"

#define DESC_SIZE 16U

/* Ring accesses go through these so that each guest-shared field is read exactly once. */
static inline uint16_t ld16(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static inline void st16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

static inline uint16_t *avail_flags(struct virtqueue *vq) { return (uint16_t *)vq->avail; }
static inline uint16_t *avail_idx(struct virtqueue *vq) { return (uint16_t *)vq->avail + 1; }
static inline uint16_t *avail_ring(struct virtqueue *vq, uint16_t i) { return (uint16_t *)vq->avail + 2 + i; }
static inline uint16_t *used_event(struct virtqueue *vq) { return (uint16_t *)vq->avail + 2 + vq->num; }
static inline uint16_t *used_flags(struct virtqueue *vq) { return (uint16_t *)vq->used; }
static inline uint16_t *used_idx_p(struct virtqueue *vq) { return (uint16_t *)vq->used + 1; }
static inline uint16_t *avail_event(struct virtqueue *vq)
{
	return (uint16_t *)((uint8_t *)vq->used + 4 + 8 * (size_t)vq->num);
}

void vq_reset(struct virtqueue *vq)
{
	vq->enabled = false;
	vq->last_avail_idx = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	memset(vq->held, 0, sizeof(vq->held));
	vq->desc = vq->avail = vq->used = NULL;
}

static bool vq_held(const struct virtqueue *vq, uint16_t head)
{
	return vq->held[head / 64] & (1ULL << (head % 64));
}

int vq_enable(struct virtqueue *vq, struct guest_mem *mem, const char **why)
{
	uint64_t n = vq->num;

	vq_reset(vq);
	if (n == 0 || n > VQ_MAX_SIZE || (n & (n - 1))) {
		*why = "queue size not a power of two up to the maximum";
		return -EINVAL;
	}
	if (vq->desc_gpa % 16 || vq->avail_gpa % 2 || vq->used_gpa % 4) {
		*why = "ring misaligned";
		return -EINVAL;
	}
	vq->desc = gm_ptr(mem, vq->desc_gpa, n * DESC_SIZE);
	vq->avail = gm_ptr(mem, vq->avail_gpa, 6 + 2 * n);
	vq->used = gm_ptr(mem, vq->used_gpa, 6 + 8 * n);
	if (!vq->desc || !vq->avail || !vq->used) {
		vq_reset(vq);
		*why = "ring outside guest RAM";
		return -EINVAL;
	}
	vq->mem = mem;
	vq->enabled = true;
	return 0;
}

/* Reads descriptor @i of @table (host view, @count entries) into @d. */
static void desc_read(const void *table, uint16_t i, struct vring_desc *d)
{
	memcpy(d, (const uint8_t *)table + (size_t)i * DESC_SIZE, sizeof(*d));
}

/* Adds one descriptor's buffer to the chain, enforcing ordering, RAM bounds and total length. */
static int chain_add(struct virtqueue *vq, struct vq_chain *c, const struct vring_desc *d,
		     const char **why)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;
	unsigned n = (unsigned)c->nr_readable + c->nr_writable;
	void *p;

	if (!writable && c->nr_writable) {
		*why = "readable descriptor after a writable one";
		return -EINVAL;
	}
	if (d->len == 0)
		return 0;
	p = gm_ptr(vq->mem, d->addr, d->len);
	if (!p) {
		*why = "buffer outside guest RAM";
		return -EINVAL;
	}
	if (writable) {
		if (d->len > UINT32_MAX - c->writable_len) {
			*why = "chain length overflows";
			return -EINVAL;
		}
		c->writable_len += d->len;
		c->nr_writable++;
	} else {
		if (d->len > UINT32_MAX - c->readable_len) {
			*why = "chain length overflows";
			return -EINVAL;
		}
		c->readable_len += d->len;
		c->nr_readable++;
	}
	c->iov[n] = (struct iovec){ p, d->len };
	return 0;
}

/* Walks an indirect table; @budget bounds the total number of buffers in the chain. */
static int walk_indirect(struct virtqueue *vq, struct vq_chain *c, const struct vring_desc *ind,
			 unsigned *budget, const char **why)
{
	const void *table;
	uint32_t count, seen = 0;
	uint16_t i = 0;

	if (!vq->indirect) {
		*why = "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC";
		return -EINVAL;
	}
	if (ind->flags & VRING_DESC_F_NEXT) {
		*why = "indirect descriptor with NEXT set";
		return -EINVAL;
	}
	if (ind->len == 0 || ind->len % DESC_SIZE) {
		*why = "indirect table length not a non-zero multiple of 16";
		return -EINVAL;
	}
	count = ind->len / DESC_SIZE;
	table = gm_ptr(vq->mem, ind->addr, ind->len);
	if (!table) {
		*why = "indirect table outside guest RAM";
		return -EINVAL;
	}
	for (;;) {
		struct vring_desc d;
		int ret;

		/* A loop inside the table revisits an entry before count steps are over. */
		if (seen++ == count || *budget == 0) {
			*why = "indirect chain loops or exceeds the chain limit";
			return -EINVAL;
		}
		(*budget)--;
		desc_read(table, i, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			*why = "nested indirect table";
			return -EINVAL;
		}
		ret = chain_add(vq, c, &d, why);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= count) {
			*why = "indirect descriptor index out of range";
			return -EINVAL;
		}
		i = d.next;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c, const char **why)
{
	uint16_t avail, head, i;
	unsigned direct_budget = vq->num; /* a direct chain visits each descriptor at most once */
	unsigned budget = VQ_MAX_SIZE;    /* buffers in the whole chain: the iovec array's size */

	if (!vq->enabled)
		return 0;
	avail = ld16(avail_idx(vq));
	if ((uint16_t)(avail - vq->last_avail_idx) > vq->num) {
		*why = "avail index moved more than the queue size";
		return -EINVAL;
	}
	if (avail == vq->last_avail_idx)
		return 0;
	/* The ring entry and the descriptors it leads to are read only after avail->idx: pairs
	 * with the driver's write barrier between filling them and publishing the index. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = ld16(avail_ring(vq, vq->last_avail_idx % vq->num));
	if (head >= vq->num) {
		*why = "head descriptor index out of range";
		return -EINVAL;
	}
	/* A driver that re-offers a head the device still works on would have it start a second
	 * request in the first one's place (per-head slots, a held receive chain counted twice). */
	if (vq_held(vq, head)) {
		*why = "head made available again while the device still holds it";
		return -EINVAL;
	}
	c->head = head;
	c->nr_readable = c->nr_writable = 0;
	c->readable_len = c->writable_len = 0;
	i = head;
	for (;;) {
		struct vring_desc d;
		int ret;

		if (direct_budget == 0) {
			*why = "chain longer than the queue (descriptor loop?)";
			return -EINVAL;
		}
		direct_budget--;
		desc_read(vq->desc, i, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* Zero or more direct descriptors may precede one indirect table, which
			 * ends the chain (virtio 1.2, 2.7.5.3.2). */
			ret = walk_indirect(vq, c, &d, &budget, why);
			if (ret)
				return ret;
			break;
		}
		if (budget == 0) {
			*why = "chain exceeds the chain limit";
			return -EINVAL;
		}
		budget--;
		ret = chain_add(vq, c, &d, why);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= vq->num) {
			*why = "next descriptor index out of range";
			return -EINVAL;
		}
		i = d.next;
	}
	vq->held[head / 64] |= 1ULL << (head % 64);
	vq->last_avail_idx++;
	/* With EVENT_IDX, ask to be kicked again for the next buffer we have not seen. */
	if (vq->event_idx) {
		st16(avail_event(vq), vq->last_avail_idx);
		gm_mark_dirty_hva(vq->mem, avail_event(vq), 2);
	}
	return 1;
}

int vq_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	uint8_t *elem;
	uint32_t id = head;

	if (head >= vq->num || !vq_held(vq, head))
		return -EINVAL;
	vq->held[head / 64] &= ~(1ULL << (head % 64));
	elem = (uint8_t *)vq->used + 4 + 8 * (size_t)(vq->used_idx % vq->num);
	memcpy(elem, &id, 4);
	memcpy(elem + 4, &len, 4);
	vq->used_idx++;
	/* The element must be visible before the index that publishes it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	st16(used_idx_p(vq), vq->used_idx);
	/* A migration must resend what the device wrote into the ring (KVM's dirty log sees only
	 * the guest's own writes). */
	gm_mark_dirty_hva(vq->mem, elem, 8);
	gm_mark_dirty_hva(vq->mem, used_idx_p(vq), 2);
	return 0;
}

void vq_mark_written(const struct virtqueue *vq, const struct vq_chain *c, size_t len)
{
	for (unsigned i = c->nr_readable; i < c->nr_readable + c->nr_writable && len; i++) {
		size_t l = c->iov[i].iov_len < len ? c->iov[i].iov_len : len;

		gm_mark_dirty_hva(vq->mem, c->iov[i].iov_base, l);
		len -= l;
	}
}

bool vq_should_interrupt(struct virtqueue *vq)
{
	uint16_t old, event;
	bool need;

	/* Order our used->idx store before reading the driver's used_event / flags, or we might
	 * read a stale event index and miss an interrupt the driver asked for. */
	/* A reset between a device's completion and its interrupt leaves no rings to ask. */
	if (!vq->enabled)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(ld16(avail_flags(vq)) & VRING_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	event = ld16(used_event(vq));
	need = !vq->signalled_used_valid || vring_need_event(event, vq->used_idx, old);
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	return need;
}

bool vq_set_notify(struct virtqueue *vq, bool enable)
{
	if (!vq->enabled)
		return false;
	if (vq->event_idx) {
		if (enable) {
			st16(avail_event(vq), vq->last_avail_idx);
			gm_mark_dirty_hva(vq->mem, avail_event(vq), 2);
		}
	} else {
		st16(used_flags(vq), enable ? 0 : VRING_USED_F_NO_NOTIFY);
		gm_mark_dirty_hva(vq->mem, used_flags(vq), 2);
	}
	if (!enable)
		return false;
	/* Re-check after publishing: the driver may have added buffers before it saw the flag. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return ld16(avail_idx(vq)) != vq->last_avail_idx;
}

/* Copies between @buf and the chain's iovecs [first, first + count), starting @offset bytes in. */
static size_t chain_copy(const struct vq_chain *c, unsigned first, unsigned count, size_t offset,
			 void *buf, size_t len, bool to_chain)
{
	size_t done = 0;

	for (unsigned i = first; i < first + count && done < len; i++) {
		size_t l = c->iov[i].iov_len;
		uint8_t *p = (uint8_t *)c->iov[i].iov_base;

		if (offset >= l) {
			offset -= l;
			continue;
		}
		l -= offset;
		if (l > len - done)
			l = len - done;
		if (to_chain)
			memcpy(p + offset, (const uint8_t *)buf + done, l);
		else
			memcpy((uint8_t *)buf + done, p + offset, l);
		done += l;
		offset = 0;
	}
	return done;
}

size_t vq_chain_read(const struct vq_chain *c, size_t offset, void *dst, size_t len)
{
	return chain_copy(c, 0, c->nr_readable, offset, dst, len, false);
}

size_t vq_chain_write(const struct vq_chain *c, size_t offset, const void *src, size_t len)
{
	return chain_copy(c, c->nr_readable, c->nr_writable, offset, (void *)src, len, true);
}

int vq_unpop(struct virtqueue *vq, const uint16_t *heads, unsigned n)
{
	/* Checked against the device's own record only. The avail ring is guest memory: a
	 * driver may have rewritten the entries since (against the spec), and that must not
	 * make the give-back fail. The driver gets its ring back as it now reads; the next
	 * pops validate whatever it holds. */
	if (!vq->enabled || n > vq->num)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (heads[i] >= vq->num || !vq_held(vq, heads[i]))
			return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		vq->held[heads[i] / 64] &= ~(1ULL << (heads[i] % 64));
	vq->last_avail_idx = (uint16_t)(vq->last_avail_idx - n);
	return 0;
}

int vq_save(const struct virtqueue *vq, void *fdt, int node)
{
	int ret = 0;

	for (unsigned i = 0; i < VQ_MAX_SIZE / 64; i++)
		if (vq->held[i])
			return -EBUSY;
	ret = ret ? ret : state_put_u32(fdt, node, "num", vq->num);
	ret = ret ? ret : state_put_u64(fdt, node, "desc", vq->desc_gpa);
	ret = ret ? ret : state_put_u64(fdt, node, "avail", vq->avail_gpa);
	ret = ret ? ret : state_put_u64(fdt, node, "used", vq->used_gpa);
	ret = ret ? ret : state_put_u32(fdt, node, "enabled", vq->enabled);
	ret = ret ? ret : state_put_u32(fdt, node, "event-idx", vq->event_idx);
	ret = ret ? ret : state_put_u32(fdt, node, "indirect", vq->indirect);
	ret = ret ? ret : state_put_u32(fdt, node, "last-avail", vq->last_avail_idx);
	ret = ret ? ret : state_put_u32(fdt, node, "used-idx", vq->used_idx);
	ret = ret ? ret : state_put_u32(fdt, node, "signalled-used", vq->signalled_used);
	ret = ret ? ret : state_put_u32(fdt, node, "signalled-used-valid", vq->signalled_used_valid);
	return ret;
}

int vq_load(struct virtqueue *vq, struct guest_mem *mem, const void *fdt, int node,
	    struct errmsg *err)
{
	uint16_t num, last_avail, used_idx, signalled;
	bool enabled, event_idx, indirect, sig_valid;
	uint64_t desc, avail, used;
	const char *why;
	int ret = 0;

	ret = ret ? ret : state_get_u16(fdt, node, "num", &num, err);
	ret = ret ? ret : state_get_u64(fdt, node, "desc", &desc, err);
	ret = ret ? ret : state_get_u64(fdt, node, "avail", &avail, err);
	ret = ret ? ret : state_get_u64(fdt, node, "used", &used, err);
	ret = ret ? ret : state_get_bool(fdt, node, "enabled", &enabled, err);
	ret = ret ? ret : state_get_bool(fdt, node, "event-idx", &event_idx, err);
	ret = ret ? ret : state_get_bool(fdt, node, "indirect", &indirect, err);
	ret = ret ? ret : state_get_u16(fdt, node, "last-avail", &last_avail, err);
	ret = ret ? ret : state_get_u16(fdt, node, "used-idx", &used_idx, err);
	ret = ret ? ret : state_get_u16(fdt, node, "signalled-used", &signalled, err);
	ret = ret ? ret : state_get_bool(fdt, node, "signalled-used-valid", &sig_valid, err);
	if (ret)
		return ret;
	vq_reset(vq);
	vq->num = num;
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	if (!enabled)
		return 0;
	if (vq_enable(vq, mem, &why))
		return errmsg_set(err, -EINVAL, "queue: %s", why);
	/* The device never has more chains out than the ring holds (a paused one holds none;
	 * one that failed may have consumed a broken chain without using it). */
	if ((uint16_t)(last_avail - used_idx) > num) {
		vq_reset(vq);
		return errmsg_set(err, -EINVAL, "queue: %u chains popped but only %u used, ring of %u",
				  last_avail, used_idx, num);
	}
	vq->last_avail_idx = last_avail;
	vq->used_idx = used_idx;
	vq->signalled_used = signalled;
	vq->signalled_used_valid = sig_valid;
	return 0;
}

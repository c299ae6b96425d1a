/* libFuzzer target: the fuzzer owns the rings and everything they point at.
 * Input: 2 bytes of parameters (queue size exponent, features), 2 bytes of avail index, then
 * bytes copied over guest memory starting at the descriptor table. Every popped chain must lie
 * inside guest RAM; pops must stop (no hang) and never touch host memory outside RAM (ASan). */
#include <stdint.h>
#include <string.h>

#include "virtio/queue.h"

#define RAM_SIZE (1ULL << 20)
#define DESC_GPA 0x0
#define AVAIL_GPA 0x1000
#define USED_GPA 0x2000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem gm;
	static struct vq_chain chain;
	struct virtqueue vq;
	const char *why;
	uint8_t *ram;

	if (size < 4)
		return 0;
	if (!gm.base && gm_init(&gm, RAM_SIZE, false))
		return 0;
	ram = gm_ptr(&gm, 0, RAM_SIZE);
	memset(ram, 0, 0x4000);
	memcpy(ram, data + 4, size - 4 < 0x4000 ? size - 4 : 0x4000);
	memset(&vq, 0, sizeof(vq));
	vq.num = (uint16_t)(1u << (data[0] % 10)); /* 1 .. 512: some invalid on purpose */
	vq.event_idx = data[1] & 1;
	vq.indirect = data[1] & 2;
	vq.desc_gpa = DESC_GPA;
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	if (vq_enable(&vq, &gm, &why))
		return 0;
	memcpy(ram + AVAIL_GPA + 2, data + 2, 2); /* avail->idx */
	for (int n = 0; n < 1024; n++) {
		int ret = vq_pop(&vq, &chain, &why);

		if (ret <= 0)
			break;
		for (unsigned i = 0; i < (unsigned)chain.nr_readable + chain.nr_writable; i++) {
			uint8_t *p = chain.iov[i].iov_base;

			if (p < ram || p + chain.iov[i].iov_len > ram + RAM_SIZE)
				__builtin_trap();
			/* Touch both ends so ASan sees any stray pointer. */
			p[0] ^= 0;
			p[chain.iov[i].iov_len - 1] ^= 0;
		}
		vq_push(&vq, chain.head, chain.writable_len);
		vq_should_interrupt(&vq);
	}
	return 0;
}

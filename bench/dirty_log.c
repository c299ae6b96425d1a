/* KVM's three ways of tracking the pages a guest writes, measured side by side for live
 * migration's choice (issue 15, docs/migration.md "Choices"):
 *   get     KVM_GET_DIRTY_LOG: one ioctl per slot and round fetches the bitmap and
 *           write-protects the pages again (what minivmm uses);
 *   manual  KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with KVM_DIRTY_LOG_INITIALLY_SET: GET_DIRTY_LOG
 *           only fetches, KVM_CLEAR_DIRTY_LOG re-protects, here in chunks of CHUNK_PAGES
 *           (a migration would clear each chunk just before sending it);
 *   ring    KVM_CAP_DIRTY_LOG_RING: a ring of dirty GFNs per vCPU, harvested by the collector
 *           thread (and by a vCPU whose ring filled: KVM_EXIT_DIRTY_RING_FULL), then
 *           KVM_RESET_DIRTY_RINGS;
 *   none    no dirty logging: the guest's write rate without it.
 * The guest (32-bit flat protected mode, a few instructions per vCPU) writes one dword per page,
 * sweeping its share of RAM over and over as fast as it can, and counts its writes in page 0.
 * Every ROUND_MS the collector takes the dirty set, as a migration round does. Printed: the
 * guest's page writes per second (dirty logging's cost to the guest: a write-protect fault per
 * page per round), the collector's time per round (mean and max), the pages found per round,
 * ring-full exits.
 *   dirty_log METHOD [MiB [VCPUS [SECONDS [ROUND_MS]]]]    defaults: 256 1 5 100 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ULL
#define MAX_VCPUS 8
#define CODE_GPA 0x1000
#define COUNTERS_GPA 0x500
#define SWEEP_START (1ULL << 20)
#define RING_ENTRIES 4096          /* KVM's default for QEMU's dirty-ring-size is 65536 */
#define CHUNK_PAGES 512            /* 2 MiB per KVM_CLEAR_DIRTY_LOG */

enum method { M_NONE, M_GET, M_MANUAL, M_RING };

struct vcpu {
	int fd;
	struct kvm_run *run;
	struct kvm_dirty_gfn *ring;
	uint32_t fetch;
	pthread_t thread;
};

struct bench {
	enum method method;
	int kvm, vm, nvcpus;
	uint64_t mem_size, npages;
	uint8_t *mem;
	struct vcpu v[MAX_VCPUS];
	uint64_t *bitmap, *fetched;    /* dirty set (as a migration keeps it), one GET's bitmap */
	pthread_mutex_t ring_lock;     /* harvests: the collector and a vCPU whose ring filled */
	uint64_t ring_full_exits, clear_calls;
	volatile bool stop;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "dirty_log: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* mov %esi,%ebx; 1: mov %eax,(%ebx); incl (%ecx); add $0x1000,%ebx; cmp %edi,%ebx; jb 1b;
 * inc %eax; jmp 0 */
static const uint8_t guest_code[] = { 0x89, 0xf3, 0x89, 0x03, 0xff, 0x01, 0x81, 0xc3, 0x00, 0x10,
				      0x00, 0x00, 0x39, 0xfb, 0x72, 0xf2, 0x40, 0xeb, 0xed };

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	*s = (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
				   .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1 };
}

/* Ring entries for which the guest's writes were pushed; takes them into the dirty set. */
static unsigned harvest_ring(struct bench *b, struct vcpu *v)
{
	unsigned n = 0;

	for (;;) {
		struct kvm_dirty_gfn *e = &v->ring[v->fetch % RING_ENTRIES];

		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
			break;
		if (e->slot == 0 && e->offset < b->npages)
			b->bitmap[e->offset / 64] |= 1ULL << (e->offset % 64);
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		v->fetch++;
		n++;
	}
	return n;
}

static void harvest_rings(struct bench *b)
{
	unsigned n = 0;

	pthread_mutex_lock(&b->ring_lock);
	for (int i = 0; i < b->nvcpus; i++)
		n += harvest_ring(b, &b->v[i]);
	if (n && ioctl(b->vm, KVM_RESET_DIRTY_RINGS, 0) < 0)
		die("KVM_RESET_DIRTY_RINGS");
	pthread_mutex_unlock(&b->ring_lock);
}

static void *vcpu_thread(void *arg)
{
	struct bench *b = ((void **)arg)[0];
	struct vcpu *v = ((void **)arg)[1];

	while (!b->stop) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0 && errno != EINTR)
			die("KVM_RUN");
		if (v->run->exit_reason == KVM_EXIT_DIRTY_RING_FULL) {
			__atomic_add_fetch(&b->ring_full_exits, 1, __ATOMIC_RELAXED);
			harvest_rings(b);
		} else if (v->run->exit_reason != KVM_EXIT_INTR) {
			fprintf(stderr, "dirty_log: unexpected exit %u\n", v->run->exit_reason);
			exit(1);
		}
	}
	return NULL;
}

static void collect(struct bench *b)
{
	struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = b->fetched };
	uint64_t words = b->npages / 64;

	switch (b->method) {
	case M_NONE:
		break;
	case M_GET:
		if (ioctl(b->vm, KVM_GET_DIRTY_LOG, &log) < 0)
			die("KVM_GET_DIRTY_LOG");
		for (uint64_t w = 0; w < words; w++)
			b->bitmap[w] |= b->fetched[w];
		break;
	case M_MANUAL:
		if (ioctl(b->vm, KVM_GET_DIRTY_LOG, &log) < 0)
			die("KVM_GET_DIRTY_LOG");
		for (uint64_t first = 0; first < b->npages; first += CHUNK_PAGES) {
			uint64_t *chunk = b->fetched + first / 64, any = 0;
			struct kvm_clear_dirty_log clear = { .slot = 0, .first_page = first,
							     .num_pages = CHUNK_PAGES,
							     .dirty_bitmap = chunk };

			for (unsigned w = 0; w < CHUNK_PAGES / 64; w++) {
				any |= chunk[w];
				b->bitmap[first / 64 + w] |= chunk[w];
			}
			if (!any)
				continue;
			if (ioctl(b->vm, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
				die("KVM_CLEAR_DIRTY_LOG");
			b->clear_calls++;
		}
		break;
	case M_RING:
		harvest_rings(b);
		break;
	}
}

static uint64_t take_dirty_set(struct bench *b)
{
	uint64_t n = 0;

	for (uint64_t w = 0; w < b->npages / 64; w++) {
		n += __builtin_popcountll(b->bitmap[w]);
		b->bitmap[w] = 0;
	}
	return n;
}

static uint64_t guest_writes(struct bench *b)
{
	uint64_t n = 0;

	for (int i = 0; i < b->nvcpus; i++)
		n += __atomic_load_n((uint32_t *)(b->mem + COUNTERS_GPA + 64 * i), __ATOMIC_RELAXED);
	return n;
}

static void setup(struct bench *b)
{
	struct kvm_userspace_memory_region slot = { .slot = 0, .guest_phys_addr = 0,
						    .memory_size = b->mem_size };
	long run_size;

	if ((b->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0 ||
	    (b->vm = ioctl(b->kvm, KVM_CREATE_VM, 0)) < 0)
		die("/dev/kvm");
	if (b->method == M_MANUAL) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
					      .args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
							KVM_DIRTY_LOG_INITIALLY_SET } };

		if (ioctl(b->vm, KVM_ENABLE_CAP, &cap) < 0)
			die("KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2");
	} else if (b->method == M_RING) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING,
					      .args = { RING_ENTRIES * sizeof(struct kvm_dirty_gfn) } };

		if (ioctl(b->vm, KVM_ENABLE_CAP, &cap) < 0)
			die("KVM_CAP_DIRTY_LOG_RING");
	}
	b->mem = mmap(NULL, b->mem_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->mem == MAP_FAILED)
		die("mmap");
	memcpy(b->mem + CODE_GPA, guest_code, sizeof(guest_code));
	slot.userspace_addr = (uintptr_t)b->mem;
	slot.flags = b->method == M_NONE ? 0 : KVM_MEM_LOG_DIRTY_PAGES;
	if (ioctl(b->vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	if ((run_size = ioctl(b->kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) < 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
	for (int i = 0; i < b->nvcpus; i++) {
		struct vcpu *v = &b->v[i];
		uint64_t share = (b->mem_size - SWEEP_START) / b->nvcpus & ~(PAGE - 1);
		struct kvm_sregs sregs;
		struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 2,
					 .rsi = SWEEP_START + i * share,
					 .rdi = SWEEP_START + (i + 1) * share,
					 .rcx = COUNTERS_GPA + 64 * i };

		if ((v->fd = ioctl(b->vm, KVM_CREATE_VCPU, i)) < 0)
			die("KVM_CREATE_VCPU");
		v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED)
			die("mmap kvm_run");
		if (b->method == M_RING) {
			v->ring = mmap(NULL, RING_ENTRIES * sizeof(struct kvm_dirty_gfn),
				       PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
				       KVM_DIRTY_LOG_PAGE_OFFSET * PAGE);
			if (v->ring == MAP_FAILED)
				die("mmap dirty ring");
		}
		if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
			die("KVM_GET_SREGS");
		flat_segment(&sregs.cs, 8, 11);
		flat_segment(&sregs.ds, 16, 3);
		sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
		sregs.cr0 |= 1;
		if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
			die("KVM_SET_SREGS/REGS");
	}
	b->bitmap = calloc(b->npages / 64, 8);
	b->fetched = calloc(b->npages / 64, 8);
	if (!b->bitmap || !b->fetched)
		die("calloc");
	pthread_mutex_init(&b->ring_lock, NULL);
}

static void no_op(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	static const char *names[] = { "none", "get", "manual", "ring" };
	struct bench b = { .nvcpus = 1 };
	double secs = 5, round_ms = 100, t0, t_end, sum = 0, max = 0, t_first;
	uint64_t w0, pages = 0, rounds = 0, first_pages;
	void *args[MAX_VCPUS][2];
	int m;

	for (m = 0; m < 4 && (argc < 2 || strcmp(argv[1], names[m])); m++)
		;
	if (m == 4) {
		fprintf(stderr, "usage: dirty_log none|get|manual|ring [MiB [VCPUS [SECONDS [ROUND_MS]]]]\n");
		return 2;
	}
	b.method = m;
	b.mem_size = (argc > 2 ? strtoull(argv[2], NULL, 0) : 256) << 20;
	b.nvcpus = argc > 3 ? atoi(argv[3]) : 1;
	secs = argc > 4 ? atof(argv[4]) : secs;
	round_ms = argc > 5 ? atof(argv[5]) : round_ms;
	if (b.mem_size < 4 * SWEEP_START || b.nvcpus < 1 || b.nvcpus > MAX_VCPUS || secs <= 0 ||
	    round_ms <= 0) {
		fprintf(stderr, "dirty_log: MiB >= 4, 1 <= VCPUS <= %d, SECONDS and ROUND_MS > 0\n",
			MAX_VCPUS);
		return 2;
	}
	b.npages = b.mem_size / PAGE;
	setup(&b);
	signal(SIGUSR1, no_op);
	for (int i = 0; i < b.nvcpus; i++) {
		args[i][0] = &b;
		args[i][1] = &b.v[i];
		if (pthread_create(&b.v[i].thread, NULL, vcpu_thread, args[i]))
			die("pthread_create");
	}
	/* One whole sweep first (the pages' first touch: host page faults, whatever the method),
	 * then round 0, the first pass (everything with INITIALLY_SET): not in the figures. */
	while (guest_writes(&b) < b.npages - SWEEP_START / PAGE - 64)
		usleep(10000);
	t_first = now();
	collect(&b);
	t_first = now() - t_first;
	first_pages = take_dirty_set(&b);
	w0 = guest_writes(&b);
	t0 = now();
	t_end = t0 + secs;
	while (now() < t_end) {
		double t;

		usleep(round_ms * 1000);
		t = now();
		collect(&b);
		t = now() - t;
		sum += t;
		max = t > max ? t : max;
		pages += take_dirty_set(&b);
		rounds++;
	}
	w0 = guest_writes(&b) - w0;
	t0 = now() - t0;
	b.stop = true;
	/* immediate_exit: a signal that lands before the thread enters KVM_RUN again still
	 * makes that KVM_RUN return. */
	for (int i = 0; i < b.nvcpus; i++)
		b.v[i].run->immediate_exit = 1;
	for (int i = 0; i < b.nvcpus; i++) {
		pthread_kill(b.v[i].thread, SIGUSR1);
		pthread_join(b.v[i].thread, NULL);
	}
	printf("%-6s %4llu MiB %d vCPU: guest %8.0f page writes/s; collect per round: mean %7.3f ms, max %7.3f ms "
	       "(first %7.3f ms, %llu pages); %6.0f pages/round over %llu rounds; %llu ring-full exits, %llu clears\n",
	       names[m], (unsigned long long)(b.mem_size >> 20), b.nvcpus, w0 / t0,
	       rounds ? sum / rounds * 1e3 : 0, max * 1e3, t_first * 1e3,
	       (unsigned long long)first_pages, rounds ? (double)pages / rounds : 0,
	       (unsigned long long)rounds, (unsigned long long)b.ring_full_exits,
	       (unsigned long long)b.clear_calls);
	return 0;
}

/* libFuzzer target: the snapshot / migration stream as --restore reads it, on fuzzer bytes. The
 * header and sections through the real reader; CONFIG checked (fdt_check_full) and compared
 * with this harness's machine; STATE checked and loaded into real devices (COM1, virtio-blk on
 * a raw file with the sync engine, virtio-net on socketpairs, virtio-console), every vCPU node
 * decoded; RAM runs applied to the fake guest RAM; DISK sections (a migration's disks=copy)
 * applied to the virtio-blk's image as a destination's would be; then the event loop runs the loaded devices
 * for a while (a loaded queue is used as a guest's would be). No KVM: applying vCPU and VM
 * state is KVM's own checking and not reached here.
 *
 * Every section carries CRC-32Cs, so a byte-level mutation almost never gets past the reader: the
 * custom mutator below puts the framing right again (lengths clamped to what is there, both
 * checksums recomputed) on 7 mutations out of 8, so that the state loaders see hostile but
 * well-framed input; the 8th stays as mutated, for the checks themselves.
 *
 * FUZZ_SNAPSHOT_SEED=PATH ./fuzz_snapshot writes a valid stream of this machine (devices as
 * a driver left them, two vCPU nodes, a few RAM pages) to PATH and exits: the seed corpus. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include <libfdt.h>

#include "arch/x86/kvm_state.h"
#include "migrate/disk_stream.h"
#include "migrate/snapshot.h"
#include "migrate/stream.h"
#include "tests/unit/vdrv.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "vmm/serial.h"
#include "vmm/state.h"

#define RAM (2ULL << 20)

static struct vdrv v;
static struct serial_backend com1;
static int peer[1];
static char disk_path[] = "/tmp/fuzz-snapshot-disk.XXXXXX";
static void *reference;   /* this machine's configuration */
static struct disk *disk0; /* the virtio-blk's, for DISK sections */

static int fill_config(void *fdt, void *arg)
{
	int ret = 0, devs;

	(void)arg;
	ret = ret ? ret : state_put_u64(fdt, 0, "ram-size", RAM);
	ret = ret ? ret : state_put_u32(fdt, 0, "cpus", 2);
	ret = ret ? ret : state_put_u32(fdt, 0, "acpi", 1);
	ret = ret ? ret : state_put_blob(fdt, 0, "cpuid", "", 0);
	devs = ret ? ret : state_add_node(fdt, 0, "devices");
	return devs < 0 ? devs : dev_list_describe(&v.devices, fdt, devs);
}

static void setup(void)
{
	struct disk_config dc = { .path = disk_path, .engine = BLK_ENGINE_SYNC, .engine_set = true,
				  .num_queues = 1 };
	struct net_config nc = { .fd = -1, .backend = &vdrv_sock_backend, .pairs = 1 };
	struct chardev_config off = { .mode = CHARDEV_OFF };
	struct virtio_blk *b;
	struct virtio_net *n;
	struct virtio_console *c;
	struct errmsg err;
	size_t len;
	int fd = mkstemp(disk_path);

	if (fd < 0 || ftruncate(fd, 1 << 20) || vdrv_init(&v, RAM) ||
	    serial_setup(&v.m, &v.input, &com1, &off, &err) ||
	    virtio_blk_create(&v.m, vdrv_slot(&v), &dc, &b, &err) ||
	    vdrv_sock_pairs(1, nc.backend_fds, peer) ||
	    virtio_net_create(&v.m, vdrv_slot(&v), &nc, &n, &err) ||
	    virtio_console_create(&v.m, vdrv_slot(&v), &v.input, &off, &c, &err) ||
	    state_build(fill_config, NULL, 1 << 20, &reference, &len))
		abort();
	disk0 = virtio_blk_disk(b);
	close(fd);
}

/* Drives the devices as a driver would so the seed's state has queues in use. */
static void drive_for_seed(void)
{
	for (unsigned i = 0; i < v.devices.n; i++) {
		if (strncmp(v.devices.devs[i].name, "virtio@", 7))
			continue;
		v.dev = v.devices.devs[i].priv;
		vdrv_wr(&v, VIRTIO_MMIO_STATUS, 0);
		vdrv_wr(&v, VIRTIO_MMIO_STATUS, 1);
		vdrv_wr(&v, VIRTIO_MMIO_STATUS, 3);
		vdrv_wr(&v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
		vdrv_wr(&v, VIRTIO_MMIO_DRIVER_FEATURES, 1);
		vdrv_wr(&v, VIRTIO_MMIO_STATUS, 11);
		for (unsigned q = 0; q < v.dev->nr_queues; q++) {
			uint64_t base = 0x10000 + i * 0x8000 + q * 0x2000;

			vdrv_wr(&v, VIRTIO_MMIO_QUEUE_SEL, q);
			vdrv_wr(&v, VIRTIO_MMIO_QUEUE_NUM, 8);
			vdrv_wr(&v, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
			vdrv_wr(&v, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)base + 0x800);
			vdrv_wr(&v, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)base + 0x1000);
			vdrv_wr(&v, VIRTIO_MMIO_QUEUE_READY, 1);
		}
		vdrv_wr(&v, VIRTIO_MMIO_STATUS, 15);
	}
}

static int fill_state(void *fdt, void *arg)
{
	int cpus, node, ret;

	(void)arg;
	node = state_add_node(fdt, 0, "vm");
	cpus = node < 0 ? node : state_add_node(fdt, 0, "vcpus");
	for (unsigned i = 0; cpus >= 0 && i < 2; i++) {
		static const uint8_t zeros[4096];
		static const char *const parts[] = { "sregs", "xcrs", "xsave", "lapic", "mp-state",
						     "events", "debugregs", "regs", "msrs" };
		static const size_t sizes[] = { sizeof(struct kvm_sregs), sizeof(struct kvm_xcrs),
						sizeof(struct kvm_xsave), sizeof(struct kvm_lapic_state),
						sizeof(struct kvm_mp_state), sizeof(struct kvm_vcpu_events),
						sizeof(struct kvm_debugregs), sizeof(struct kvm_regs), 32 };
		char name[16];
		int c;

		snprintf(name, sizeof(name), "cpu@%u", i);
		c = state_add_node(fdt, cpus, name);
		for (unsigned k = 0; c >= 0 && k < sizeof(parts) / sizeof(parts[0]); k++)
			if ((ret = state_put_blob(fdt, c, parts[k], zeros, sizes[k])))
				return ret;
		if (c < 0)
			return c;
	}
	if (cpus < 0)
		return cpus;
	node = state_add_node(fdt, 0, "devices");
	return node < 0 ? node : dev_list_save(&v.devices, fdt, node);
}

/* disks=copy: disk 0's BEGIN, then a section with a data run and a zero run. */
static int write_seed_disk(struct stream_writer *w)
{
	uint8_t p[8 + 16 + 1024 + 16];

	stream_put32(p, 0);
	stream_put32(p + 4, 1);
	if (stream_write_section(w, STREAM_SEC_DISK, p, 8))
		return -1;
	stream_put32(p + 4, 0);
	stream_put64(p + 8, 4096);
	stream_put32(p + 16, 1024);
	stream_put32(p + 20, 0);
	memset(p + 24, 0xa5, 1024);
	stream_put64(p + 24 + 1024, 65536);
	stream_put32(p + 24 + 1024 + 8, 8192);
	stream_put32(p + 24 + 1024 + 12, 1);
	return stream_write_section(w, STREAM_SEC_DISK, p, sizeof(p));
}

static int write_seed(const char *path)
{
	struct stream_writer w;
	void *config, *state;
	size_t clen, slen;
	uint8_t page[STREAM_PAGE];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	drive_for_seed();
	memset(page, 0x5a, sizeof(page));
	if (fd < 0 || stream_writer_init(&w, fd) || state_build(fill_config, NULL, 1 << 20, &config, &clen) ||
	    state_build(fill_state, NULL, 1 << 20, &state, &slen) || stream_write_header(&w) ||
	    stream_write_section(&w, STREAM_SEC_CONFIG, config, clen) ||
	    stream_write_section(&w, STREAM_SEC_STATE, state, slen) ||
	    stream_write_page(&w, 0x1000, page) || stream_write_page(&w, 0x2000, page) ||
	    stream_write_page(&w, 0x9000, page) || stream_write_zero_page(&w, 0xa000) ||
	    write_seed_disk(&w) || stream_write_end(&w))
		return 1;
	stream_writer_free(&w);
	free(config);
	free(state);
	close(fd);
	return 0;
}

/* STATE as restore_state() reads it, minus KVM. */
static void load_state(const void *fdt)
{
	struct errmsg err;
	int node, cpus;

	node = fdt_subnode_offset(fdt, 0, "devices");
	if (node >= 0)
		(void)dev_list_load(&v.devices, fdt, node, &err);
	cpus = fdt_subnode_offset(fdt, 0, "vcpus");
	if (cpus < 0)
		return;
	fdt_for_each_subnode(node, fdt, cpus) {
		struct x86_vcpu_state *s;

		if (!x86_vcpu_state_decode(fdt, node, &s, &err))
			x86_vcpu_state_free(s);
	}
}

static uint32_t get_le(const uint8_t *p, unsigned n)
{
	uint32_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/* The stream's framing (migrate/stream.h) made right again after a mutation. */
static void fix_framing(uint8_t *data, size_t size)
{
	static struct crc32c crc;
	static bool crc_ready;
	size_t off = 16;

	if (!crc_ready) {
		crc32c_init(&crc);
		crc_ready = true;
	}
	while (off + 24 <= size) {
		uint8_t *h = data + off;
		uint64_t len = get_le(h + 8, 4) | (uint64_t)get_le(h + 12, 4) << 32;
		size_t left = size - off - 24;

		if (len > left) {
			len = left;
			put_le(h + 8, len, 8);
		}
		put_le(h + 16, crc32c(&crc, 0, h + 24, len), 4);
		put_le(h + 20, crc32c(&crc, 0, h, 20), 4);
		off += 24 + len;
	}
}

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 8)
		fix_framing(data, size);
	return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream_reader r;
	struct errmsg err;
	int fd;

	if (!reference)
		setup();
	/* Every input starts from the machine's reset state and zeroed RAM. */
	dev_list_reset(&v.devices);
	memset(v.ram, 0, RAM);
	fd = memfd_create("input", 0);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET))
		abort();
	stream_reader_init(&r, fd, "input");
	if (!stream_read_header(&r, &err)) {
		for (;;) {
			uint8_t *p;
			size_t len;
			uint32_t type;

			/* As the destination and --restore read it: RAM straight into guest RAM. */
			if (stream_read_next(&r, &v.mem, &type, &p, &len, &err))
				break;
			if (type == STREAM_SEC_RAM)
				continue;
			if (type == STREAM_SEC_CONFIG && !state_check(p, len, &err))
				(void)snapshot_config_compare(p, reference, "the snapshot", &err);
			else if (type == STREAM_SEC_STATE && !state_check(p, len, &err))
				load_state(p);
			else if (type == STREAM_SEC_DISK)
				(void)disk_stream_apply(&disk0, 1, p, len, &err);
			free(p);
			if (type == STREAM_SEC_END)
				break;
		}
	}
	close(fd);
	/* The loaded devices at work: kicks queued by the load, completions. */
	for (int i = 0; i < 8 && evloop_run_once(&v.loop, 0) > 0; i++)
		;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seed = getenv("FUZZ_SNAPSHOT_SEED");

	(void)argc, (void)argv;
	if (!seed)
		return 0;
	setup();
	exit(write_seed(seed));
}

#include "arch/x86/boot.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/bzimage.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/pvh.h"

#define MIB(x) ((unsigned long long)((x) >> 20))

/* hvm_start_info ABI (xen/include/public/arch-x86/hvm/start_info.h), version 1. */
#define HVM_START_MAGIC 0x336ec578
struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};
struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};
#define PVH_MODLIST_ADDR (X86_PVH_INFO_ADDR + 0x40)
#define PVH_MEMMAP_ADDR (X86_PVH_INFO_ADDR + 0x80)
#define PVH_MEMMAP_MAX ((0x1000 - 0x80) / sizeof(struct hvm_memmap_entry))

/* Kernel and initrd are read, not mmap'd: a file truncated while we copy it (another process
 * rewriting it during start-up) would raise SIGBUS on a mapping, and kill the VMM without a
 * word; a read comes up short instead, and the message names the file. */
struct loaded_file {
	uint8_t *data;
	uint64_t size;
};

/* Opens a non-empty regular file for reading; *@size from fstat. Returns the descriptor. */
static int open_input(const char *flag, const char *path, uint64_t *size, struct errmsg *err)
{
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg_set(err, -errno, "%s %s: %s", flag, path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = errmsg_set(err, -errno, "%s %s: %s", flag, path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = errmsg_set(err, -EINVAL, "%s %s: not a regular file", flag, path);
		goto fail;
	}
	if (st.st_size == 0) {
		ret = errmsg_set(err, -ENOEXEC, "%s %s: file is empty", flag, path);
		goto fail;
	}
	*size = (uint64_t)st.st_size;
	return fd;
fail:
	close(fd);
	return ret;
}

/* Reads exactly @size bytes from the start of @fd into @dst. */
static int read_all(const char *flag, const char *path, int fd, uint8_t *dst, uint64_t size,
		    struct errmsg *err)
{
	uint64_t done = 0;

	while (done < size) {
		size_t chunk = size - done < (1U << 30) ? (size_t)(size - done) : (1U << 30);
		ssize_t n = pread(fd, dst + done, chunk, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errmsg_set(err, -errno, "%s %s: %s", flag, path, strerror(errno));
		if (n == 0)
			return errmsg_set(err, -EIO,
					  "%s %s: the file shrank while being read (%llu of %llu bytes)",
					  flag, path, (unsigned long long)done,
					  (unsigned long long)size);
		done += (uint64_t)n;
	}
	return 0;
}

static int load_file(const char *flag, const char *path, struct loaded_file *f, struct errmsg *err)
{
	int fd = open_input(flag, path, &f->size, err), ret;

	if (fd < 0)
		return fd;
	f->data = malloc(f->size);
	if (!f->data) {
		ret = errmsg_set(err, -ENOMEM, "%s %s: %llu bytes: out of memory", flag, path,
				 (unsigned long long)f->size);
	} else {
		ret = read_all(flag, path, fd, f->data, f->size, err);
	}
	close(fd);
	return ret;
}

static void free_file(struct loaded_file *f)
{
	free(f->data);
	f->data = NULL;
}

uint64_t x86_initrd_place(uint64_t size, uint64_t kernel_end, uint64_t addr_max, uint64_t ram_top)
{
	uint64_t top = ram_top, addr;

	if (addr_max != UINT64_MAX && addr_max + 1 < top)
		top = addr_max + 1;
	if (size == 0 || size > top)
		return 0;
	addr = (top - size) & ~(GM_PAGE_SIZE - 1);
	if (addr < kernel_end)
		return 0;
	return addr;
}

static int load_initrd(struct guest_mem *gm, const struct x86_boot_args *args,
		       uint64_t addr_max, struct x86_boot *boot, struct errmsg *err)
{
	uint64_t addr, size;
	uint8_t *dst;
	int fd, ret;

	fd = open_input("--initrd", args->initrd, &size, err);
	if (fd < 0)
		return fd;
	addr = x86_initrd_place(size, boot->kernel_end, addr_max, gm_low_top(gm));
	if (!addr) {
		ret = errmsg_set(err, -ENOMEM,
				 "--initrd %s: %llu bytes do not fit between the kernel's end "
				 "(%llu MiB) and the top of memory usable for an initrd (%llu MiB)",
				 args->initrd, (unsigned long long)size, MIB(boot->kernel_end),
				 MIB(addr_max + 1 < gm_low_top(gm) ? addr_max + 1 : gm_low_top(gm)));
		goto out;
	}
	/* Straight into guest RAM (placed inside it above): no second copy. */
	dst = gm_ptr(gm, addr, size);
	ret = dst ? read_all("--initrd", args->initrd, fd, dst, size, err)
		  : errmsg_set(err, -EFAULT, "--initrd %s: cannot place it", args->initrd);
	if (ret)
		goto out;
	boot->initrd_addr = addr;
	boot->initrd_size = size;
out:
	close(fd);
	return ret;
}

static int write_cmdline(struct guest_mem *gm, const char *cmdline)
{
	return gm_write(gm, X86_CMDLINE_ADDR, cmdline, strlen(cmdline) + 1);
}

static int load_bzimage(struct guest_mem *gm, const struct x86_boot_args *args,
			const struct loaded_file *k, struct x86_boot *boot, struct errmsg *err)
{
	struct e820_entry map[E820_MAX_ENTRIES_ZEROPAGE];
	struct boot_params bp;
	struct bzimage_info info;
	size_t hdr_len = k->size < BZIMAGE_HEADER_BYTES ? k->size : BZIMAGE_HEADER_BYTES;
	int n, ret;

	ret = bzimage_parse(k->data, hdr_len, k->size, &info, err);
	if (ret)
		return errmsg_prefix(err, ret, "--kernel %s", args->kernel);
	ret = bzimage_check_cmdline(&info, strlen(args->cmdline), err);
	if (ret)
		return errmsg_prefix(err, ret, "--cmdline");

	boot->kernel_start = X86_KERNEL_LOAD_ADDR;
	boot->kernel_end = X86_KERNEL_LOAD_ADDR + info.init_size;
	if (boot->kernel_end > gm_low_top(gm))
		return errmsg_set(err, -ENOMEM,
				  "--kernel %s: kernel needs %llu MiB of memory above 1 MiB, more "
				  "than --memory gives",
				  args->kernel, MIB(info.init_size + (1 << 20) - 1));
	ret = gm_write(gm, X86_KERNEL_LOAD_ADDR, k->data + info.payload_offset, info.payload_size);
	if (ret)
		return errmsg_set(err, ret, "--kernel %s: cannot place the kernel", args->kernel);
	if (args->initrd) {
		ret = load_initrd(gm, args, info.initrd_addr_max, boot, err);
		if (ret)
			return ret;
	}

	/* The zero page starts as the file's own setup header, then the loader's fields. */
	memset(&bp, 0, sizeof(bp));
	memcpy((uint8_t *)&bp + 0x1f1, k->data + 0x1f1, info.header_end - 0x1f1);
	bp.hdr.type_of_loader = 0xff;
	bp.hdr.loadflags |= LOADED_HIGH;
	bp.hdr.loadflags &= ~(uint8_t)(QUIET_FLAG | KEEP_SEGMENTS);
	bp.hdr.vid_mode = 0xffff;
	bp.hdr.code32_start = X86_KERNEL_LOAD_ADDR;
	bp.hdr.cmd_line_ptr = (uint32_t)X86_CMDLINE_ADDR;
	bp.ext_cmd_line_ptr = (uint32_t)(X86_CMDLINE_ADDR >> 32);
	bp.hdr.ramdisk_image = (uint32_t)boot->initrd_addr;
	bp.ext_ramdisk_image = (uint32_t)(boot->initrd_addr >> 32);
	bp.hdr.ramdisk_size = (uint32_t)boot->initrd_size;
	bp.ext_ramdisk_size = (uint32_t)(boot->initrd_size >> 32);
	bp.acpi_rsdp_addr = args->rsdp_addr;
	n = e820_build(gm, map, E820_MAX_ENTRIES_ZEROPAGE);
	if (n < 0)
		return errmsg_set(err, n, "e820 map does not fit the zero page");
	for (int i = 0; i < n; i++) {
		bp.e820_table[i].addr = map[i].addr;
		bp.e820_table[i].size = map[i].size;
		bp.e820_table[i].type = map[i].type;
	}
	bp.e820_entries = (uint8_t)n;

	ret = gm_write(gm, X86_ZERO_PAGE_ADDR, &bp, sizeof(bp));
	ret = ret ? ret : write_cmdline(gm, args->cmdline);
	if (ret)
		return errmsg_set(err, ret, "cannot write the zero page");
	boot->mode = X86_ENTRY_LINUX64;
	boot->entry = X86_KERNEL_LOAD_ADDR + 0x200;
	boot->boot_info = X86_ZERO_PAGE_ADDR;
	return 0;
}

static int load_pvh(struct guest_mem *gm, const struct x86_boot_args *args,
		    const struct loaded_file *k, struct x86_boot *boot, struct errmsg *err)
{
	struct e820_entry map[PVH_MEMMAP_MAX];
	struct hvm_memmap_entry mm[PVH_MEMMAP_MAX];
	struct hvm_start_info si;
	struct pvh_image img;
	int n, ret;

	ret = pvh_parse(k->data, k->size, &img, err);
	if (ret)
		return errmsg_prefix(err, ret, "--kernel %s", args->kernel);
	if (strlen(args->cmdline) + 1 > X86_CMDLINE_MAX)
		return errmsg_set(err, -E2BIG, "--cmdline: longer than %llu bytes",
				  X86_CMDLINE_MAX - 1);
	if (img.lowest < X86_HIGH_MEM || img.highest > gm_low_top(gm))
		return errmsg_set(err, -ENOMEM,
				  "--kernel %s: ELF segments [0x%llx, 0x%llx) do not fit in guest "
				  "RAM between 1 MiB and %llu MiB",
				  args->kernel, (unsigned long long)img.lowest,
				  (unsigned long long)img.highest, MIB(gm_low_top(gm)));
	for (unsigned i = 0; i < img.nr_segments; i++) {
		const struct pvh_segment *s = &img.segments[i];

		ret = gm_write(gm, s->paddr, k->data + s->file_offset, s->file_size);
		ret = ret ? ret : gm_fill(gm, s->paddr + s->file_size, 0, s->mem_size - s->file_size);
		if (ret)
			return errmsg_set(err, ret, "--kernel %s: cannot place segment %u",
					  args->kernel, i);
	}
	boot->kernel_start = img.lowest;
	boot->kernel_end = img.highest;
	if (args->initrd) {
		ret = load_initrd(gm, args, UINT32_MAX, boot, err);
		if (ret)
			return ret;
	}

	memset(&si, 0, sizeof(si));
	si.magic = HVM_START_MAGIC;
	si.version = 1;
	si.cmdline_paddr = X86_CMDLINE_ADDR;
	si.rsdp_paddr = args->rsdp_addr;
	if (boot->initrd_size) {
		struct hvm_modlist_entry mod = { boot->initrd_addr, boot->initrd_size, 0, 0 };

		ret = gm_write(gm, PVH_MODLIST_ADDR, &mod, sizeof(mod));
		if (ret)
			return errmsg_set(err, ret, "cannot write the PVH module list");
		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST_ADDR;
	}
	n = e820_build(gm, map, PVH_MEMMAP_MAX);
	if (n < 0)
		return errmsg_set(err, n, "memory map does not fit the PVH info page");
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_entry){ map[i].addr, map[i].size, map[i].type, 0 };
	si.memmap_paddr = PVH_MEMMAP_ADDR;
	si.memmap_entries = (uint32_t)n;
	ret = gm_write(gm, PVH_MEMMAP_ADDR, mm, (size_t)n * sizeof(mm[0]));
	ret = ret ? ret : gm_write(gm, X86_PVH_INFO_ADDR, &si, sizeof(si));
	ret = ret ? ret : write_cmdline(gm, args->cmdline);
	if (ret)
		return errmsg_set(err, ret, "cannot write the PVH start info");
	boot->mode = X86_ENTRY_PVH32;
	boot->entry = img.entry;
	boot->boot_info = X86_PVH_INFO_ADDR;
	return 0;
}

int x86_boot_load(struct guest_mem *gm, const struct x86_boot_args *args, struct x86_boot *boot,
		  struct errmsg *err)
{
	struct loaded_file k = { 0 };
	int ret;

	memset(boot, 0, sizeof(*boot));
	ret = load_file("--kernel", args->kernel, &k, err);
	if (ret) {
		free_file(&k);
		return ret;
	}
	if (pvh_is_elf(k.data, k.size))
		ret = load_pvh(gm, args, &k, boot, err);
	else
		ret = load_bzimage(gm, args, &k, boot, err);
	free_file(&k);
	return ret;
}

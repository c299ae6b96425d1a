/* Normalizes what the loader passed (Linux zero page or PVH hvm_start_info) into bootinfo. */
#include "guest.h"

struct bootinfo bootinfo;

/* Offsets in struct boot_params (Documentation/x86/zero-page.rst). */
#define BP_ACPI_RSDP 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

#define HVM_START_MAGIC 0x336ec578

static uint32_t rd32(uintptr_t a) { return *(volatile uint32_t *)a; }
static uint64_t rd64(uintptr_t a) { return *(volatile uint64_t *)a; }

static void from_zero_page(uintptr_t bp)
{
	unsigned n = *(volatile uint8_t *)(bp + BP_E820_ENTRIES);

	bootinfo.cmdline = (const char *)(uintptr_t)((uint64_t)rd32(bp + BP_CMD_LINE_PTR) |
						      (uint64_t)rd32(bp + BP_EXT_CMD_LINE_PTR) << 32);
	bootinfo.initrd_addr = rd32(bp + BP_RAMDISK_IMAGE) |
			       (uint64_t)rd32(bp + BP_EXT_RAMDISK_IMAGE) << 32;
	bootinfo.initrd_size = rd32(bp + BP_RAMDISK_SIZE) |
			       (uint64_t)rd32(bp + BP_EXT_RAMDISK_SIZE) << 32;
	bootinfo.rsdp = rd64(bp + BP_ACPI_RSDP);
	if (n > BP_E820_MAX)
		n = BP_E820_MAX;
	for (unsigned i = 0; i < n; i++) {
		uintptr_t e = bp + BP_E820_TABLE + i * 20;

		bootinfo.e820[i].addr = rd64(e);
		bootinfo.e820[i].size = rd64(e + 8);
		bootinfo.e820[i].type = rd32(e + 16);
	}
	bootinfo.nr_e820 = n;
}

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

static void from_pvh(uintptr_t info)
{
	const struct hvm_start_info *si = (const void *)info;

	if (si->magic != HVM_START_MAGIC) {
		printk("guest: bad hvm_start_info magic 0x%x\n", si->magic);
		guest_exit(GUEST_EXIT_CRASH);
	}
	bootinfo.cmdline = (const char *)(uintptr_t)si->cmdline_paddr;
	bootinfo.rsdp = si->rsdp_paddr;
	if (si->nr_modules) {
		const uint64_t *mod = (const void *)(uintptr_t)si->modlist_paddr;

		bootinfo.initrd_addr = mod[0];
		bootinfo.initrd_size = mod[1];
	}
	if (si->version >= 1 && si->memmap_paddr) {
		const struct { uint64_t addr, size; uint32_t type, reserved; } *mm =
			(const void *)(uintptr_t)si->memmap_paddr;
		unsigned n = si->memmap_entries < GUEST_E820_MAX ? si->memmap_entries : GUEST_E820_MAX;

		for (unsigned i = 0; i < n; i++)
			bootinfo.e820[i] = (struct guest_e820){ mm[i].addr, mm[i].size, mm[i].type };
		bootinfo.nr_e820 = n;
	}
}

void bootinfo_init(int kind, uintptr_t info)
{
	bootinfo.kind = kind;
	if (kind == BOOT_KIND_PVH)
		from_pvh(info);
	else
		from_zero_page(info);
	if (!bootinfo.cmdline)
		bootinfo.cmdline = "";
}

const char *boot_kind_name(int kind)
{
	switch (kind) {
	case BOOT_KIND_LINUX32: return "linux32";
	case BOOT_KIND_LINUX64: return "linux64";
	case BOOT_KIND_PVH: return "pvh";
	default: return "unknown";
	}
}

const char *cmdline_get(const char *key, size_t *len)
{
	size_t klen = strlen(key);
	const char *p = bootinfo.cmdline;

	while (*p) {
		const char *tok;
		size_t tlen = 0;

		while (*p == ' ')
			p++;
		tok = p;
		while (tok[tlen] && tok[tlen] != ' ')
			tlen++;
		if (tlen > klen && tok[klen] == '=' && !strncmp(tok, key, klen)) {
			*len = tlen - klen - 1;
			return tok + klen + 1;
		}
		p = tok + tlen;
	}
	return NULL;
}

bool cmdline_get_u64(const char *key, uint64_t *out)
{
	size_t len;
	const char *v = cmdline_get(key, &len);

	return v && parse_u64(v, len, out);
}

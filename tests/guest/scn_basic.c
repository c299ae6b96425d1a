/* The core scenarios: console, exit status, boot information, memory. */
#include "guest.h"
#include "scenarios.h"

#define MIB (1ULL << 20)

int scn_hello(void)
{
	printk("Hello from the minivmm test guest (entry %s)\n", boot_kind_name(bootinfo.kind));
	return 0;
}

int scn_exit(void)
{
	uint64_t code = 0;

	if (cmdline_get("code", &(size_t){ 0 }) && !cmdline_get_u64("code", &code)) {
		printk("exit: bad code=\n");
		return GUEST_EXIT_USAGE;
	}
	printk("exit: code %lu\n", code);
	return (int)code;
}

/* Echoes serial input line by line; a line holding only "." ends the scenario. */
int scn_echo(void)
{
	char line[128];
	size_t n = 0;

	printk("echo: ready\n");
	for (;;) {
		int c = con_getc();

		if (c == '\r' || c == '\n') {
			if (n == 1 && line[0] == '.') {
				printk("echo: done\n");
				return 0;
			}
			printk("echo: ");
			con_write(line, n);
			printk("\n");
			n = 0;
		} else if (c == 0x04) {
			printk("echo: done\n");
			return 0;
		} else if (n < sizeof(line)) {
			line[n++] = (char)c;
		}
	}
}

static const char *e820_type_name(uint32_t type)
{
	switch (type) {
	case 1: return "usable";
	case 2: return "reserved";
	case 3: return "ACPI data";
	case 4: return "ACPI NVS";
	default: return "unknown";
	}
}

int scn_e820(void)
{
	uint64_t usable = 0;

	for (unsigned i = 0; i < bootinfo.nr_e820; i++) {
		const struct guest_e820 *e = &bootinfo.e820[i];

		printk("e820: [mem 0x%016lx-0x%016lx] %s\n", e->addr, e->addr + e->size - 1,
		       e820_type_name(e->type));
		if (e->type == 1)
			usable += e->size;
	}
	printk("e820: %u entries, %lu KiB usable\n", bootinfo.nr_e820, usable >> 10);
	return bootinfo.nr_e820 ? 0 : GUEST_EXIT_FAIL;
}

static bool range_is_ram(uint64_t start, uint64_t end)
{
	for (unsigned i = 0; i < bootinfo.nr_e820; i++) {
		const struct guest_e820 *e = &bootinfo.e820[i];

		if (e->type == 1 && start >= e->addr && end <= e->addr + e->size)
			return true;
	}
	return false;
}

static void fill_q(uint64_t *p, uint64_t v, size_t n)
{
	__asm__ volatile("rep stosq" : "+D"(p), "+c"(n) : "a"(v) : "memory");
}

/* Address of the first quadword in [p, p+n) that differs from v, or NULL. */
static const uint64_t *scan_q(const uint64_t *p, uint64_t v, size_t n)
{
	uint8_t ne;

	__asm__ volatile("repe scasq\n\tsetne %2" : "+D"(p), "+c"(n), "=q"(ne) : "a"(v) : "memory",
			 "cc");
	return ne ? p - 1 : NULL;
}

/* memtest=MB: two passes (address pattern and its complement) over MB MiB of RAM above the
 * guest image, each page written whole and then verified, so aliasing and stuck bits show.
 * hold=1: then halt with that memory written (a guest whose every page is in use, for
 * snapshot and migration benchmarks) instead of exiting. */
int scn_memtest(void)
{
	uint64_t mb = 0, start, end;
	const uint64_t words = 4096 / 8;

	if (!cmdline_get_u64("memtest", &mb) || mb == 0) {
		printk("memtest: needs memtest=MB\n");
		return GUEST_EXIT_USAGE;
	}
	start = ((uint64_t)(uintptr_t)_end + MIB - 1) & ~(MIB - 1);
	end = start + mb * MIB;
	if (end > 0x100000000ULL || !range_is_ram(start, end)) {
		printk("memtest: [0x%lx, 0x%lx) is not all RAM\n", start, end);
		return GUEST_EXIT_FAIL;
	}
	if (bootinfo.initrd_size && bootinfo.initrd_addr < end &&
	    start < bootinfo.initrd_addr + bootinfo.initrd_size) {
		printk("memtest: range overlaps the initrd\n");
		return GUEST_EXIT_FAIL;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (uint64_t a = start; a < end; a += 4096)
			fill_q((uint64_t *)a, pass ? ~a : a, words);
		for (uint64_t a = start; a < end; a += 4096) {
			uint64_t want = pass ? ~a : a;
			const uint64_t *bad = scan_q((const uint64_t *)a, want, words);

			if (bad) {
				printk("memtest: mismatch at %p: 0x%lx, expected 0x%lx\n",
				       (const void *)bad, *bad, want);
				return GUEST_EXIT_FAIL;
			}
		}
	}
	printk("memtest: %lu MiB at 0x%lx OK\n", mb, start);
	if (cmdline_get_u64("hold", &mb) && mb)
		return scn_idle();
	return 0;
}

/* POSIX cksum (the CRC `cksum` prints), so the host can compare with its own tool. */
static uint32_t cksum(const uint8_t *p, uint64_t n)
{
	static uint32_t table[256];
	uint32_t crc = 0;

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i << 24;

		for (int k = 0; k < 8; k++)
			c = (c & 0x80000000U) ? (c << 1) ^ 0x04c11db7U : c << 1;
		table[i] = c;
	}
	for (uint64_t i = 0; i < n; i++)
		crc = (crc << 8) ^ table[(crc >> 24) ^ p[i]];
	for (uint64_t len = n; len; len >>= 8)
		crc = (crc << 8) ^ table[(crc >> 24) ^ (len & 0xff)];
	return ~crc;
}

int scn_initrd(void)
{
	if (!bootinfo.initrd_size) {
		printk("initrd: none\n");
		return GUEST_EXIT_FAIL;
	}
	if (!range_is_ram(bootinfo.initrd_addr, bootinfo.initrd_addr + bootinfo.initrd_size)) {
		printk("initrd: [0x%lx +%lu] is not in RAM\n", bootinfo.initrd_addr,
		       bootinfo.initrd_size);
		return GUEST_EXIT_FAIL;
	}
	printk("initrd: %lu bytes at 0x%lx\n", bootinfo.initrd_size, bootinfo.initrd_addr);
	printk("initrd: cksum %u %lu\n",
	       cksum((const uint8_t *)(uintptr_t)bootinfo.initrd_addr, bootinfo.initrd_size),
	       bootinfo.initrd_size);
	return 0;
}

/* Halts with interrupts off: the VM idles until the host stops it (timeouts, RSS figures). */
int scn_idle(void)
{
	printk("idle: halting\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Pulses the reset line through the i8042, as Linux's reboot=k does. */
int scn_reboot(void)
{
	printk("reboot: via i8042\n");
	while (inb(0x64) & 0x02)
		;
	outb(0x64, 0xfe);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Loads an empty IDT and faults: no handler for the fault nor the double fault → shutdown. */
int scn_triple_fault(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty = { 0, 0 };

	printk("triple-fault: now\n");
	__asm__ volatile("lidt %0\n\tud2" : : "m"(empty));
	return GUEST_EXIT_FAIL;
}

/* Prints the command line as the guest received it (what the loader appended shows here). */
int scn_cmdline(void)
{
	printk("cmdline: %s\n", bootinfo.cmdline);
	return 0;
}

/* int3 in ring 0 must reach our #BP handler and continue after the instruction (on KVMs that
 * cannot emulate it, minivmm injects the #BP: arch/x86/host_quirks.c). */
int scn_int3(void)
{
	__asm__ volatile("int3" ::: "memory");
	__asm__ volatile("int3" ::: "memory");
	printk("int3: %u breakpoints delivered and returned\n", guest_bp_count);
	return guest_bp_count == 2 ? 0 : GUEST_EXIT_FAIL;
}

/* fwait in ring 0 (what Linux's fpu__drop runs at every task exit) must just continue. */
int scn_fwait(void)
{
	__asm__ volatile("fwait" ::: "memory");
	printk("fwait: continued\n");
	return 0;
}

/* Test guest entry: set up exceptions and the console, pick the scenario from the command line
 * (scenario=NAME, default hello), run it, and report its verdict through the exit port. */
#include "guest.h"
#include "scenarios.h"

static const struct scenario scenarios[] = {
	SCENARIO("hello", scn_hello),
	SCENARIO("exit", scn_exit),
	SCENARIO("echo", scn_echo),
	SCENARIO("e820", scn_e820),
	SCENARIO("memtest", scn_memtest),
	SCENARIO("initrd", scn_initrd),
	SCENARIO("idle", scn_idle),
	SCENARIO("reboot", scn_reboot),
	SCENARIO("triple-fault", scn_triple_fault),
	SCENARIO("cmdline", scn_cmdline),
	SCENARIO("int3", scn_int3),
	SCENARIO("fwait", scn_fwait),
	SCENARIO("acpi", scn_acpi),
	SCENARIO("smp", scn_smp),
	SCENARIO("poweroff", scn_poweroff),
	SCENARIO("acpi-reset", scn_acpi_reset),
	SCENARIO("blk-rw", scn_blk_rw),
	SCENARIO("blk-ro", scn_blk_ro),
	SCENARIO("blk-bounds", scn_blk_bounds),
	SCENARIO("blk-discard", scn_blk_discard),
	SCENARIO("blk-hostile", scn_blk_hostile),
	SCENARIO("blk-slow", scn_blk_slow),
	SCENARIO("console", scn_console),
	SCENARIO("console-flood", scn_console_flood),
	SCENARIO("console-stall", scn_console_stall),
	SCENARIO("storm", scn_storm),
	SCENARIO("serial-flood", scn_serial_flood),
	SCENARIO("net-echo", scn_net_echo),
	SCENARIO("net-hostile", scn_net_hostile),
	SCENARIO("ticker", scn_ticker),
	SCENARIO("state", scn_state),
	SCENARIO("dirty", scn_dirty),
};

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

static struct idt_gate idt[32] __attribute__((aligned(16)));
extern const uint64_t exc_stubs[20];

struct exc_frame {
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

void guest_exception(const struct exc_frame *f);
void guest_main(int kind, uintptr_t info);

void guest_exit(unsigned code)
{
	outl(GUEST_EXIT_PORT, code);
	/* Still here: no exit device (e.g. another VMM). Stop for good. */
	for (;;)
		__asm__ volatile("cli; hlt");
}

volatile unsigned guest_bp_count;

void guest_exception(const struct exc_frame *f)
{
	uint64_t cr2;

	if (f->vector == 3) {
		guest_bp_count++; /* int3 is a trap: return past it */
		return;
	}

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	printk("guest: exception %lu (error 0x%lx) at RIP 0x%lx, CR2 0x%lx\n", f->vector, f->error,
	       f->rip, cr2);
	guest_exit(GUEST_EXIT_CRASH);
}

static void idt_init(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) desc = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	for (unsigned i = 0; i < 20; i++) {
		uint64_t a = exc_stubs[i];

		idt[i] = (struct idt_gate){ (uint16_t)a, 0x10, 0, 0x8e, (uint16_t)(a >> 16),
					    (uint32_t)(a >> 32), 0 };
	}
	__asm__ volatile("lidt %0" : : "m"(desc));
}

void guest_main(int kind, uintptr_t info)
{
	const struct scenario *s = NULL;
	const char *name;
	size_t len;

	/* Progress codes on port 0x80, as firmware does: minivmm --boot-trace shows them. */
	outb(GUEST_POST_PORT, 0x01);
	idt_init();
	con_init();
	outb(GUEST_POST_PORT, 0x02);
	bootinfo_init(kind, info);
	name = cmdline_get("scenario", &len);
	if (!name) {
		name = "hello";
		len = 5;
	}
	for (unsigned i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (scenarios[i].len == len && !strncmp(scenarios[i].name, name, len)) {
			s = &scenarios[i];
			break;
		}
	}
	if (!s) {
		printk("guest: unknown scenario '");
		con_write(name, len);
		printk("'\n");
		guest_exit(GUEST_EXIT_USAGE);
	}
	outb(GUEST_POST_PORT, 0x03);
	guest_exit((unsigned)s->run());
}

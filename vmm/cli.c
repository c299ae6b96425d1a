#include "vmm/cli.h"

#include <errno.h>
#include <getopt.h>
#include <linux/kvm_para.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "vmm/parse.h"

#define CLI_MAX_TIMEOUT (30U * 24 * 3600)
#define CLI_MAX_CPUS 1024

const char cli_run_usage[] =
	"usage: minivmm run --kernel FILE [options]\n"
	"       minivmm run --restore SNAPSHOT [the device flags it was taken with]\n"
	"       minivmm run --incoming tcp:ADDR:PORT|unix:PATH [the source's device flags]\n"
	"\n"
	"Boots a Linux kernel (bzImage via the 64-bit boot protocol, or ELF vmlinux via PVH).\n"
	"The exit status is the guest's verdict written to port 0xf4 (0-255), 0 on poweroff or\n"
	"reboot, 124 on --timeout, 125 when a `shutdown` through the control socket had to be\n"
	"forced, 128+N on signal N, 1 on a VMM error.\n"
	"\n"
	"  --kernel FILE          kernel to boot (required)\n"
	"  --initrd FILE          initial ramdisk\n"
	"  --cmdline STRING       kernel command line\n"
	"  --cpus N               number of vCPUs (default 1)\n"
	"  --memory SIZE          guest RAM, K/M/G suffixes (default 512M);\n"
	"                         also size=SIZE[,hugepages=on][,merge=on] (merge: KSM may\n"
	"                         share identical pages between VMs)\n"
	"  --serial MODE          COM1: stdio (default), off, or file=PATH\n"
	"  --console MODE         virtio-console: off (default), stdio (or virtio), file=PATH;\n"
	"                         on stdio it takes stdin from COM1\n"
	"  --disk path=FILE[,format=raw|qcow2][,readonly=on][,id=NAME][,engine=io_uring|sync]\n"
	"         [,direct=on][,num_queues=N] a virtio-blk disk (repeatable); without format=\n"
	"         a file with the qcow2 magic is qcow2, anything else raw\n"
	"  --net tap=NAME|fd=N[,mac=xx:xx:xx:xx:xx:xx][,num_queues=N]\n"
	"                         a virtio-net device on tap NAME (created if missing; needs\n"
	"                         CAP_NET_ADMIN) or on an inherited tap descriptor N (opened with\n"
	"                         IFF_TAP|IFF_NO_PI|IFF_VNET_HDR); num_queues counts receive +\n"
	"                         transmit queues (default 2); repeatable\n"
	"  --kvm-pv-off LIST      hide KVM paravirtual features from the guest: clock, async-pf,\n"
	"                         steal-time, eoi, unhalt, tlb-flush, ipi, sched-yield\n"
	"  --timeout SECONDS      stop the guest after this long, exit status 124\n"
	"  --acpi on|off          ACPI tables (default on); off: MP table only\n"
	"  --virtio-cmdline auto|on|off  announce virtio devices as virtio_mmio.device= on the\n"
	"                         kernel command line; auto (default): only with --acpi off\n"
	"                         (with ACPI the DSDT announces them)\n"
	"  --dump-acpi DIR        also write the ACPI tables to DIR/<SIG>.dat (for iasl -d)\n"
	"  --on-reboot exit|fail  a guest reboot ends the VM with status 0 (exit, default) or 1\n"
	"  --restore FILE         start from a snapshot instead of booting: give the --cpus,\n"
	"                         --memory, --acpi and device flags it was taken with (checked\n"
	"                         first; --kernel, --initrd and --cmdline are not needed)\n"
	"  --incoming URI         receive a live migration (tcp:ADDR:PORT or unix:PATH) instead\n"
	"                         of booting; the same flags as the source (checked first)\n"
	"  --paused               start with the vCPUs stopped until `minivmm ctl SOCK resume`\n"
	"                         (needs --api-socket; e.g. a migration's destination that\n"
	"                         waits for the network to be switched over)\n"
	"  --api-socket PATH      control socket (JSON lines; minivmm ctl PATH ...): status,\n"
	"                         pause, resume, shutdown, quit, snapshot, events\n"
	"  --seccomp on|log|off   system-call filter per thread (default on: a forbidden call\n"
	"                         ends the VM with one line naming it; log: allowed and logged\n"
	"                         by the kernel's audit log; off: no filter)\n"
	"  --user UID[:GID]       after setup, switch to this user and group (numbers; GID\n"
	"                         defaults to UID; supplementary groups cleared; needs root)\n"
	"  --chroot DIR           after setup, make DIR the root directory (needs root);\n"
	"                         snapshot paths are then inside DIR\n"
	"  --boot-trace           print to stderr the ms since start of each boot milestone\n"
	"                         and of each guest write to port 0x80\n"
	"  -v, --verbose          report unmapped guest port/MMIO accesses\n"
	"  -h, --help             this help\n"
	"  -V, --version          print the version\n"
	"\n"
	"On a terminal, Ctrl-A x quits and Ctrl-A Ctrl-A sends a Ctrl-A.\n";

enum {
	OPT_KERNEL = 0x100, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY, OPT_SERIAL,
	OPT_TIMEOUT, OPT_DISK, OPT_NET, OPT_KVM_PV_OFF, OPT_CONSOLE, OPT_BOOT_TRACE, OPT_ACPI, OPT_VIRTIO_CMDLINE, OPT_DUMP_ACPI, OPT_ON_REBOOT,
	OPT_RESTORE,
	OPT_INCOMING,
	OPT_PAUSED,
	OPT_API_SOCKET, OPT_SECCOMP, OPT_USER, OPT_CHROOT,
};

static const struct option cli_run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "paused", no_argument, NULL, OPT_PAUSED },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "net", required_argument, NULL, OPT_NET },
	{ "kvm-pv-off", required_argument, NULL, OPT_KVM_PV_OFF },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "boot-trace", no_argument, NULL, OPT_BOOT_TRACE },
	{ "acpi", required_argument, NULL, OPT_ACPI },
	{ "virtio-cmdline", required_argument, NULL, OPT_VIRTIO_CMDLINE },
	{ "dump-acpi", required_argument, NULL, OPT_DUMP_ACPI },
	{ "on-reboot", required_argument, NULL, OPT_ON_REBOOT },
	{ "api-socket", required_argument, NULL, OPT_API_SOCKET },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "user", required_argument, NULL, OPT_USER },
	{ "chroot", required_argument, NULL, OPT_CHROOT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

int cli_parse_memory(char *arg, struct vm_config *cfg, struct errmsg *err)
{
	char *cursor = arg, *key, *value;
	bool have_size = false;
	int ret;

	while (parse_next_kv(&cursor, &key, &value)) {
		if (!value || !strcmp(key, "size")) {
			const char *sz = value ? value : key;

			ret = parse_size(sz, &cfg->mem_size);
			if (ret)
				return errmsg_set(err, -EINVAL, "--memory: bad size '%s'", sz);
			have_size = true;
		} else if (!strcmp(key, "hugepages")) {
			if (parse_bool(value, &cfg->hugepages))
				return errmsg_set(err, -EINVAL,
						  "--memory: hugepages=%s: expected on or off", value);
		} else if (!strcmp(key, "merge")) {
			if (parse_bool(value, &cfg->mergeable))
				return errmsg_set(err, -EINVAL,
						  "--memory: merge=%s: expected on or off", value);
		} else {
			return errmsg_set(err, -EINVAL, "--memory: unknown option '%s'", key);
		}
	}
	if (!have_size)
		return errmsg_set(err, -EINVAL, "--memory: no size given");
	if (cfg->mem_size < VM_MIN_MEM)
		return errmsg_set(err, -EINVAL, "--memory: %llu bytes is too small (minimum 2M)",
				  (unsigned long long)cfg->mem_size);
	if (cfg->mem_size % 4096)
		return errmsg_set(err, -EINVAL, "--memory: size must be a multiple of 4K");
	if (cfg->hugepages && cfg->mergeable)
		return errmsg_set(err, -EINVAL, "--memory: merge=on does not work with hugepages=on");
	if (cfg->hugepages && cfg->mem_size % (2 << 20))
		return errmsg_set(err, -EINVAL,
				  "--memory: with hugepages the size must be a multiple of 2M");
	return 0;
}

int cli_parse_chardev(const char *flag, const char *arg, struct chardev_config *out,
		      struct errmsg *err)
{
	if (!strcmp(arg, "stdio")) {
		*out = (struct chardev_config){ CHARDEV_STDIO, NULL };
	} else if (!strcmp(arg, "off")) {
		*out = (struct chardev_config){ CHARDEV_OFF, NULL };
	} else if (!strncmp(arg, "file=", 5) && arg[5]) {
		*out = (struct chardev_config){ CHARDEV_FILE, arg + 5 };
	} else {
		return errmsg_set(err, -EINVAL, "%s: '%s': expected stdio, off or file=PATH", flag,
				  arg);
	}
	return 0;
}

int cli_parse_disk(char *arg, struct vm_config *cfg, struct errmsg *err)
{
	struct disk_config *d;
	char *cursor = arg, *key, *value;
	uint64_t n;

	if (cfg->nr_disks == VM_MAX_DISKS)
		return errmsg_set(err, -E2BIG, "--disk: at most %d disks", VM_MAX_DISKS);
	d = &cfg->disks[cfg->nr_disks];
	memset(d, 0, sizeof(*d));
	d->num_queues = 1;
	while (parse_next_kv(&cursor, &key, &value)) {
		bool b;

		if (!value)
			return errmsg_set(err, -EINVAL, "--disk: '%s' needs a value (key=value)", key);
		if (!strcmp(key, "path")) {
			d->path = value;
		} else if (!strcmp(key, "readonly") || !strcmp(key, "direct")) {
			if (parse_bool(value, &b))
				return errmsg_set(err, -EINVAL, "--disk: %s=%s: expected on or off",
						  key, value);
			if (key[0] == 'r')
				d->readonly = b;
			else
				d->direct = b;
		} else if (!strcmp(key, "format")) {
			if (strcmp(value, "raw") && strcmp(value, "qcow2"))
				return errmsg_set(err, -EINVAL, "--disk: format=%s: expected raw or qcow2",
						  value);
			d->format = strcmp(value, "raw") ? DISK_FORMAT_QCOW2 : DISK_FORMAT_RAW;
		} else if (!strcmp(key, "id")) {
			if (strlen(value) > 20)
				return errmsg_set(err, -EINVAL,
						  "--disk: id=%s: at most 20 characters", value);
			d->id = value;
		} else if (!strcmp(key, "engine")) {
			if (strcmp(value, "io_uring") && strcmp(value, "sync"))
				return errmsg_set(err, -EINVAL,
						  "--disk: engine=%s: expected io_uring or sync", value);
			d->engine = strcmp(value, "sync") ? BLK_ENGINE_IO_URING : BLK_ENGINE_SYNC;
			d->engine_set = true;
		} else if (!strcmp(key, "num_queues")) {
			if (parse_uint(value, 1, 16, &n))
				return errmsg_set(err, -EINVAL,
						  "--disk: num_queues=%s: expected 1 to 16", value);
			d->num_queues = (unsigned)n;
		} else {
			return errmsg_set(err, -EINVAL, "--disk: unknown option '%s'", key);
		}
	}
	if (!d->path || !*d->path)
		return errmsg_set(err, -EINVAL, "--disk: path=FILE is required");
	cfg->nr_disks++;
	return 0;
}

/* --kvm-pv-off: paravirtual features the guest must not see, by QEMU's kvm-pv-* names. */
static int parse_kvm_pv_off(char *arg, uint32_t *mask, struct errmsg *err)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "clock", KVM_FEATURE_CLOCKSOURCE2 }, { "async-pf", KVM_FEATURE_ASYNC_PF },
		{ "steal-time", KVM_FEATURE_STEAL_TIME }, { "eoi", KVM_FEATURE_PV_EOI },
		{ "unhalt", KVM_FEATURE_PV_UNHALT }, { "tlb-flush", KVM_FEATURE_PV_TLB_FLUSH },
		{ "ipi", KVM_FEATURE_PV_SEND_IPI }, { "sched-yield", KVM_FEATURE_PV_SCHED_YIELD },
	};
	char *save, *tok;

	for (tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(tok, names[i].name))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return errmsg_set(err, -EINVAL,
					  "--kvm-pv-off: unknown feature '%s' (clock, async-pf, steal-time, eoi, unhalt, tlb-flush, ipi, sched-yield)",
					  tok);
		*mask |= 1u << names[i].bit;
	}
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &end) != 6 || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return (mac[0] & 1) ? -EINVAL : 0; /* a multicast address cannot be a station's */
}

int cli_parse_net(char *arg, struct vm_config *cfg, struct errmsg *err)
{
	struct net_config *n;
	char *cursor = arg, *key, *value;
	uint64_t v;

	if (cfg->nr_nets == VM_MAX_NETS)
		return errmsg_set(err, -E2BIG, "--net: at most %d network devices", VM_MAX_NETS);
	n = &cfg->nets[cfg->nr_nets];
	memset(n, 0, sizeof(*n));
	n->fd = -1;
	n->pairs = 1;
	n->index = cfg->nr_nets;
	while (parse_next_kv(&cursor, &key, &value)) {
		if (!value)
			return errmsg_set(err, -EINVAL, "--net: '%s' needs a value (key=value)", key);
		if (!strcmp(key, "tap")) {
			if (!*value || strlen(value) > 15)
				return errmsg_set(err, -EINVAL, "--net: tap=%s: 1 to 15 characters", value);
			n->tap = value;
		} else if (!strcmp(key, "fd")) {
			if (parse_uint(value, 3, 65535, &v))
				return errmsg_set(err, -EINVAL,
						  "--net: fd=%s: expected an inherited descriptor number >= 3", value);
			n->fd = (int)v;
		} else if (!strcmp(key, "mac")) {
			if (parse_mac(value, n->mac))
				return errmsg_set(err, -EINVAL,
						  "--net: mac=%s: expected xx:xx:xx:xx:xx:xx, not multicast", value);
			n->has_mac = true;
		} else if (!strcmp(key, "num_queues")) {
			if (parse_uint(value, 2, 2 * NET_MAX_PAIRS, &v) || v % 2)
				return errmsg_set(err, -EINVAL,
						  "--net: num_queues=%s: expected an even number from 2 to %d (receive + transmit per pair)",
						  value, 2 * NET_MAX_PAIRS);
			n->pairs = (unsigned)(v / 2);
		} else {
			return errmsg_set(err, -EINVAL, "--net: unknown option '%s'", key);
		}
	}
	if (!n->tap == (n->fd < 0))
		return errmsg_set(err, -EINVAL, "--net: exactly one of tap=NAME or fd=N is required");
	cfg->nr_nets++;
	return 0;
}

int cli_parse_run(int argc, char **argv, struct vm_config *cfg, struct errmsg *err)
{
	uint64_t v;
	int opt, ret;

	struct timespec t_main = cfg->t_main;

	memset(cfg, 0, sizeof(*cfg));
	cfg->t_main = t_main;
	cfg->cpus = 1;
	cfg->mem_size = VM_DEFAULT_MEM;
	cfg->serial.mode = CHARDEV_STDIO;
	cfg->acpi = true;
	cfg->virtio_cmdline = VIRTIO_CMDLINE_AUTO;
	cfg->console.mode = CHARDEV_OFF;
	cfg->seccomp = SECCOMP_POLICY_ON;
	opterr = 0;
	optind = 0; /* glibc: 0 also resets getopt's internal state */
	while ((opt = getopt_long(argc, argv, ":vhV", cli_run_options, NULL)) != -1) {
		switch (opt) {
		case OPT_KERNEL:
			cfg->kernel = optarg;
			break;
		case OPT_INITRD:
			cfg->initrd = optarg;
			break;
		case OPT_RESTORE:
			cfg->restore = optarg;
			break;
		case OPT_INCOMING:
			cfg->incoming = optarg;
			break;
		case OPT_PAUSED:
			cfg->start_paused = true;
			break;
		case OPT_CMDLINE:
			cfg->cmdline = optarg;
			break;
		case OPT_CPUS:
			if (parse_uint(optarg, 1, CLI_MAX_CPUS, &v))
				return errmsg_set(err, -EINVAL,
						  "--cpus: '%s': expected a number from 1 to %u",
						  optarg, CLI_MAX_CPUS);
			cfg->cpus = (unsigned)v;
			break;
		case OPT_MEMORY:
			ret = cli_parse_memory(optarg, cfg, err);
			if (ret)
				return ret;
			break;
		case OPT_SERIAL:
			ret = cli_parse_chardev("--serial", optarg, &cfg->serial, err);
			if (ret)
				return ret;
			break;
		case OPT_TIMEOUT:
			if (parse_uint(optarg, 1, CLI_MAX_TIMEOUT, &v))
				return errmsg_set(err, -EINVAL,
						  "--timeout: '%s': expected whole seconds from 1 "
						  "to %u",
						  optarg, CLI_MAX_TIMEOUT);
			cfg->timeout_sec = (unsigned)v;
			break;
		case 'v':
			cfg->verbose = true;
			break;
		case OPT_CONSOLE:
			ret = cli_parse_chardev("--console", !strcmp(optarg, "virtio") ? "stdio" : optarg,
						&cfg->console, err);
			if (ret)
				return ret;
			break;
		case OPT_DISK:
			ret = cli_parse_disk(optarg, cfg, err);
			if (ret)
				return ret;
			break;
		case OPT_NET:
			ret = cli_parse_net(optarg, cfg, err);
			if (ret)
				return ret;
			break;
		case OPT_KVM_PV_OFF:
			ret = parse_kvm_pv_off(optarg, &cfg->kvm_pv_off, err);
			if (ret)
				return ret;
			break;
		case OPT_BOOT_TRACE:
			cfg->boot_trace = true;
			break;
		case OPT_ACPI:
			if (parse_bool(optarg, &cfg->acpi))
				return errmsg_set(err, -EINVAL, "--acpi: '%s': expected on or off",
						  optarg);
			break;
		case OPT_VIRTIO_CMDLINE: {
			bool on;

			if (!strcmp(optarg, "auto"))
				cfg->virtio_cmdline = VIRTIO_CMDLINE_AUTO;
			else if (!parse_bool(optarg, &on))
				cfg->virtio_cmdline = on ? VIRTIO_CMDLINE_ON : VIRTIO_CMDLINE_OFF;
			else
				return errmsg_set(err, -EINVAL,
						  "--virtio-cmdline: '%s': expected auto, on or off",
						  optarg);
			break;
		}
		case OPT_DUMP_ACPI:
			cfg->dump_acpi = optarg;
			break;
		case OPT_ON_REBOOT:
			if (strcmp(optarg, "exit") && strcmp(optarg, "fail"))
				return errmsg_set(err, -EINVAL,
						  "--on-reboot: '%s': expected exit or fail", optarg);
			cfg->reboot_fails = !strcmp(optarg, "fail");
			break;
		case OPT_API_SOCKET:
			/* sun_path holds 107 bytes and the NUL. */
			if (!*optarg || strlen(optarg) >= sizeof(((struct sockaddr_un *)0)->sun_path))
				return errmsg_set(err, -ENAMETOOLONG,
						  "--api-socket: '%s': a socket path must be 1 to %zu bytes",
						  optarg, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
			cfg->api_socket = optarg;
			break;
		case OPT_SECCOMP:
			if (!strcmp(optarg, "on"))
				cfg->seccomp = SECCOMP_POLICY_ON;
			else if (!strcmp(optarg, "log"))
				cfg->seccomp = SECCOMP_POLICY_LOG;
			else if (!strcmp(optarg, "off"))
				cfg->seccomp = SECCOMP_POLICY_OFF;
			else
				return errmsg_set(err, -EINVAL, "--seccomp: '%s': expected on, log or off",
						  optarg);
			break;
		case OPT_USER:
			ret = privs_parse_user(optarg, &cfg->privs, err);
			if (ret)
				return ret;
			break;
		case OPT_CHROOT:
			if (!*optarg)
				return errmsg_set(err, -EINVAL, "--chroot: empty directory name");
			cfg->privs.chroot = optarg;
			break;
		case 'h':
			return CLI_HELP;
		case 'V':
			return CLI_VERSION;
		case ':':
			return errmsg_set(err, -EINVAL, "%s needs a value", argv[optind - 1]);
		default:
			return errmsg_set(err, -EINVAL, "unknown flag '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return errmsg_set(err, -EINVAL, "unexpected argument '%s'", argv[optind]);
	/* The source holds the images until the hand-over. */
	for (unsigned i = 0; cfg->incoming && i < cfg->nr_disks; i++)
		cfg->disks[i].inactive = true;
	if (cfg->restore && cfg->incoming)
		return errmsg_set(err, -EINVAL, "--restore and --incoming: a VM comes from one or the other");
	if (!cfg->kernel && !cfg->restore && !cfg->incoming)
		return errmsg_set(err, -EINVAL, "--kernel is required (or --restore SNAPSHOT, or --incoming URI)");
	if (cfg->start_paused && !cfg->api_socket)
		return errmsg_set(err, -EINVAL, "--paused needs --api-socket (ctl resume starts the vCPUs)");
	if (cfg->dump_acpi && !cfg->acpi)
		return errmsg_set(err, -EINVAL, "--dump-acpi needs --acpi on");
	return CLI_RUN;
}

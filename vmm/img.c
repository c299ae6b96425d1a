/* `minivmm img`: create, info and check disk images (the qemu-img subset users need). */
#include "vmm/img.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "vmm/parse.h"

static const char img_usage[] =
	"usage: minivmm img COMMAND ...\n"
	"\n"
	"  create -f qcow2|raw [-b BACKING [-F raw|qcow2]] [-o cluster_size=N,compat=0.10|1.1]\n"
	"         FILE [SIZE]      make an image (SIZE with K/M/G/T suffixes; with -b it\n"
	"                          defaults to the backing file's size)\n"
	"  info FILE               format, virtual size, allocation, backing chain\n"
	"  check FILE              recount references; exit 0 clean, 2 corrupt, 3 leaks only,\n"
	"                          1 when the image cannot be checked\n";

static void human(uint64_t v, char *out, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, len, "%" PRIu64 " B", v);
	else
		snprintf(out, len, "%.3g %s", d, unit[u]);
}

static bool is_qcow2_file(const char *path)
{
	char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool yes = false;

	if (fd >= 0) {
		yes = pread(fd, magic, 4, 0) == 4 && !memcmp(magic, QCOW2_MAGIC_BYTES, 4);
		close(fd);
	}
	return yes;
}

/* The backing file's size, as the overlay will see it (path relative to the overlay). */
static int backing_size(const char *image, const char *backing, const char *fmt, uint64_t *size)
{
	char dir[4096], path[8192];
	struct errmsg err;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", image);
	if (backing[0] == '/')
		snprintf(path, sizeof(path), "%s", backing);
	else
		snprintf(path, sizeof(path), "%s/%s", dirname(dir), backing);
	if (!strcmp(fmt, "qcow2")) {
		struct qcow2 *q;
		int ret = qcow2_open(path, true, &q, NULL, &err);

		if (ret) {
			fprintf(stderr, "minivmm img: backing file %s: %s\n", path, err.text);
			return ret;
		}
		*size = qcow2_size(q);
		qcow2_close(q);
		return 0;
	}
	if (stat(path, &st) < 0) {
		fprintf(stderr, "minivmm img: backing file %s: %s\n", path, strerror(errno));
		return -errno;
	}
	*size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode)) {
		/* A device's st_size is 0: ask the device (a LUN or a loop device as backing). */
		int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

		if (fd < 0 || ioctl(fd, BLKGETSIZE64, size) < 0) {
			ret = -errno;
			fprintf(stderr, "minivmm img: backing device %s: %s\n", path, strerror(errno));
		}
		if (fd >= 0)
			close(fd);
		return ret;
	}
	return 0;
}

static int img_create(int argc, char **argv)
{
	struct qcow2_create_opts o = { 0 };
	const char *fmt = NULL;
	char *opts = NULL;
	struct errmsg err;
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "+f:b:F:o:h")) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'b': o.backing = optarg; break;
		case 'F': o.backing_fmt = optarg; break;
		case 'o': opts = optarg; break;
		case 'h': fputs(img_usage, stdout); return 0;
		default: return 1;
		}
	}
	if (!fmt || (strcmp(fmt, "qcow2") && strcmp(fmt, "raw"))) {
		fprintf(stderr, "minivmm img create: -f qcow2 or -f raw is required\n");
		return 1;
	}
	if (optind >= argc || argc - optind > 2) {
		fprintf(stderr, "minivmm img create: expected FILE [SIZE]\n");
		return 1;
	}
	if (argc - optind == 2 && parse_size(argv[optind + 1], &o.size)) {
		fprintf(stderr, "minivmm img create: size '%s': expected a number with optional K/M/G/T suffix\n",
			argv[optind + 1]);
		return 1;
	}
	for (char *cur = opts, *k, *v; cur && parse_next_kv(&cur, &k, &v);) {
		uint64_t n;

		if (!strcmp(k, "cluster_size") && v && !parse_size(v, &n) && n <= UINT32_MAX) {
			o.cluster_size = (uint32_t)n;
		} else if (!strcmp(k, "compat") && v && (!strcmp(v, "0.10") || !strcmp(v, "1.1"))) {
			o.version = strcmp(v, "0.10") ? 3 : 2;
		} else {
			fprintf(stderr, "minivmm img create: -o %s%s%s: unknown option or bad value\n", k,
				v ? "=" : "", v ? v : "");
			return 1;
		}
	}
	if (!strcmp(fmt, "raw")) {
		int fd;

		if (o.backing || opts) {
			fprintf(stderr, "minivmm img create: raw images take no -b or -o\n");
			return 1;
		}
		fd = open(argv[optind], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || ftruncate(fd, (off_t)o.size) < 0) {
			fprintf(stderr, "minivmm img create: %s: %s\n", argv[optind], strerror(errno));
			if (fd >= 0)
				close(fd);
			return 1;
		}
		close(fd);
		return 0;
	}
	if (o.backing) {
		char dir[4096], path[8192];

		snprintf(dir, sizeof(dir), "%s", argv[optind]);
		snprintf(path, sizeof(path), "%s/%s", dirname(dir), o.backing);
		/* Decided once, here, by the user's own file; recorded so opens never probe. */
		if (!o.backing_fmt)
			o.backing_fmt = is_qcow2_file(o.backing[0] == '/' ? o.backing : path) ? "qcow2" : "raw";
		if (argc - optind == 1 && backing_size(argv[optind], o.backing, o.backing_fmt, &o.size))
			return 1;
	} else if (argc - optind == 1) {
		fprintf(stderr, "minivmm img create: SIZE is required without -b\n");
		return 1;
	}
	if (qcow2_create(argv[optind], &o, &err)) {
		fprintf(stderr, "minivmm img create: %s\n", err.text);
		return 1;
	}
	return 0;
}

static int img_info(const char *path)
{
	struct qcow2 *q, *top;
	const char *name = path;
	struct errmsg err;
	struct stat st;
	char a[32], b[32];
	int depth = 0;

	if (!is_qcow2_file(path)) {
		if (stat(path, &st) < 0) {
			fprintf(stderr, "minivmm img info: %s: %s\n", path, strerror(errno));
			return 1;
		}
		human((uint64_t)st.st_size, a, sizeof(a));
		human((uint64_t)st.st_blocks * 512, b, sizeof(b));
		printf("image: %s\nfile format: raw\nvirtual size: %s (%" PRIu64 " bytes)\ndisk size: %s\n",
		       path, a, (uint64_t)st.st_size, b);
		return 0;
	}
	if (qcow2_open(path, true, &top, NULL, &err)) {
		fprintf(stderr, "minivmm img info: %s: %s\n", path, err.text);
		return 1;
	}
	for (q = top; q; q = qcow2_backing(q), depth++) {
		struct qcow2_info in;

		if (qcow2_get_info(q, &in)) {
			fprintf(stderr, "minivmm img info: %s\n", qcow2_last_error(q));
			qcow2_close(top);
			return 1;
		}
		if (depth)
			printf("\n");
		human(in.size, a, sizeof(a));
		human(in.allocated, b, sizeof(b));
		printf("image: %s\nfile format: qcow2\nvirtual size: %s (%" PRIu64 " bytes)\n",
		       name, a, in.size);
		printf("allocated: %s (%" PRIu64 " bytes)\nfile size: %" PRIu64 " bytes\n", b,
		       in.allocated, in.file_size);
		printf("cluster_size: %" PRIu64 "\n", in.cluster_size);
		if (in.backing[0])
			printf("backing file: %s\nbacking file format: %s\n", in.backing,
			       in.backing_fmt[0] ? in.backing_fmt : "(not recorded)");
		printf("compat: %s\nrefcount bits: %u\ncompression type: %s\n",
		       in.version == 2 ? "0.10" : "1.1", in.refcount_bits, in.zstd ? "zstd" : "zlib");
		if (in.nb_snapshots)
			printf("snapshots: %u\n", in.nb_snapshots);
		if (in.corrupt)
			printf("corrupt: true\n");
		if (in.dirty)
			printf("dirty: true\n");
		name = qcow2_backing_path(q);
	}
	qcow2_close(top);
	return 0;
}

static int img_check(const char *path)
{
	struct qcow2_check_result r;
	struct errmsg err;

	if (!is_qcow2_file(path)) {
		fprintf(stderr, "minivmm img check: %s: not a qcow2 image (raw images have nothing to check)\n",
			path);
		return 1;
	}
	if (qcow2_check(path, stdout, &r, &err)) {
		fprintf(stderr, "minivmm img check: %s: %s\n", path, err.text);
		return 1;
	}
	return r.corruptions ? 2 : r.leaks ? 3 : 0;
}

int img_main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd || !strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(img_usage, cmd ? stdout : stderr);
		return cmd ? 0 : 1;
	}
	if (!strcmp(cmd, "create"))
		return img_create(argc - 1, argv + 1);
	if ((!strcmp(cmd, "info") || !strcmp(cmd, "check")) && argc != 3) {
		fprintf(stderr, "minivmm img %s: expected one FILE\n", cmd);
		return 1;
	}
	if (!strcmp(cmd, "info"))
		return img_info(argv[2]);
	if (!strcmp(cmd, "check"))
		return img_check(argv[2]);
	fprintf(stderr, "minivmm img: unknown command '%s' (see 'minivmm img --help')\n", cmd);
	return 1;
}

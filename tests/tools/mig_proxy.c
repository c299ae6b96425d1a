/* A man in the middle for the migration fault tests (tests/integration/test_migrate.sh): listens
 * on a unix socket, connects to the destination's, and forwards both ways with one fault on the
 * source-to-destination stream. In C, not Python: the tests run it inside the nested-KVM box,
 * where starting Python (its modules read over 9p) took up to two minutes.
 *
 *   mig_proxy LISTEN TARGET cut N        forward N bytes, then close both connections (the
 *                                        source's connection cut, the stream truncated)
 *   mig_proxy LISTEN TARGET flip KIND N  flip one bit of byte N (modulo its length) of the first
 *                                        section of KIND: config, state, ram, disk, end (its
 *                                        payload), header (the first section header), magic
 *                                        (the stream's own 16-byte header)
 *   mig_proxy LISTEN TARGET hold         forward the stream whole, but hold back what the
 *                                        destination answers (its confirmation) and keep the
 *                                        source's connection open until the source closes it,
 *                                        even after the destination's end: a confirmation lost
 *                                        on its way
 *   mig_proxy LISTEN TARGET hold-end     forward the stream but its last 16 bytes (END's), so
 *                                        that the destination never completes; likewise keep
 *                                        the source's connection open until it closes it
 *
 * It follows the stream's framing (migrate/stream.h) to find the section. Prints "listening"
 * on stdout once it listens, and "proxy: ..." lines on stderr saying what it did. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum unit { U_MAGIC, U_SECHDR, U_PAYLOAD };

struct flip {
	int kind;            /* -1 magic, -2 header, else a section type */
	uint64_t nth;
	int done;
	enum unit unit;
	uint64_t pos, left;  /* within the current unit */
	uint8_t hdr[24];
	uint32_t type;
};

static int kind_of(const char *s)
{
	static const struct { const char *name; int type; } k[] = {
		{ "magic", -1 }, { "header", -2 }, { "config", 1 }, { "state", 2 }, { "ram", 3 },
		{ "disk", 4 }, { "end", 0x454e44 },
	};

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (!strcmp(s, k[i].name))
			return k[i].type;
	fprintf(stderr, "mig_proxy: unknown kind %s\n", s);
	exit(2);
}

/* Walks the stream byte by byte, flipping the chosen one. */
static void flip_bytes(struct flip *f, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (f->unit) {
		case U_MAGIC:
			if (!f->done && f->kind == -1 && f->pos == f->nth % 16) {
				p[i] ^= (uint8_t)(1u << (f->nth % 8));
				f->done = 1;
				fprintf(stderr, "proxy: flipped byte %llu of the stream header\n",
					(unsigned long long)(f->nth % 16));
			}
			if (++f->pos == 16) {
				f->unit = U_SECHDR;
				f->pos = 0;
			}
			break;
		case U_SECHDR:
			f->hdr[f->pos] = p[i];
			if (!f->done && f->kind == -2 && f->pos == f->nth % 24) {
				p[i] ^= (uint8_t)(1u << (f->nth % 8));
				f->done = 1;
				fprintf(stderr, "proxy: flipped byte %llu of a section header\n",
					(unsigned long long)(f->nth % 24));
			}
			if (++f->pos == 24) {
				memcpy(&f->type, f->hdr, 4);
				memcpy(&f->left, f->hdr + 8, 8);
				f->pos = 0;
				f->unit = f->left ? U_PAYLOAD : U_SECHDR;
			}
			break;
		case U_PAYLOAD: {
			uint64_t len = f->pos + f->left;

			if (!f->done && (int)f->type == f->kind && f->pos == f->nth % len) {
				p[i] ^= (uint8_t)(1u << (f->nth % 8));
				f->done = 1;
				fprintf(stderr, "proxy: flipped byte %llu of a section of type 0x%x, %llu bytes\n",
					(unsigned long long)f->pos, f->type, (unsigned long long)len);
			}
			f->pos++;
			if (--f->left == 0) {
				f->unit = U_SECHDR;
				f->pos = 0;
			}
			break;
		}
		}
	}
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int unix_socket(const char *path, struct sockaddr_un *a)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (fd < 0 || strlen(path) >= sizeof(a->sun_path)) {
		fprintf(stderr, "mig_proxy: socket %s\n", path);
		exit(1);
	}
	strcpy(a->sun_path, path);
	return fd;
}

int main(int argc, char **argv)
{
	static uint8_t buf[65536];
	struct sockaddr_un a;
	struct flip f = { 0 };
	uint64_t cut = UINT64_MAX, sent = 0;
	enum { TAIL = 16 };
	static uint8_t tail[TAIL];
	size_t tail_len = 0, tail_hold;
	int ls, src, dst, cutting, holding, dst_open = 1;

	holding = argc == 4 && (!strcmp(argv[3], "hold") || !strcmp(argv[3], "hold-end"));
	tail_hold = holding && !strcmp(argv[3], "hold-end") ? TAIL : 0;
	if (!holding &&
	    (argc < 5 || (strcmp(argv[3], "cut") && (strcmp(argv[3], "flip") || argc < 6)))) {
		fprintf(stderr, "usage: mig_proxy LISTEN TARGET cut N | flip KIND N | hold | hold-end\n");
		return 2;
	}
	cutting = !strcmp(argv[3], "cut");
	f.kind = -3; /* no section: nothing flipped */
	if (holding) {
		/* nothing to set */
	} else if (cutting) {
		cut = strtoull(argv[4], NULL, 0);
	} else {
		f.kind = kind_of(argv[4]);
		f.nth = strtoull(argv[5], NULL, 0);
	}
	setvbuf(stderr, NULL, _IONBF, 0);
	ls = unix_socket(argv[1], &a);
	unlink(argv[1]);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1)) {
		perror("mig_proxy: listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	src = accept(ls, NULL, NULL);
	dst = unix_socket(argv[2], &a);
	if (src < 0 || connect(dst, (struct sockaddr *)&a, sizeof(a))) {
		perror("mig_proxy: connect");
		return 1;
	}
	for (;;) {
		struct pollfd p[2] = { { src, POLLIN, 0 }, { dst, POLLIN, 0 } };
		ssize_t n;

		if (poll(p, dst_open ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if (dst_open && p[1].revents) { /* the confirmation, or the destination gone */
			n = read(dst, buf, sizeof(buf));
			if (holding && n > 0) {
				fprintf(stderr, "proxy: held %zd bytes from the destination\n", n);
			} else if (holding) {
				fprintf(stderr, "proxy: the destination closed; the source's connection stays open\n");
				dst_open = 0;
			} else if (n <= 0 || write_all(src, buf, (size_t)n)) {
				break;
			}
		}
		if (p[0].revents) {
			size_t want = sizeof(buf);

			if (cut - sent < want)
				want = (size_t)(cut - sent);
			n = read(src, buf, want);
			if (n <= 0 && holding) {
				fprintf(stderr, "proxy: the source closed\n");
				break;
			}
			if (n <= 0) {
				fprintf(stderr, "proxy: stream ended after %llu bytes%s\n",
					(unsigned long long)sent, cutting ? ", before the cut" : "");
				shutdown(dst, SHUT_WR);
				continue;
			}
			if (!cutting)
				flip_bytes(&f, buf, (size_t)n);
			if (tail_hold) {
				/* What came before the last TAIL bytes goes on; those wait. */
				size_t all = tail_len + (size_t)n, keep = all < TAIL ? all : TAIL;
				static uint8_t joined[sizeof(buf) + TAIL];

				memcpy(joined, tail, tail_len);
				memcpy(joined + tail_len, buf, (size_t)n);
				if (all > keep && write_all(dst, joined, all - keep))
					break;
				memcpy(tail, joined + all - keep, keep);
				tail_len = keep;
				sent += (uint64_t)n;
				continue;
			}
			if (write_all(dst, buf, (size_t)n))
				break;
			sent += (uint64_t)n;
			if (sent == cut) {
				fprintf(stderr, "proxy: cut after %llu bytes\n", (unsigned long long)sent);
				break;
			}
		}
	}
	shutdown(src, SHUT_RDWR);
	shutdown(dst, SHUT_RDWR);
	return 0;
}

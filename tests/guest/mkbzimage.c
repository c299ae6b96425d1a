/* Host tool: glue the test guest's real-mode setup and its 32/64-bit payload into a bzImage,
 * filling setup_sects, syssize and init_size the way Linux's arch/x86/boot/tools/build.c does.
 * usage: mkbzimage SETUP.bin PAYLOAD.bin INIT_SIZE OUT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		perror(path);
		exit(1);
	}
	buf = malloc((size_t)n + 512);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(1);
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

int main(int argc, char **argv)
{
	size_t setup_len, payload_len, setup_padded;
	unsigned char *setup, *payload;
	unsigned long init_size;
	unsigned sects;
	FILE *out;

	if (argc != 5) {
		fprintf(stderr, "usage: %s SETUP PAYLOAD INIT_SIZE OUT\n", argv[0]);
		return 1;
	}
	setup = slurp(argv[1], &setup_len);
	payload = slurp(argv[2], &payload_len);
	/* The file holds exactly syssize paragraphs of payload, as Linux's build tool writes. */
	memset(payload + payload_len, 0, 16);
	payload_len = (payload_len + 15) & ~(size_t)15;
	init_size = strtoul(argv[3], NULL, 0);
	if (setup_len < 0x26c || memcmp(setup + 0x202, "HdrS", 4) != 0) {
		fprintf(stderr, "mkbzimage: %s has no setup header\n", argv[1]);
		return 1;
	}
	setup_padded = (setup_len + 511) & ~(size_t)511;
	if (setup_padded < 1024)
		setup_padded = 1024;
	memset(setup + setup_len, 0, setup_padded - setup_len);
	sects = (unsigned)(setup_padded / 512) - 1;
	setup[0x1f1] = (unsigned char)sects;
	put32(setup + 0x1f4, (uint32_t)((payload_len + 15) / 16));
	if (init_size < payload_len)
		init_size = payload_len;
	put32(setup + 0x260, (uint32_t)((init_size + 4095) & ~4095UL));
	out = fopen(argv[4], "wb");
	if (!out || fwrite(setup, 1, setup_padded, out) != setup_padded ||
	    fwrite(payload, 1, payload_len, out) != payload_len || fclose(out)) {
		perror(argv[4]);
		return 1;
	}
	return 0;
}

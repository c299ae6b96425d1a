/* libFuzzer target: the kernel loaders' parsers on hostile files: the bzImage setup header
 * (Documentation/x86/boot.rst) and the ELF/PVH entry note. The first byte picks the parser and,
 * for a bzImage, how much of the file the header buffer holds; the rest is the file. Checks: no
 * crash or sanitizer report, every refusal says why, and what is accepted is consistent with
 * the file (setup and payload inside it, segments inside it and not wrapping). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/bzimage.h"
#include "arch/x86/pvh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bzimage(const uint8_t *file, size_t size, uint8_t pick)
{
	struct bzimage_info info;
	struct errmsg err = { "" };
	/* The loader reads the first BZIMAGE_HEADER_BYTES (or the whole file when shorter). */
	size_t buf_len = size < BZIMAGE_HEADER_BYTES ? size : BZIMAGE_HEADER_BYTES;
	/* Sometimes claim the file is larger than what we hold, as a real file is. */
	uint64_t file_size = size + ((pick & 0x40) ? (uint64_t)(pick & 0x3f) << 20 : 0);

	if (bzimage_parse(file, buf_len, file_size, &info, &err)) {
		if (!err.text[0])
			abort();
		return;
	}
	if (info.setup_size > file_size || info.payload_offset > file_size ||
	    info.payload_size > file_size - info.payload_offset || info.header_end > buf_len)
		abort();
	err.text[0] = '\0';
	if (bzimage_check_cmdline(&info, (size_t)pick << 6, &err) && !err.text[0])
		abort();
}

static void pvh(const uint8_t *file, size_t size)
{
	struct pvh_image img;
	struct errmsg err = { "" };

	if (!pvh_is_elf(file, size))
		return;
	if (pvh_parse(file, size, &img, &err)) {
		if (!err.text[0])
			abort();
		return;
	}
	if (img.nr_segments > PVH_MAX_SEGMENTS)
		abort();
	for (unsigned i = 0; i < img.nr_segments; i++) {
		const struct pvh_segment *s = &img.segments[i];

		if (s->file_offset > size || s->file_size > size - s->file_offset ||
		    s->paddr + s->mem_size < s->paddr)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *file;

	if (size < 1)
		return 0;
	/* A copy of exactly the file's size, so ASan sees any read past its end. */
	file = malloc(size - 1 ? size - 1 : 1);
	if (!file)
		return 0;
	memcpy(file, data + 1, size - 1);
	if (data[0] & 0x80)
		pvh(file, size - 1);
	else
		bzimage(file, size - 1, data[0]);
	free(file);
	return 0;
}

#include "arch/x86/pvh.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#define XEN_ELFNOTE_PHYS32_ENTRY 18

int pvh_is_elf(const uint8_t *buf, size_t len)
{
	return len >= SELFMAG && memcmp(buf, ELFMAG, SELFMAG) == 0;
}

static int range_ok(uint64_t off, uint64_t size, uint64_t len)
{
	return off <= len && size <= len - off;
}

/* Walks the notes in [off, off+size) looking for the PVH entry; 1 if found. */
static int pvh_find_note(const uint8_t *buf, uint64_t off, uint64_t size, uint32_t *entry)
{
	uint64_t pos = 0;

	while (size - pos >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_len, desc_len;

		memcpy(&nh, buf + off + pos, sizeof(nh));
		pos += sizeof(nh);
		name_len = ((uint64_t)nh.n_namesz + 3) & ~3ULL;
		desc_len = ((uint64_t)nh.n_descsz + 3) & ~3ULL;
		if (name_len > size - pos || desc_len > size - pos - name_len)
			return 0;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(buf + off + pos, "Xen", 4) == 0 && nh.n_descsz >= 4) {
			memcpy(entry, buf + off + pos + name_len, 4);
			return 1;
		}
		pos += name_len + desc_len;
	}
	return 0;
}

int pvh_parse(const uint8_t *buf, size_t len, struct pvh_image *img, struct errmsg *err)
{
	Elf64_Ehdr eh;
	int found = 0;

	memset(img, 0, sizeof(*img));
	img->lowest = UINT64_MAX;
	if (len < sizeof(eh) || !pvh_is_elf(buf, len))
		return errmsg_set(err, -ENOEXEC, "not an ELF file");
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return errmsg_set(err, -ENOEXEC, "ELF: not a little-endian 64-bit file");
	if (eh.e_machine != EM_X86_64)
		return errmsg_set(err, -ENOEXEC, "ELF: e_machine %u is not x86-64", eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return errmsg_set(err, -ENOEXEC, "ELF: e_type %u is not an executable", eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    !range_ok(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len))
		return errmsg_set(err, -ENOEXEC, "ELF: program headers lie outside the file");

	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE) {
			if (!range_ok(ph.p_offset, ph.p_filesz, len))
				return errmsg_set(err, -ENOEXEC,
						  "ELF: note segment %u lies outside the file", i);
			if (!found)
				found = pvh_find_note(buf, ph.p_offset, ph.p_filesz, &img->entry);
		} else if (ph.p_type == PT_LOAD && ph.p_memsz) {
			struct pvh_segment *s;

			if (!range_ok(ph.p_offset, ph.p_filesz, len))
				return errmsg_set(err, -ENOEXEC,
						  "ELF: segment %u (offset 0x%llx, %llu bytes) lies "
						  "outside the file",
						  i, (unsigned long long)ph.p_offset,
						  (unsigned long long)ph.p_filesz);
			if (ph.p_filesz > ph.p_memsz || ph.p_paddr + ph.p_memsz < ph.p_paddr)
				return errmsg_set(err, -ENOEXEC,
						  "ELF: segment %u has bad sizes or wraps", i);
			if (img->nr_segments == PVH_MAX_SEGMENTS)
				return errmsg_set(err, -ENOEXEC,
						  "ELF: more than %d loadable segments",
						  PVH_MAX_SEGMENTS);
			s = &img->segments[img->nr_segments++];
			*s = (struct pvh_segment){ ph.p_offset, ph.p_filesz, ph.p_paddr, ph.p_memsz };
			if (s->paddr < img->lowest)
				img->lowest = s->paddr;
			if (s->paddr + s->mem_size > img->highest)
				img->highest = s->paddr + s->mem_size;
		}
	}
	if (!img->nr_segments)
		return errmsg_set(err, -ENOEXEC, "ELF: no loadable segments");
	if (!found)
		return errmsg_set(err, -ENOEXEC,
				  "ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); "
				  "build it with CONFIG_PVH=y or use the bzImage");
	return 0;
}

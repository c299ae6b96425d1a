#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/pvh.h"
#include "tests/unit/unit.h"

/* ELF header, two program headers (LOAD, NOTE), a PVH note, 64 bytes of "code". */
struct fake_elf {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2];
	Elf64_Nhdr nh;
	char name[4];
	uint32_t entry;
	uint8_t code[64];
} __attribute__((packed));

static struct fake_elf f;

static void make_elf(void)
{
	memset(&f, 0, sizeof(f));
	memcpy(f.eh.e_ident, ELFMAG, SELFMAG);
	f.eh.e_ident[EI_CLASS] = ELFCLASS64;
	f.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	f.eh.e_type = ET_EXEC;
	f.eh.e_machine = EM_X86_64;
	f.eh.e_phoff = offsetof(struct fake_elf, ph);
	f.eh.e_phentsize = sizeof(Elf64_Phdr);
	f.eh.e_phnum = 2;
	f.ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = offsetof(struct fake_elf, code),
				.p_paddr = 0x100000, .p_filesz = 64, .p_memsz = 4096 };
	f.ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = offsetof(struct fake_elf, nh),
				.p_filesz = sizeof(Elf64_Nhdr) + 8 };
	f.nh = (Elf64_Nhdr){ .n_namesz = 4, .n_descsz = 4, .n_type = 18 };
	memcpy(f.name, "Xen", 4);
	f.entry = 0x100040;
}

START_TEST(parses_pvh_note_and_segments)
{
	struct pvh_image img;
	struct errmsg err = { "" };

	make_elf();
	ck_assert_msg(pvh_parse((uint8_t *)&f, sizeof(f), &img, &err) == 0, "%s", err.text);
	ck_assert_uint_eq(img.entry, 0x100040);
	ck_assert_uint_eq(img.nr_segments, 1);
	ck_assert_uint_eq(img.lowest, 0x100000);
	ck_assert_uint_eq(img.highest, 0x101000);
}
END_TEST

static void expect_reject(size_t len, const char *needle)
{
	struct pvh_image img;
	struct errmsg err = { "" };

	ck_assert_int_eq(pvh_parse((uint8_t *)&f, len, &img, &err), -ENOEXEC);
	ck_assert_msg(strstr(err.text, needle), "'%s' lacks '%s'", err.text, needle);
}

START_TEST(rejects_hostile_elves)
{
	make_elf();
	f.nh.n_type = 1;
	expect_reject(sizeof(f), "PVH");
	make_elf();
	f.eh.e_machine = EM_386;
	expect_reject(sizeof(f), "x86-64");
	make_elf();
	f.eh.e_phoff = sizeof(f) - 8;
	expect_reject(sizeof(f), "program headers");
	make_elf();
	f.eh.e_phnum = 0xffff;
	expect_reject(sizeof(f), "program headers");
	make_elf();
	f.ph[0].p_filesz = 1 << 20;
	expect_reject(sizeof(f), "outside the file");
	make_elf();
	f.ph[0].p_filesz = 64;
	f.ph[0].p_memsz = 32;
	expect_reject(sizeof(f), "bad sizes");
	make_elf();
	f.ph[0].p_paddr = UINT64_MAX - 10;
	expect_reject(sizeof(f), "wraps");
	make_elf();
	f.nh.n_descsz = 0xfffffff0; /* note claims more than its segment */
	expect_reject(sizeof(f), "PVH");
	make_elf();
	f.ph[1].p_filesz = 1 << 30;
	expect_reject(sizeof(f), "note segment");
	expect_reject(10, "not an ELF");
}
END_TEST

Suite *suite_pvh(void)
{
	Suite *s = suite_create("pvh");
	TCase *tc = tcase_create("elf");

	tcase_add_test(tc, parses_pvh_note_and_segments);
	tcase_add_test(tc, rejects_hostile_elves);
	suite_add_tcase(s, tc);
	return s;
}

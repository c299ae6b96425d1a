#include "arch/x86/bzimage.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

#define SETUP_HDR_OFFSET 0x1f1
#define HDRS_MAGIC 0x53726448 /* "HdrS" */

int bzimage_parse(const uint8_t *buf, size_t buf_len, uint64_t file_size,
		  struct bzimage_info *info, struct errmsg *err)
{
	struct setup_header hdr;
	uint32_t setup_sects;

	memset(info, 0, sizeof(*info));
	if (buf_len < SETUP_HDR_OFFSET + sizeof(hdr) || file_size < buf_len)
		return errmsg_set(err, -ENOEXEC, "not a Linux kernel: file too small (%llu bytes)",
				  (unsigned long long)file_size);
	memcpy(&hdr, buf + SETUP_HDR_OFFSET, sizeof(hdr));
	if (hdr.boot_flag != 0xaa55)
		return errmsg_set(err, -ENOEXEC,
				  "not a Linux kernel: no boot sector signature 0xaa55 at 0x1fe");
	if (hdr.header != HDRS_MAGIC)
		return errmsg_set(err, -ENOEXEC,
				  "not a bzImage: no \"HdrS\" setup header magic at 0x202");
	if (hdr.version < 0x0206)
		return errmsg_set(err, -ENOEXEC,
				  "setup header: boot protocol %u.%02u too old (need 2.06 or later)",
				  hdr.version >> 8, hdr.version & 0xff);
	if (hdr.version < 0x020c || !(hdr.xloadflags & XLF_KERNEL_64))
		return errmsg_set(err, -ENOEXEC,
				  "setup header: kernel has no 64-bit entry point (XLF_KERNEL_64 not "
				  "set, boot protocol %u.%02u)",
				  hdr.version >> 8, hdr.version & 0xff);
	setup_sects = hdr.setup_sects ? hdr.setup_sects : 4;
	info->setup_size = (setup_sects + 1) * 512;
	if (info->setup_size >= file_size)
		return errmsg_set(err, -ENOEXEC,
				  "setup header: %u setup sectors reach past the end of the file "
				  "(%llu bytes)",
				  setup_sects, (unsigned long long)file_size);
	info->payload_offset = info->setup_size;
	info->payload_size = file_size - info->setup_size;
	if ((uint64_t)hdr.syssize * 16 > info->payload_size)
		return errmsg_set(err, -ENOEXEC,
				  "setup header: syssize %llu bytes exceeds the %llu bytes of kernel "
				  "in the file",
				  (unsigned long long)hdr.syssize * 16,
				  (unsigned long long)info->payload_size);
	info->header_end = 0x202 + buf[0x201];
	if (info->header_end > buf_len || info->header_end < 0x202 + 4)
		return errmsg_set(err, -ENOEXEC, "setup header: length byte at 0x201 is invalid");
	info->version = hdr.version;
	info->init_size = hdr.version >= 0x020a ? hdr.init_size : 0;
	if (info->init_size < info->payload_size)
		info->init_size = info->payload_size;
	info->initrd_addr_max = hdr.initrd_addr_max ? hdr.initrd_addr_max : 0x37ffffff;
	info->cmdline_size = hdr.cmdline_size;
	info->xloadflags = hdr.xloadflags;
	return 0;
}

int bzimage_check_cmdline(const struct bzimage_info *info, size_t len, struct errmsg *err)
{
	if (len > info->cmdline_size)
		return errmsg_set(err, -E2BIG,
				  "command line is %zu bytes, the kernel accepts at most %u", len,
				  info->cmdline_size);
	if (len + 1 > X86_CMDLINE_MAX)
		return errmsg_set(err, -E2BIG, "command line is %zu bytes, at most %llu supported",
				  len, X86_CMDLINE_MAX - 1);
	return 0;
}

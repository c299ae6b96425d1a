/* Real-mode part of the test guest's bzImage: the boot sector area, the Linux setup header
 * (Documentation/x86/boot.rst, protocol 2.15) and a real-mode entry for loaders that start
 * kernels the classic way (QEMU's linuxboot, qboot): it collects the e820 map from the BIOS,
 * switches to 32-bit protected mode and jumps to code32_start with ESI = the zero page.
 * mkbzimage patches setup_sects, syssize and init_size. */
	.code16
	.section .setup, "ax"
	.globl _setup_start
_setup_start:
	. = 0x1f1
setup_sects:		.byte 0
root_flags:		.word 0
syssize:		.long 0
ram_size:		.word 0
vid_mode:		.word 0xffff
root_dev:		.word 0
boot_flag:		.word 0xaa55
	/* 0x200: real-mode entry (the loader jumps to setup segment + 0x20 : 0) */
	.byte 0xeb, (start_of_setup - 1f)
1:
header:			.ascii "HdrS"
version:		.word 0x020f
realmode_swtch:		.long 0
start_sys_seg:		.word 0x1000
kernel_version:		.word 0
type_of_loader:		.byte 0
loadflags:		.byte 0x01		/* LOADED_HIGH */
setup_move_size:	.word 0x8000
code32_start:		.long 0x100000
ramdisk_image:		.long 0
ramdisk_size:		.long 0
bootsect_kludge:	.long 0
heap_end_ptr:		.word 0
ext_loader_ver:		.byte 0
ext_loader_type:	.byte 0
cmd_line_ptr:		.long 0
initrd_addr_max:	.long 0x7fffffff
kernel_alignment:	.long 0x200000
relocatable_kernel:	.byte 0
min_alignment:		.byte 0
xloadflags:		.word 0x0001		/* XLF_KERNEL_64: 64-bit entry at +0x200 */
cmdline_size:		.long 4095
hardware_subarch:	.long 0
hardware_subarch_data:	.quad 0
payload_offset:		.long 0
payload_length:		.long 0
setup_data:		.quad 0
pref_address:		.quad 0x100000
init_size:		.long 0
handover_offset:	.long 0
kernel_info_offset:	.long 0

start_of_setup:
	cli
	cld
	/* The loader entered at CS = setup segment + 0x20; the zero page is the segment base. */
	mov	%cs, %ax
	sub	$0x20, %ax
	mov	%ax, %ds
	mov	%ax, %es
	/* Our own stack, above the zero page and below the command line (loaders put it at
	 * +0x10000 or higher): the loader's SP may point into this very code. */
	mov	%ax, %ss
	mov	$0xf000, %sp

	/* BIOS e820 map into boot_params.e820_table (0x2d0), count at 0x1e8. BIOSes differ in
	 * which registers they keep (qboot's handler loses DS and BP), so the count lives in the
	 * zero page and DS is rebuilt from CS after every call. */
	movb	$0, 0x1e8
	xor	%ebx, %ebx
e820_next:
	movzbw	0x1e8, %ax
	mov	$20, %dx
	mul	%dx
	add	$0x2d0, %ax
	mov	%ax, %di
	mov	$0xe820, %eax
	mov	$20, %ecx
	mov	$0x534d4150, %edx	/* "SMAP" */
	int	$0x15
	mov	%cs, %cx
	sub	$0x20, %cx
	mov	%cx, %ds
	mov	%cx, %es
	jc	e820_done
	cmp	$0x534d4150, %eax
	jne	e820_done
	incb	0x1e8
	test	%ebx, %ebx
	jz	e820_done
	cmpb	$128, 0x1e8
	jb	e820_next
e820_done:

	/* Linear address of the zero page, and of our GDT for lgdt. */
	xor	%esi, %esi
	mov	%ds, %si
	shl	$4, %esi
	lea	rm_gdt(%esi), %eax
	mov	%eax, rm_gdt_desc + 2
	lgdtl	rm_gdt_desc

	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	/* Flat data segments (__BOOT_DS) before leaving 16-bit code, as the 32-bit protocol
	 * requires; the cached real-mode bases would otherwise remain. */
	mov	$0x18, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	/* Flat 32-bit code at __BOOT_CS (0x10), as the 32-bit boot protocol specifies. */
	.byte	0x66, 0xea
	.long	0x100000
	.word	0x10

	.balign 8
rm_gdt:
	.quad 0
	.quad 0
	.quad 0x00cf9b000000ffff	/* 0x10: 32-bit code, flat */
	.quad 0x00cf93000000ffff	/* 0x18: data, flat */
rm_gdt_end:
rm_gdt_desc:
	.word rm_gdt_end - rm_gdt - 1
	.long 0
	.balign 512

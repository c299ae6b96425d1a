/* Entry points of the test guest, linked at 1 MiB:
 *   +0x000  32-bit boot protocol entry (paging off, ESI = zero page)
 *   +0x200  64-bit boot protocol entry (long mode, RSI = zero page)
 *   pvh_entry, named by the PVH ELF note (paging off, EBX = hvm_start_info)
 * All three switch to our own GDT, identity page tables (static, 4 GiB in 2 MiB pages),
 * stack, and call guest_main(kind, info). */
#include "bootkind.h"
#include "longmode.h"

	.section .head, "ax"
	.code32
	.globl entry32
entry32:
	cli
	mov	$BOOT_KIND_LINUX32, %edi
	jmp	common32

	. = entry32 + 0x200
	.code64
	.globl entry64
entry64:
	cli
	mov	$BOOT_KIND_LINUX64, %edi
	lgdt	gdt_desc(%rip)
	movabs	$pml4, %rax
	mov	%rax, %cr3
	/* Reload CS from our GDT with a far return. */
	pushq	$0x10
	movabs	$start64, %rax
	pushq	%rax
	lretq

	.code32
	.globl pvh_entry
pvh_entry:
	cli
	mov	%ebx, %esi
	mov	$BOOT_KIND_PVH, %edi
common32:
	lgdt	gdt_desc
	ljmp	$0x08, $1f
1:	mov	$0x18, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	enable_long_mode
	ljmp	$0x10, $start64

	.code64
start64:
	mov	$0x18, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%eax, %eax
	mov	%eax, %fs
	mov	%eax, %gs
	movabs	$stack_top, %rsp
	mov	%edi, %edi
	mov	%esi, %esi
	call	guest_main
2:	cli
	hlt
	jmp	2b

/* Exception stubs: push the vector (and a zero error code where the CPU pushes none). */
	.macro exc_noerr n
	.globl exc_stub_\n
exc_stub_\n:
	pushq	$0
	pushq	$\n
	jmp	exc_common
	.endm
	.macro exc_err n
	.globl exc_stub_\n
exc_stub_\n:
	pushq	$\n
	jmp	exc_common
	.endm
	exc_noerr 0
	exc_noerr 1
	exc_noerr 2
	exc_noerr 3
	exc_noerr 4
	exc_noerr 5
	exc_noerr 6
	exc_noerr 7
	exc_err 8
	exc_noerr 9
	exc_err 10
	exc_err 11
	exc_err 12
	exc_err 13
	exc_err 14
	exc_noerr 15
	exc_noerr 16
	exc_err 17
	exc_noerr 18
	exc_noerr 19
exc_common:
	/* Handlers that return resume the interrupted code (used for #BP). */
	push	%rax
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	lea	72(%rsp), %rdi		/* -> struct exc_frame */
	call	guest_exception
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rax
	add	$16, %rsp		/* vector, error code */
	iretq

	.section .rodata
	.balign 8
	.globl exc_stubs
exc_stubs:
	.quad exc_stub_0, exc_stub_1, exc_stub_2, exc_stub_3, exc_stub_4, exc_stub_5
	.quad exc_stub_6, exc_stub_7, exc_stub_8, exc_stub_9, exc_stub_10, exc_stub_11
	.quad exc_stub_12, exc_stub_13, exc_stub_14, exc_stub_15, exc_stub_16, exc_stub_17
	.quad exc_stub_18, exc_stub_19

	.section .data
	.balign 16
	.globl gdt
gdt:
	.quad 0
	.quad 0x00cf9b000000ffff	/* 0x08: 32-bit code */
	.quad 0x00af9b000000ffff	/* 0x10: 64-bit code */
	.quad 0x00cf93000000ffff	/* 0x18: data */
gdt_end:
	.balign 8
gdt_desc:
	.word gdt_end - gdt - 1
	.quad gdt

/* Identity map of the low 4 GiB with 2 MiB pages, built at link time. */
	.balign 4096
	.globl pml4
pml4:
	.quad pdpt + 0x3
	.fill 511, 8, 0
pdpt:
	.quad pd + 0x0000 + 0x3
	.quad pd + 0x1000 + 0x3
	.quad pd + 0x2000 + 0x3
	.quad pd + 0x3000 + 0x3
	.fill 508, 8, 0
pd:
	.set i, 0
	.rept 2048
	.quad (i << 21) | 0x83
	.set i, i + 1
	.endr

/* The PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY = 18). */
	.section .note.pvh, "a", @note
	.balign 4
	.long 4
	.long 4
	.long 18
	.asciz "Xen"
	.balign 4
	.long pvh_entry

	.section .bss
	.balign 16
	/* 64 KiB: a scenario's struct gdev alone is about 10 KiB, and 16 KiB overflowed into
	 * .bss (console-stall's second device). */
	.skip 65536
	.globl stack_top
stack_top:

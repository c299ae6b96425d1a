/* Application processor start-up, as firmware and kernels do it: a SIPI starts the AP in real
 * mode at vector << 12; this code (copied to AP_TRAMPOLINE by the BSP) goes to protected mode,
 * then long mode with the guest's page tables, and calls ap_main() on its own stack. */
#include "longmode.h"

#define AP_TRAMPOLINE 0x8000
#define REL(x) ((x) - ap_trampoline_start + AP_TRAMPOLINE)

	.section .rodata
	.code16
	.globl ap_trampoline_start, ap_trampoline_end
ap_trampoline_start:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	lgdtl	REL(tramp_gdt_desc)
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	.byte	0x66, 0xea
	.long	REL(ap_pm32)
	.word	0x08
	.code32
ap_pm32:
	mov	$0x18, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	enable_long_mode
	ljmp	$0x10, $ap_long_mode
	.balign 8
tramp_gdt_desc:
	.word	31
	.long	gdt
ap_trampoline_end:

	.text
	.code64
ap_long_mode:
	mov	$0x18, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	/* Each AP takes the next 4 KiB stack. */
	mov	$1, %eax
	lock xadd %eax, ap_next_stack(%rip)
	inc	%eax
	shl	$12, %rax
	movabs	$ap_stacks, %rsp
	add	%rax, %rsp
	call	ap_main
1:	cli
	hlt
	jmp	1b

	.data
	.balign 4
ap_next_stack:
	.long 0
	.bss
	.balign 4096
	.globl ap_stacks
ap_stacks:
	.skip 4096 * 64

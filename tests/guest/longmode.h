/* Protected mode (paging off) → long mode with the guest's static identity page tables; shared
 * by the boot entries (head.S) and the AP trampoline (trampoline.S). Clobbers EAX, ECX, EDX. */
#ifndef GUEST_LONGMODE_H
#define GUEST_LONGMODE_H

#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define CR4_PAE 0x20
#define CR0_PG_PE 0x80000001

	.macro enable_long_mode
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$CR0_PG_PE, %eax
	mov	%eax, %cr0
	.endm

#endif

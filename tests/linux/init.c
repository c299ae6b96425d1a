/* The test kernel's /init: spins without a single system call, because user-mode SYSCALL is
 * broken on the nested KVM of the CI hosts (../shared/KVM-NOTES.md). The tests check what the
 * kernel itself does (mounts, DHCP, answering pings), then stop the VM from the host. */
void _start(void);

void _start(void)
{
	for (;;)
		__asm__ volatile("pause");
}

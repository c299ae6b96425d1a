# Issue 7: boot, virtio-blk read/write/flush, read-only, virtio-console, SMP and ACPI discovery
# with Linux's own drivers. Each test a few seconds; the kernel spins in /init at the end, so
# tests stop the VM from the host once the kernel has shown what they check.

ROOTARGS="root=/dev/vda init=/init"

l_boot_serial() {
	rootfs "$TMP/root.img"
	linux_start --disk "path=$TMP/root.img" --cmdline "console=ttyS0 $ROOTARGS ro $HOST_ARGS"
	wait_line "Run /init as init process" 180
	local ok=$?
	linux_stop
	[ $ok -eq 0 ] && expect_out "Linux version 6.1" && expect_out "virtio_blk virtio0: [vda]" &&
		expect_out "VFS: Mounted root (ext4 filesystem) readonly"
}
l_boot_hvc0() {
	rootfs "$TMP/root.img"
	linux_start --disk "path=$TMP/root.img" --console stdio --serial off \
		--cmdline "console=hvc0 $ROOTARGS ro $HOST_ARGS"
	wait_line "Run /init as init process" 180
	local ok=$?
	linux_stop
	# The log through virtio-console from hvc0's registration on (tinyconfig's small log buffer
	# no longer holds the first lines by then): the root mount and /init.
	[ $ok -eq 0 ] && expect_out "VFS: Mounted root" && expect_out "Run /init as init process"
}
l_readonly_disk() {
	rootfs "$TMP/root.img"
	cp "$TMP/root.img" "$TMP/root.orig"
	linux_start --disk "path=$TMP/root.img,readonly=on" --cmdline "console=ttyS0 $ROOTARGS rw $HOST_ARGS"
	wait_line "Run /init as init process" 180
	local ok=$?
	linux_stop
	[ $ok -eq 0 ] && expect_out "VFS: Mounted root (ext4 filesystem) readonly" || return 1
	cmp -s "$TMP/root.img" "$TMP/root.orig" || { echo "    read-only image changed"; return 1; }
}
l_write_flush() {
	rootfs "$TMP/root.img"
	local before after
	before=$(dumpe2fs -h "$TMP/root.img" 2>/dev/null | awk -F: '/^Mount count/ {gsub(/ /,"",$2); print $2}')
	linux_start --disk "path=$TMP/root.img" \
		--cmdline "console=ttyS0 $ROOTARGS rw rootflags=commit=1 $HOST_ARGS"
	wait_line "Run /init as init process" 180 || { linux_stop; return 1; }
	sleep 3 # > commit=1: the superblock update is flushed to the image
	linux_stop
	after=$(dumpe2fs -h "$TMP/root.img" 2>/dev/null | awk -F: '/^Mount count/ {gsub(/ /,"",$2); print $2}')
	[ "$after" = $((before + 1)) ] || { echo "    mount count $before -> $after"; return 1; }
	# The guest was stopped, not shut down: replaying the journal is all e2fsck may do.
	e2fsck -fy "$TMP/root.img" >"$TMP/fsck1" 2>&1
	[ $? -le 1 ] || { cat "$TMP/fsck1"; return 1; }
	e2fsck -fn "$TMP/root.img" >"$TMP/fsck2" 2>&1 || { echo "    e2fsck found damage:"; cat "$TMP/fsck2"; return 1; }
}
l_smp() {
	# Measured here: the kernel's PV IPIs use vmcall, which never returns at CPL 0 on KVMs that
	# emulate guest kernel code (vcpu 1 stuck in __send_ipi_mask). Hardware KVM runs it.
	if [ -z "${MINIVMM_LINUX_ARGS+x}" ] && ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
		skip "this host's KVM cannot run the guest's PV-IPI vmcall at CPL 0 (no VT-x/SVM)"
	fi
	rootfs "$TMP/root.img"
	linux_start --cpus 4 --disk "path=$TMP/root.img" --cmdline "console=ttyS0 $ROOTARGS ro $HOST_ARGS"
	wait_line "Run /init as init process" 180
	local ok=$?
	linux_stop
	[ $ok -eq 0 ] && expect_out "smp: Brought up 1 node, 4 CPUs"
}
l_acpi_discovery() {
	rootfs "$TMP/root.img"
	# The default with ACPI: no virtio_mmio.device= on the command line, the DSDT has the disk.
	linux_start --disk "path=$TMP/root.img" \
		--cmdline "console=ttyS0 $ROOTARGS ro $HOST_ARGS"
	wait_line "Run /init as init process" 180
	local ok=$?
	linux_stop
	[ $ok -eq 0 ] && expect_out "virtio_blk virtio0: [vda]" && expect_out "VFS: Mounted root" &&
		! grep -q "virtio_mmio.device" <<<"$OUT"
}
l_pvh_vmlinux() {
	rootfs "$TMP/root.img"
	LINUX_KERNEL=$LINUX_DIR/vmlinux linux_start --disk "path=$TMP/root.img" \
		--cmdline "console=ttyS0 $ROOTARGS ro $HOST_ARGS"
	wait_line "Run /init as init process" 180
	local ok=$?
	linux_stop
	[ $ok -eq 0 ] && expect_out "Linux version 6.1"
}

t_run "linux: boot to /init on serial, root on virtio-blk" l_boot_serial
t_run "linux: console=hvc0 through virtio-console" l_boot_hvc0
t_run "linux: read-only disk mounted read-only" l_readonly_disk
t_run "linux: ext4 write + flush, mount count, e2fsck clean" l_write_flush
t_run "linux: --cpus 4 brings up 4 CPUs" l_smp
t_run "linux: virtio-mmio found through the DSDT" l_acpi_discovery
t_run "linux: ELF vmlinux through PVH" l_pvh_vmlinux

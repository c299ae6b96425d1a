# Issue 7: boot, virtio-blk read/write/flush, read-only, virtio-console, SMP and ACPI discovery
# with Linux's own drivers. Each test a few seconds; the kernel spins in /init at the end, so
# tests stop the VM from the host once the kernel has shown what they check.

ROOTARGS="root=/dev/vda init=/init"

l_boot_serial() {
	rootfs "$TMP/root.img"
	cp "$TMP/root.img" "$TMP/root.orig"
	# vmlinux through PVH; four vCPUs started by INIT-SIPI-SIPI from the MADT, seen as one
	# package of four cores (CPUID topology); with ACPI on (the default) the DSDT announces the
	# disk, not the command line. The disk is read-only: asked for rw, the kernel mounts it
	# read-only and the image stays as it was. (The read-write boots below run one vCPU.)
	linux_start --cpus 4 --disk "path=$TMP/root.img,readonly=on" --cmdline "console=ttyS0 $ROOTARGS rw $HOST_ARGS"
	wait_line "Run /init as init process" 180
	local ok=$?
	linux_stop
	[ $ok -eq 0 ] && expect_out "Linux version 6.1" && expect_out "virtio_blk virtio0: [vda]" &&
		expect_out "VFS: Mounted root (ext4 filesystem) readonly" &&
		expect_out "smp: Brought up 1 node, 4 CPUs" &&
		expect_out "smpboot: Total of 4 processors activated" &&
		expect_out "smpboot: Max logical packages: 1" &&
		! grep -q "Converting physical" <<<"$OUT" &&
		! grep -q "virtio_mmio.device" <<<"$OUT" || return 1
	cmp -s "$TMP/root.img" "$TMP/root.orig" || { echo "    read-only image changed"; return 1; }
}
mount_count() {
	dumpe2fs -h "$1" 2>/dev/null | awk -F: '/^Mount count/ {gsub(/ /,"",$2); print $2}'
}
# rw_mount DISK-ARG RAW-VIEW-CMD: boots with the root read-write and commit=1, stops the VM
# after the superblock update was flushed, then checks the filesystem in the raw view.
rw_mount() {
	local disk=$1 before=$2 after
	linux_start --disk "$disk" --cmdline "console=ttyS0 $ROOTARGS rw rootflags=commit=1 $HOST_ARGS"
	wait_line "Run /init as init process" 180 || { linux_stop; return 1; }
	# commit=1 is one second of guest time, and the guest clock runs slow here: wait (up to
	# 60 s) until the new mount count is in the image, read without taking its lock.
	local i
	for i in $(seq 1 60); do
		sleep 1
		[ "$(peek_count "$disk")" = $((before + 1)) ] && break
	done
	linux_stop
	"$3" || return 1
	after=$(mount_count "$TMP/view.img")
	[ "$after" = $((before + 1)) ] || { echo "    mount count $before -> $after"; return 1; }
	# The guest was stopped, not shut down: replaying the journal is all e2fsck may do.
	e2fsck -fy "$TMP/view.img" >"$TMP/fsck1" 2>&1
	[ $? -le 1 ] || { cat "$TMP/fsck1"; return 1; }
	e2fsck -fn "$TMP/view.img" >"$TMP/fsck2" 2>&1 || { echo "    e2fsck found damage:"; cat "$TMP/fsck2"; return 1; }
}
# The mount count in the image behind disk argument path=FILE while the VM runs.
peek_count() {
	local f=${1#path=}
	f=${f%%,*}
	case $f in
	*.qcow2) qemu-img convert -U -q -O raw "$f" "$TMP/peek.img" 2>/dev/null && mount_count "$TMP/peek.img" ;;
	*) mount_count "$f" ;;
	esac
}
view_raw() { cp "$TMP/root.img" "$TMP/view.img"; }
view_qcow2() {
	qemu-img check -q "$TMP/root.qcow2" || { echo "    qemu-img check: status $?"; qemu-img check "$TMP/root.qcow2" | tail -4; return 1; }
	qemu-img convert -O raw "$TMP/root.qcow2" "$TMP/view.img"
}
l_write_flush() {
	rootfs "$TMP/root.img"
	rw_mount "path=$TMP/root.img" "$(mount_count "$TMP/root.img")" view_raw
}
l_qcow2() {
	rootfs "$TMP/root.img"
	qemu-img convert -q -O qcow2 "$TMP/root.img" "$TMP/root.qcow2" || return 1
	rw_mount "path=$TMP/root.qcow2" "$(mount_count "$TMP/root.img")" view_qcow2
}
l_qcow2_overlay() {
	rootfs "$TMP/base.img"
	cp "$TMP/base.img" "$TMP/base.orig"
	qemu-img create -q -f qcow2 -b base.img -F raw "$TMP/root.qcow2" || return 1
	rw_mount "path=$TMP/root.qcow2" "$(mount_count "$TMP/base.img")" view_qcow2 || return 1
	cmp -s "$TMP/base.img" "$TMP/base.orig" || { echo "    the raw base was written"; return 1; }
}
t_run "linux: vmlinux (PVH), --cpus 4 (one package of 4 cores) to /init on serial, read-only root on virtio-blk found through the DSDT" l_boot_serial
t_run "linux: ext4 write + flush, mount count, e2fsck clean" l_write_flush
t_run "linux: ext4 on qcow2, write + flush, qemu-img check, e2fsck clean" l_qcow2
t_run "linux: ext4 on a qcow2 overlay over a raw base" l_qcow2_overlay

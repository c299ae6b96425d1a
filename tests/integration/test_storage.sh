# Storage where users keep images (issue 16, item 5): the same guest I/O with the image on
# tmpfs (no FALLOC_FL_ZERO_RANGE, no O_DIRECT), on ext4 in a loop device, on the ordinary disk
# (in the box: the host's disk over 9p), and on a host block device (a loop device): O_DIRECT,
# flush, discard and write-zeroes, the size from BLKGETSIZE64, a read-only device refused for
# writing with a message that says what to do. Needs root (mount, losetup).

BLKPATTERN=$ROOT/build/blkpattern

storage_need_root() {
	[ "$(id -u)" = 0 ] || skip "mounting a tmpfs and attaching loop devices needs root"
	command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null ||
		skip "losetup and mkfs.ext4 (util-linux, e2fsprogs) are not installed"
}

# storage_discarded FILE: the bytes after scenario=blk-discard: write-zeroes ranges zero, the
# discarded range zero or unchanged, as the guest saw it (discard is a hint the storage may not
# act on: 9p cannot punch holes), the rest the pattern.
storage_discarded() {
	local discarded=(verify "$1" 3 8 8)
	grep -q "discarded sectors as zeroes too" <<<"$OUT" && discarded=(zero "$1" 8 8)
	"$BLKPATTERN" "${discarded[@]}" && "$BLKPATTERN" zero "$1" 24 8 && "$BLKPATTERN" zero "$1" 40 8 &&
		"$BLKPATTERN" verify "$1" 3 0 8 && "$BLKPATTERN" verify "$1" 3 16 8 && "$BLKPATTERN" verify "$1" 3 48 16
}

# storage_io DIR LABEL: the guest writes, flushes and reads back every sector, and discards and
# zeroes ranges, on raw and qcow2 images in DIR, with both engines; the host checks the bytes.
# direct=on works where the filesystem has O_DIRECT, and elsewhere is refused naming the option.
storage_io() {
	local dir=$1 label=$2 engine direct=",direct=on" seen
	truncate -s 4M "$dir/rw.img" || return 1
	if ! dd if=/dev/zero of="$dir/rw.img" bs=4096 count=1 oflag=direct conv=notrunc status=none 2>/dev/null; then
		vm --kernel "$GUEST" --disk "path=$dir/rw.img,direct=on" --cmdline "scenario=acpi" --timeout 30
		expect_rc 1 && expect_err "direct=on:" && expect_err "does not support O_DIRECT (use direct=off" ||
			{ echo "    ($label: direct=on where O_DIRECT fails)"; return 1; }
		direct=""
	fi
	for engine in io_uring sync; do
		truncate -s 0 "$dir/rw.img" && truncate -s 4M "$dir/rw.img"
		vm --kernel "$GUEST" --disk "path=$dir/rw.img,engine=$engine$direct" --cmdline "scenario=blk-rw seed=21" --timeout 120
		expect_rc 0 && expect_out "verified 8192 sectors" && "$BLKPATTERN" verify "$dir/rw.img" 21 ||
			{ echo "    ($label: raw blk-rw, $engine$direct)"; return 1; }
		truncate -s 0 "$dir/dc.img" && truncate -s 1M "$dir/dc.img"
		vm --kernel "$GUEST" --disk "path=$dir/dc.img,engine=$engine$direct" --cmdline "scenario=blk-discard" --timeout 60
		seen=$(grep -o 'discarded sectors [a-z ]*[a-z]' <<<"$OUT")
		expect_rc 0 && expect_out "read back as zeroes" && storage_discarded "$dir/dc.img" ||
			{ echo "    ($label: raw blk-discard, $engine$direct)"; return 1; }
	done
	rm -f "$dir/q.qcow2"
	"$VMM" img create -f qcow2 -o cluster_size=65536 "$dir/q.qcow2" 4M >/dev/null || return 1
	vm --kernel "$GUEST" --disk "path=$dir/q.qcow2" --cmdline "scenario=blk-rw seed=22" --timeout 120
	expect_rc 0 && expect_out "verified 8192 sectors" && qemu-img check -q "$dir/q.qcow2" &&
		qemu-img convert -O raw "$dir/q.qcow2" "$TMP/q.raw" && "$BLKPATTERN" verify "$TMP/q.raw" 22 ||
		{ echo "    ($label: qcow2 blk-rw)"; return 1; }
	echo "    note: $label ($(stat -f -c %T "$dir")): raw ×2 engines${direct:+ with direct=on}, write-zeroes, discard ($seen), qcow2: verified"
	rm -f "$dir/rw.img" "$dir/dc.img" "$dir/q.qcow2"
}

t_storage_tmpfs() {
	storage_need_root
	mkdir -p "$TMP/tmpfs" && mount -t tmpfs -o size=64m minivmm-it "$TMP/tmpfs" || return 1
	storage_io "$TMP/tmpfs" tmpfs
	local rc=$?
	umount "$TMP/tmpfs"
	return $rc
}

# A file system image in a loop device, mounted: what a disk partition is.
t_storage_ext4_loop() {
	storage_need_root
	local dev rc
	truncate -s 64M "$TMP/fs.img" && mkfs.ext4 -q -F "$TMP/fs.img" || return 1
	dev=$(losetup --find --show "$TMP/fs.img") || { echo "    losetup failed"; return 1; }
	mkdir -p "$TMP/ext4"
	if mount -t ext4 "$dev" "$TMP/ext4"; then
		storage_io "$TMP/ext4" "ext4 on $dev"
		rc=$?
		umount "$TMP/ext4"
	else
		echo "    cannot mount ext4 from $dev"
		rc=1
	fi
	losetup -d "$dev"
	return $rc
}

# The project's own directory: the machine's disk (inside the box, the host's disk over 9p).
t_storage_disk() {
	storage_need_root
	local dir rc
	dir=$(mktemp -d "$ROOT/build/it-disk.XXXXXX") || return 1
	storage_io "$dir" "the project's disk"
	rc=$?
	rm -rf "$dir"
	return $rc
}

# The disk is the block device itself (an LVM volume or a SAN LUN in production).
t_storage_block_device() {
	storage_need_root
	local dev ro engine rc=0
	truncate -s 4M "$TMP/lun.img" || return 1
	dev=$(losetup --find --show "$TMP/lun.img") || { echo "    losetup failed"; return 1; }
	for engine in io_uring sync; do
		vm --kernel "$GUEST" --disk "path=$dev,engine=$engine,direct=on" --cmdline "scenario=blk-rw seed=23" --timeout 120
		# 8192 sectors: the size came from BLKGETSIZE64 (a block device's st_size is 0).
		expect_rc 0 && expect_out "verified 8192 sectors" && "$BLKPATTERN" verify "$dev" 23 ||
			{ echo "    ($dev: blk-rw, $engine, direct=on)"; rc=1; break; }
		vm --kernel "$GUEST" --disk "path=$dev,engine=$engine" --cmdline "scenario=blk-discard" --timeout 60
		expect_rc 0 && expect_out "read back as zeroes" && storage_discarded "$dev" ||
			{ echo "    ($dev: blk-discard, $engine)"; rc=1; break; }
	done
	losetup -d "$dev"
	[ $rc = 0 ] || return 1

	# A read-only device: refused for writing with the option to use; served with it.
	"$BLKPATTERN" make "$TMP/ro.img" 2048 5 || return 1
	ro=$(losetup --find --show --read-only "$TMP/ro.img") || { echo "    losetup -r failed"; return 1; }
	vm --kernel "$GUEST" --disk "path=$ro" --cmdline "scenario=blk-ro seed=5" --timeout 60
	expect_rc 1 && expect_err "--disk path=$ro: the block device is read-only (attach it with readonly=on)" ||
		rc=1
	if [ $rc = 0 ]; then
		vm --kernel "$GUEST" --disk "path=$ro,readonly=on" --cmdline "scenario=blk-ro seed=5" --timeout 60
		expect_rc 0 && expect_out "writes refused with IOERR" || rc=1
	fi
	losetup -d "$ro"
	return $rc
}

t_run "storage: images on tmpfs (no ZERO_RANGE, no O_DIRECT: refused by name)" t_storage_tmpfs
t_run "storage: images on ext4 in a loop device, direct=on" t_storage_ext4_loop
t_run "storage: images on the project's own disk" t_storage_disk
t_run "storage: a loop block device as the disk (BLKGETSIZE64, O_DIRECT, discard, read-only)" t_storage_block_device

# virtio-blk on qcow2 images (issue 5): the guest's own driver writes, reads back and discards
# through minivmm; qemu-img checks the image and the host verifies its bytes.

BLKPATTERN=$ROOT/build/blkpattern

# The image's guest-visible bytes as a raw file, and qemu-img's verdict on its metadata.
qcow2_raw_and_check() {
	qemu-img check -q "$1" || { echo "    qemu-img check $1: status $?"; qemu-img check "$1" | tail -4; return 1; }
	qemu-img convert -O raw "$1" "$2"
}
t_qcow2_rw() {
	local engine cs
	for engine in io_uring sync; do
		for cs in 4096 65536; do
			rm -f "$TMP/q.qcow2"
			"$VMM" img create -f qcow2 -o cluster_size=$cs "$TMP/q.qcow2" 4M || return 1
			vm --kernel "$GUEST" --disk "path=$TMP/q.qcow2,engine=$engine" --cmdline "scenario=blk-rw seed=41" --timeout 120
			expect_rc 0 && expect_out "verified 8192 sectors" || { echo "    ($engine, cluster_size=$cs)"; return 1; }
			qcow2_raw_and_check "$TMP/q.qcow2" "$TMP/q.raw" && "$BLKPATTERN" verify "$TMP/q.raw" 41 ||
				{ echo "    image bytes wrong ($engine, cluster_size=$cs)"; return 1; }
		done
	done
}
t_qcow2_overlay_on_raw() {
	# Half the base has a pattern; the guest overwrites everything through the overlay.
	"$BLKPATTERN" make "$TMP/base.raw" 8192 3 || return 1
	cp "$TMP/base.raw" "$TMP/base.orig"
	qemu-img create -q -f qcow2 -b base.raw -F raw "$TMP/ov.qcow2" || return 1
	vm --kernel "$GUEST" --disk "path=$TMP/ov.qcow2" --cmdline "scenario=blk-rw seed=42" --timeout 120
	expect_rc 0 || return 1
	qcow2_raw_and_check "$TMP/ov.qcow2" "$TMP/ov.raw" && "$BLKPATTERN" verify "$TMP/ov.raw" 42 || return 1
	cmp -s "$TMP/base.raw" "$TMP/base.orig" || { echo "    backing file written"; return 1; }
}
t_qcow2_read_only_compressed() {
	"$BLKPATTERN" make "$TMP/ro.raw" 2048 5 || return 1
	qemu-img convert -q -c -O qcow2 "$TMP/ro.raw" "$TMP/ro.qcow2" && cp "$TMP/ro.qcow2" "$TMP/ro.orig" || return 1
	vm --kernel "$GUEST" --disk "path=$TMP/ro.qcow2,readonly=on" --cmdline "scenario=blk-ro seed=5" --timeout 60
	expect_rc 0 && expect_out "writes refused with IOERR" || return 1
	cmp -s "$TMP/ro.qcow2" "$TMP/ro.orig" || { echo "    read-only image changed"; return 1; }
}
t_qcow2_discard() {
	local engine
	for engine in io_uring sync; do
		rm -f "$TMP/d.qcow2"
		"$VMM" img create -f qcow2 -o cluster_size=4096 "$TMP/d.qcow2" 1M || return 1
		vm --kernel "$GUEST" --disk "path=$TMP/d.qcow2,engine=$engine" --cmdline "scenario=blk-discard" --timeout 60
		expect_rc 0 && expect_out "read back as zeroes" || return 1
		qcow2_raw_and_check "$TMP/d.qcow2" "$TMP/d.raw" && "$BLKPATTERN" zero "$TMP/d.raw" 8 8 &&
			"$BLKPATTERN" zero "$TMP/d.raw" 40 8 && "$BLKPATTERN" verify "$TMP/d.raw" 3 0 8 ||
			{ echo "    image bytes wrong ($engine)"; return 1; }
	done
}
t_qcow2_corrupt_bit() {
	qemu-img create -q -f qcow2 "$TMP/cb.qcow2" 1M || return 1
	printf '\x02' | dd of="$TMP/cb.qcow2" bs=1 seek=79 conv=notrunc status=none
	vm --kernel "$GUEST" --disk "path=$TMP/cb.qcow2" --cmdline "scenario=blk-bounds" --timeout 60
	expect_err "marked corrupt; attached read-only" || return 1
	vm --kernel "$GUEST" --disk "path=$TMP/cb.qcow2" --cmdline "scenario=acpi" --timeout 60
	expect_rc 0
}
t_qcow2_sanitized() {
	# The same data path through the ASan/UBSan build of minivmm.
	"$VMM" img create -f qcow2 -o cluster_size=4096 "$TMP/s.qcow2" 4M || return 1
	VMM_BIN=$VMM_ASAN vm --kernel "$GUEST" --disk "path=$TMP/s.qcow2" --cmdline "scenario=blk-rw seed=43" --timeout 120
	expect_rc 0 && ! grep -q "Sanitizer\|runtime error" <<<"$ERR" || return 1
	qcow2_raw_and_check "$TMP/s.qcow2" "$TMP/s.raw" && "$BLKPATTERN" verify "$TMP/s.raw" 43
}
# Image locks as QEMU takes them: while minivmm runs with the image, `qemu-img info -U` reads
# it, QEMU cannot write it, a second minivmm cannot attach it (writable or read-only); while
# QEMU writes it, minivmm is refused; beside a `-U` reader, minivmm attaches it.
# wait_locked FILE: until some process holds a lock on FILE (/proc/locks names its inode), up to
# 20 s: a fixed sleep was too short for qemu-io to start in the nested-KVM box.
wait_locked() {
	local ino i
	ino=$(stat -c %i "$1")
	for i in $(seq 200); do
		grep -q ":$ino " /proc/locks && return 0
		sleep 0.1
	done
	echo "    nobody locked $1 within 20 s"
	return 1
}
t_image_locks_with_qemu() {
	local img fmt pid
	qemu-img create -q -f qcow2 "$TMP/l.qcow2" 1M && truncate -s 1M "$TMP/l.raw" || return 1
	for img in l.qcow2 l.raw; do
		fmt=${img#l.}
		"$VMM" run --kernel "$GUEST" --disk "path=$TMP/$img" --cmdline scenario=idle >/dev/null 2>&1 </dev/null &
		pid=$!
		wait_locked "$TMP/$img" || { kill $pid; return 1; }
		qemu-img info -U -f $fmt "$TMP/$img" >/dev/null 2>&1 || { echo "    $img: qemu-img info -U refused"; kill $pid; return 1; }
		qemu-io -f $fmt -c "write 0 512" "$TMP/$img" 2>&1 | grep -q 'Failed to get "write" lock' ||
			{ echo "    $img: QEMU could write it"; kill $pid; return 1; }
		vm --kernel "$GUEST" --disk "path=$TMP/$img,readonly=on" --cmdline scenario=hello
		kill $pid
		wait $pid 2>/dev/null
		expect_rc 1 && expect_err "path=$TMP/$img" && expect_err "in use by another process" || return 1
	done
	qemu-io -f qcow2 -c "sleep 3000" "$TMP/l.qcow2" & pid=$!
	wait_locked "$TMP/l.qcow2" || return 1
	vm --kernel "$GUEST" --disk "path=$TMP/l.qcow2" --cmdline scenario=hello
	wait $pid
	expect_rc 1 && expect_err "in use by another process" || return 1
	qemu-io -U -r -f qcow2 -c "sleep 3000" "$TMP/l.qcow2" & pid=$!
	sleep 0.5 # a -U reader takes no lock: nothing to wait for
	vm --kernel "$GUEST" --disk "path=$TMP/l.qcow2" --cmdline scenario=hello
	wait $pid
	expect_rc 0
}

t_run "qcow2: blk-rw (io_uring, sync; 4K and 64K clusters), qemu-img check, host verifies" t_qcow2_rw
t_run "qcow2 overlay on a raw base: guest writes, base untouched" t_qcow2_overlay_on_raw
t_run "qcow2 compressed, read-only" t_qcow2_read_only_compressed
t_run "qcow2 discard and write-zeroes" t_qcow2_discard
t_run "qcow2 corrupt bit: attached read-only with a warning" t_qcow2_corrupt_bit
t_run "qcow2 through the ASan/UBSan minivmm" t_qcow2_sanitized
t_run "image locks interoperate with QEMU's (qemu-img info -U reads a running VM's image; writers exclude each other)" t_image_locks_with_qemu

# virtio-blk on raw images (issue 4): data integrity with both engines, read-only, bounds,
# discard, and one hostile scenario per attack class.

BLKPATTERN=$ROOT/build/blkpattern

t_blk_rw() {
	local engine
	for engine in io_uring sync; do
		truncate -s 4M "$TMP/rw.img"
		vm --kernel "$GUEST" --disk "path=$TMP/rw.img,engine=$engine" --cmdline "scenario=blk-rw seed=11" --timeout 120
		expect_rc 0 && expect_out "blk-rw: wrote, flushed, read back and verified 8192 sectors" || return 1
		# The host checks the image bytes the guest wrote.
		"$BLKPATTERN" verify "$TMP/rw.img" 11 || { echo "    image bytes wrong ($engine)"; return 1; }
		rm -f "$TMP/rw.img"
	done
}
t_blk_rw_pvh_multiqueue() {
	truncate -s 2M "$TMP/mq.img"
	vm --kernel "$GUEST_ELF" --disk "path=$TMP/mq.img,num_queues=4" --cmdline "scenario=blk-rw seed=12" --timeout 120
	expect_rc 0 && "$BLKPATTERN" verify "$TMP/mq.img" 12
}
t_blk_ro() {
	local engine
	for engine in io_uring sync; do
		"$BLKPATTERN" make "$TMP/ro.img" 2048 5
		cp "$TMP/ro.img" "$TMP/ro.orig"
		vm --kernel "$GUEST" --disk "path=$TMP/ro.img,readonly=on,engine=$engine" --cmdline "scenario=blk-ro seed=5" --timeout 60
		expect_rc 0 && expect_out "writes refused with IOERR" || return 1
		cmp -s "$TMP/ro.img" "$TMP/ro.orig" || { echo "    read-only image changed"; return 1; }
	done
}
t_blk_bounds() {
	local engine
	for engine in io_uring sync; do
		truncate -s 1M "$TMP/b.img"
		vm --kernel "$GUEST" --disk "path=$TMP/b.img,id=serial-0042,engine=$engine" --cmdline "scenario=blk-bounds" --timeout 60
		expect_rc 0 && expect_out "blk-bounds: id 'serial-0042'" && expect_out "unknown type 99: status 2" || return 1
		"$BLKPATTERN" verify "$TMP/b.img" 7 2047 1 || { echo "    last sector not on disk"; return 1; }
	done
}
t_blk_discard() {
	local engine
	for engine in io_uring sync; do
		# 64 MiB (sparse): larger than the 32 MiB write-zeroes limit, which the guest tries.
		truncate -s 64M "$TMP/dc.img"
		vm --kernel "$GUEST" --disk "path=$TMP/dc.img,engine=$engine" --cmdline "scenario=blk-discard" --timeout 60
		expect_rc 0 && expect_out "read back as zeroes" &&
			expect_out "write-zeroes over the limit of 65536 sectors refused" || return 1
		"$BLKPATTERN" zero "$TMP/dc.img" 8 8 && "$BLKPATTERN" zero "$TMP/dc.img" 40 8 &&
			"$BLKPATTERN" verify "$TMP/dc.img" 3 0 8 || { echo "    image bytes wrong"; return 1; }
		rm -f "$TMP/dc.img"
	done
}
t_blk_hostile() {
	local a
	truncate -s 1M "$TMP/h0.img" "$TMP/h1.img"
	for a in desc-loop chain-too-long outside-ram straddle-ram length-overflow avail-jump \
		queue-reconfig write-before-read bad-notify valid-then-bad; do
		vm --kernel "$GUEST" --disk "path=$TMP/h0.img" --disk "path=$TMP/h1.img" \
			--cmdline "scenario=blk-hostile attack=$a" --timeout 60
		expect_rc 0 && expect_out "NEEDS_RESET" && expect_out "the other disk still served" &&
			expect_out "recovered after reset" && expect_err "device needs reset" ||
			{ echo "    (attack $a)"; return 1; }
	done
	vm --kernel "$GUEST" --disk "path=$TMP/h0.img" --disk "path=$TMP/h1.img" \
		--cmdline "scenario=blk-hostile attack=desc-loop" --timeout 60
	expect_err "descriptor loop"
}
# Issue 13, finding 2: a head made available again while its request is in flight, on both
# engines (the sync engine used to loop forever on the I/O thread: only SIGKILL stopped it).
t_blk_hostile_dup_head() {
	local e
	truncate -s 1M "$TMP/h0.img" "$TMP/h1.img"
	for e in sync io_uring; do
		vm --kernel "$GUEST" --disk "path=$TMP/h0.img,engine=$e" --disk "path=$TMP/h1.img,engine=$e" \
			--cmdline "scenario=blk-hostile attack=dup-head" --timeout 30
		expect_rc 0 && expect_out "NEEDS_RESET" && expect_out "recovered after reset" &&
			expect_err "still holds it" || { echo "    (engine $e)"; return 1; }
	done
}
# Issue 13, finding 4: one vCPU keeps reads in flight, the other resets the disk at random
# moments (a reset between a completion and its interrupt crashed the VMM).
t_blk_hostile_reset_race() {
	local e
	truncate -s 1M "$TMP/h0.img" "$TMP/h1.img"
	for e in sync io_uring; do
		vm --kernel "$GUEST" --cpus 2 --disk "path=$TMP/h0.img,engine=$e" \
			--disk "path=$TMP/h1.img,engine=$e" --cmdline "scenario=blk-hostile attack=reset-race" \
			--timeout 50
		expect_rc 0 && expect_out "the other disk still served" && expect_out "recovered after reset" ||
			{ echo "    (engine $e)"; return 1; }
		grep -o "reset-race: .*" <<<"$OUT" | sed "s/^/    note: $e: /"
	done
}
t_blk_devices_announced() {
	truncate -s 1M "$TMP/a.img" "$TMP/b.img"
	vm --kernel "$GUEST" --disk "path=$TMP/a.img" --disk "path=$TMP/b.img,readonly=on" --cmdline "scenario=acpi"
	expect_rc 0 && expect_out "acpi: device VR00 hid LNRO0005 mem 0xd0000000+0x1000 irq 5" &&
		expect_out "acpi: device VR01 hid LNRO0005 mem 0xd0001000+0x1000 irq 6"
}
t_blk_bad_flags() {
	truncate -s 1M "$TMP/x.img"
	qemu-img create -q -f qcow2 "$TMP/x.qcow2" 1M 2>/dev/null || printf 'QFI\xfb' >"$TMP/x.qcow2"
	local fails=0
	run_case() { bad_case "$@" || { echo "    (case: ${*:2})"; fails=$((fails + 1)); }; }
	run_case "--disk: path=FILE is required" --kernel "$GUEST" --disk readonly=on
	run_case "--disk path=/nonexistent.img: No such file" --kernel "$GUEST" --disk path=/nonexistent.img
	run_case "--disk: unknown option 'color'" --kernel "$GUEST" --disk "path=$TMP/x.img,color=red"
	run_case "--disk: engine=aio" --kernel "$GUEST" --disk "path=$TMP/x.img,engine=aio"
	run_case "--disk: num_queues=0" --kernel "$GUEST" --disk "path=$TMP/x.img,num_queues=0"
	run_case "--disk: id=" --kernel "$GUEST" --disk "path=$TMP/x.img,id=abcdefghijklmnopqrstuvwxyz"
	run_case "--disk path=$TMP: Is a directory" --kernel "$GUEST" --disk "path=$TMP"
	run_case "format=qcow2: not a qcow2 image" --kernel "$GUEST" --disk "path=$TMP/x.img,format=qcow2"
	run_case "--disk: format=vmdk" --kernel "$GUEST" --disk "path=$TMP/x.img,format=vmdk"
	printf '\x01' | dd of="$TMP/x.qcow2" bs=1 seek=41 conv=notrunc status=none # L1 at 2^48
	run_case "--disk path=$TMP/x.qcow2: l1_table_offset" --kernel "$GUEST" --disk "path=$TMP/x.qcow2"
	[ $fails -eq 0 ]
}

t_run "blk-rw: pattern over the disk, io_uring and sync, host verifies" t_blk_rw
t_run "blk-rw through PVH with 4 queues" t_blk_rw_pvh_multiqueue
t_run "blk-ro: reads verified, writes IOERR, image untouched" t_blk_ro
t_run "blk-bounds: IOERR/UNSUPP, GET_ID, last sector" t_blk_bounds
t_run "blk-discard: discard and write-zeroes" t_blk_discard
t_run "blk hostile: every attack class → NEEDS_RESET, VMM up" t_blk_hostile
t_run "blk hostile: a head reused while in flight (issue 13 #2), both engines" t_blk_hostile_dup_head
t_run "blk hostile: resets from a second vCPU racing completions (issue 13 #4)" t_blk_hostile_reset_race
t_run "virtio devices in the DSDT" t_blk_devices_announced
t_run "--disk bad input" t_blk_bad_flags

t_blk_discovery_paths() {
	truncate -s 1M "$TMP/dp.img"
	# Default (ACPI on): announced in the DSDT only.
	vm --kernel "$GUEST" --disk "path=$TMP/dp.img" --cmdline "scenario=cmdline"
	expect_rc 0 && ! grep -q "virtio_mmio.device" <<<"$OUT" || { echo "    cmdline announcement with ACPI"; return 1; }
	vm --kernel "$GUEST" --disk "path=$TMP/dp.img" --cmdline "scenario=blk-rw seed=31" --timeout 60
	expect_rc 0 || return 1
	# --acpi off: on the command line, as kernels without ACPI need.
	vm --kernel "$GUEST" --acpi off --disk "path=$TMP/dp.img" --cmdline "scenario=cmdline"
	expect_out "virtio_mmio.device=4K@0xd0000000:5" || return 1
	vm --kernel "$GUEST" --acpi off --disk "path=$TMP/dp.img" --cmdline "scenario=blk-rw seed=32" --timeout 60
	expect_rc 0 || return 1
	# Forced either way.
	vm --kernel "$GUEST" --virtio-cmdline on --disk "path=$TMP/dp.img" --cmdline "scenario=cmdline"
	expect_out "virtio_mmio.device=4K@0xd0000000:5" || return 1
	vm --kernel "$GUEST" --virtio-cmdline sometimes --disk "path=$TMP/dp.img"
	expect_rc 1 && expect_err "--virtio-cmdline: 'sometimes'"
}
t_run "virtio discovery: DSDT by default, command line with --acpi off" t_blk_discovery_paths

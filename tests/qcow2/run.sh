#!/usr/bin/env bash
# qcow2 format tests (issue 5), no /dev/kvm needed: block/qcow2 driven by build/qcow2io (an
# ASan/UBSan build) and by `minivmm img`, with qemu-img as the judge.
#   tests/qcow2/run.sh [PATTERN]        CRASH_TRIALS=N (default 10) for the crash test
set -u
source "$(dirname "$0")/../integration/lib.sh"

Q=$ROOT/build/qcow2io
CRASH_TRIALS=${CRASH_TRIALS:-10}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1

# A compressible 8 MiB source with some zero and random stretches.
make_source() {
	python3 - "$1" <<'EOF'
import random, sys
r = random.Random(5)
b = bytearray()
while len(b) < 8 << 20:
    k = r.randrange(4)
    n = r.randrange(1, 200) * 512
    if k == 0:
        b += bytes(n)
    elif k == 1:
        b += r.randbytes(n)
    else:
        b += (b'%07d\n' % r.randrange(1000)) * (n // 8)
open(sys.argv[1], 'wb').write(b[:8 << 20])
EOF
}

SRC=$TMP/src.raw
make_source "$SRC"

# Our reader against `qemu-img convert -O raw` for one image.
same_as_qemu() {
	qemu-img convert -O raw "$1" "$TMP/qemu.raw" || return 1
	"$Q" dump "$1" "$TMP/ours.raw" || return 1
	cmp "$TMP/qemu.raw" "$TMP/ours.raw" || { echo "    $1: differs from qemu-img convert"; return 1; }
}

t_read_matrix() {
	local cs compat
	for cs in 512 4096 65536 2M; do
		for compat in 0.10 1.1; do
			qemu-img convert -q -f raw -O qcow2 -o cluster_size=$cs,compat=$compat "$SRC" "$TMP/r.qcow2" &&
				same_as_qemu "$TMP/r.qcow2" || { echo "    cluster_size=$cs compat=$compat"; return 1; }
			qemu-img convert -q -c -f raw -O qcow2 -o cluster_size=$cs,compat=$compat "$SRC" "$TMP/c.qcow2" &&
				same_as_qemu "$TMP/c.qcow2" || { echo "    compressed cluster_size=$cs compat=$compat"; return 1; }
		done
	done
}
t_read_zstd() {
	qemu-img convert -q -c -f raw -O qcow2 -o compression_type=zstd "$SRC" "$TMP/z.qcow2" &&
		qemu-img info "$TMP/z.qcow2" | grep -q "compression type: zstd" && same_as_qemu "$TMP/z.qcow2"
}
t_read_backing_chain() {
	# raw base <- qcow2 (compressed, some clusters) <- qcow2 overlay with its own writes
	cp "$SRC" "$TMP/base.raw"
	qemu-img create -q -f qcow2 -b base.raw -F raw "$TMP/mid.qcow2" &&
		qemu-io -c "write -P 0x5a 1M 300k" -c "write -z 3M 64k" "$TMP/mid.qcow2" >/dev/null &&
		qemu-img create -q -f qcow2 -o cluster_size=4096 -b mid.qcow2 -F qcow2 "$TMP/top.qcow2" 12M &&
		qemu-io -c "write -P 0xa5 7M 5k" -c "write -P 0x11 10M 1M" "$TMP/top.qcow2" >/dev/null &&
		same_as_qemu "$TMP/top.qcow2"
}

# Random writes, discards and write-zeroes through our code, mirrored into a raw file; then
# qemu-img check must find no errors and no leaks, and compare must find them identical.
write_case() {
	local img=$1 expect=$2 seed=$3 n=$4
	"$Q" random "$img" "$expect" "$seed" "$n" || return 1
	qemu-img check -q "$img" || { echo "    qemu-img check: status $?"; qemu-img check "$img" | tail -5; return 1; }
	qemu-img compare -q "$img" "$expect" || { echo "    qemu-img compare: contents differ"; return 1; }
}
t_write_matrix() {
	local cs compat
	for cs in 512 4096 65536 2M; do
		for compat in 0.10 1.1; do
			rm -f "$TMP/w.raw"
			qemu-img create -q -f qcow2 -o cluster_size=$cs,compat=$compat "$TMP/w.qcow2" 24M &&
				truncate -s 24M "$TMP/w.raw" &&
				write_case "$TMP/w.qcow2" "$TMP/w.raw" 7 250 || { echo "    cluster_size=$cs compat=$compat"; return 1; }
		done
	done
}
t_write_refcount_widths() {
	local rb
	for rb in 1 2 4 8 32 64; do
		rm -f "$TMP/rw.raw"
		qemu-img create -q -f qcow2 -o refcount_bits=$rb,cluster_size=4096 "$TMP/rw.qcow2" 16M &&
			truncate -s 16M "$TMP/rw.raw" && write_case "$TMP/rw.qcow2" "$TMP/rw.raw" 5 200 &&
			"$VMM" img check "$TMP/rw.qcow2" >/dev/null || { echo "    refcount_bits=$rb"; return 1; }
	done
}
t_write_grows_refcount_table() {
	# 512-byte clusters: one refcount-table cluster covers 8 MiB, so 24 MiB of writes grow it.
	local before after
	qemu-img create -q -f qcow2 -o cluster_size=512 "$TMP/g.qcow2" 32M && truncate -s 32M "$TMP/g.raw" || return 1
	before=$(od -An -tu1 -j56 -N4 "$TMP/g.qcow2" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
	write_case "$TMP/g.qcow2" "$TMP/g.raw" 9 500 || return 1
	after=$(od -An -tu1 -j56 -N4 "$TMP/g.qcow2" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
	[ "$after" -gt "$before" ] || { echo "    refcount table did not grow ($before -> $after clusters)"; return 1; }
}
t_write_over_backing() {
	local fmt compat
	for fmt in raw qcow2; do
		for compat in 0.10 1.1; do
			if [ $fmt = raw ]; then cp "$SRC" "$TMP/b.base"; else
				qemu-img convert -q -c -f raw -O qcow2 "$SRC" "$TMP/b.base"; fi
			qemu-img create -q -f qcow2 -o compat=$compat -b b.base -F $fmt "$TMP/ov.qcow2" &&
				cp "$SRC" "$TMP/ov.raw" && write_case "$TMP/ov.qcow2" "$TMP/ov.raw" 11 200 ||
				{ echo "    backing $fmt compat=$compat"; return 1; }
			# The backing file is never written.
			qemu-img compare -q -f $fmt "$TMP/b.base" "$SRC" || { echo "    backing file changed"; return 1; }
		done
	done
}
t_write_compressed_and_snapshot() {
	qemu-img convert -q -c -f raw -O qcow2 "$SRC" "$TMP/cs.qcow2" &&
		qemu-img snapshot -c before "$TMP/cs.qcow2" && cp "$SRC" "$TMP/cs.raw" &&
		write_case "$TMP/cs.qcow2" "$TMP/cs.raw" 13 200 || return 1
	# The snapshot still holds the old content: shared clusters were copied, not overwritten.
	qemu-img snapshot -a before "$TMP/cs.qcow2" && qemu-img compare -q "$TMP/cs.qcow2" "$SRC" ||
		{ echo "    snapshot content changed"; return 1; }
}
t_img_create_accepted_by_qemu() {
	local cs
	for cs in 512 65536 2M; do
		"$VMM" img create -f qcow2 -o cluster_size=$cs "$TMP/n.qcow2" 3G &&
			qemu-img check -q "$TMP/n.qcow2" &&
			qemu-img info "$TMP/n.qcow2" | grep -q "virtual size: 3 GiB" || { echo "    cluster_size=$cs"; return 1; }
	done
	"$VMM" img create -f qcow2 -o compat=0.10 "$TMP/v2.qcow2" 1G && qemu-img check -q "$TMP/v2.qcow2" &&
		qemu-img info "$TMP/v2.qcow2" | grep -q "compat: 0.10" || return 1
	cp "$SRC" "$TMP/cb.raw"
	"$VMM" img create -f qcow2 -b cb.raw "$TMP/cb.qcow2" && qemu-img check -q "$TMP/cb.qcow2" &&
		qemu-img info "$TMP/cb.qcow2" | grep -q "backing file format: raw" &&
		qemu-img compare -q "$TMP/cb.qcow2" "$SRC" || return 1
	"$VMM" img create -f raw "$TMP/n.raw" 5M && [ "$(stat -c %s "$TMP/n.raw")" = 5242880 ] || return 1
	"$VMM" img info "$TMP/cb.qcow2" >"$TMP/info" && grep -q "backing file: cb.raw" "$TMP/info" &&
		grep -q "virtual size: 8 MiB" "$TMP/info" || { cat "$TMP/info"; return 1; }
}
# Offset of the refcount entry (16-bit) of cluster 0 in a fresh 64 KiB-cluster image: the
# first refcount block's offset from the refcount table.
rc0_offset() {
	local rt rb
	rt=$(od -An -tu8 --endian=big -j48 -N8 "$1" | tr -d ' ')
	rb=$(od -An -tu8 --endian=big -j"$rt" -N8 "$1" | tr -d ' ')
	echo "$rb"
}
t_img_check_verdicts() {
	local rb rc
	qemu-img create -q -f qcow2 "$TMP/k.qcow2" 64M && qemu-io -c "write 0 1M" "$TMP/k.qcow2" >/dev/null || return 1
	"$VMM" img check "$TMP/k.qcow2" >"$TMP/chk"; rc=$?
	[ $rc = 0 ] && grep -q "No errors were found" "$TMP/chk" || { echo "    clean image: status $rc"; return 1; }
	rb=$(rc0_offset "$TMP/k.qcow2")
	# Leak: refcount of the header cluster 1 -> 2.
	cp "$TMP/k.qcow2" "$TMP/leak.qcow2"
	printf '\x00\x02' | dd of="$TMP/leak.qcow2" bs=1 seek="$rb" conv=notrunc status=none
	"$VMM" img check "$TMP/leak.qcow2" >"$TMP/chk"; rc=$?
	[ $rc = 3 ] && grep -q "1 leaked clusters" "$TMP/chk" || { echo "    leak: status $rc"; cat "$TMP/chk"; return 1; }
	qemu-img check -q "$TMP/leak.qcow2" >/dev/null 2>&1; [ $? = 3 ] || { echo "    qemu-img disagrees on the leak"; return 1; }
	# Corruption: refcount of the header cluster 1 -> 0.
	cp "$TMP/k.qcow2" "$TMP/bad.qcow2"
	printf '\x00\x00' | dd of="$TMP/bad.qcow2" bs=1 seek="$rb" conv=notrunc status=none
	"$VMM" img check "$TMP/bad.qcow2" >"$TMP/chk"; rc=$?
	[ $rc = 2 ] && grep -q "ERROR cluster 0 refcount=0 reference=1" "$TMP/chk" || { echo "    corruption: status $rc"; cat "$TMP/chk"; return 1; }
	qemu-img check -q "$TMP/bad.qcow2" >/dev/null 2>&1; [ $? = 2 ] || { echo "    qemu-img disagrees on the corruption"; return 1; }
}
t_crash_consistency() {
	local i seed rc corrupt=0 leaks=0
	for i in $(seq 1 "$CRASH_TRIALS"); do
		seed=$((1000 + i))
		qemu-img create -q -f qcow2 -o cluster_size=$([ $((i % 2)) = 0 ] && echo 4096 || echo 65536) \
			"$TMP/cr.qcow2" 16M || return 1
		"$Q" crash "$TMP/cr.qcow2" "$TMP/cr.log" $seed &
		sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
		kill -KILL $! 2>/dev/null; wait $! 2>/dev/null
		qemu-img check -q "$TMP/cr.qcow2" >"$TMP/chk" 2>&1; rc=$?
		case $rc in
		0) ;;
		3) leaks=$((leaks + 1)) ;;
		*) corrupt=$((corrupt + 1)); echo "    trial $i: qemu-img check status $rc"; qemu-img check "$TMP/cr.qcow2" | head -5 ;;
		esac
		"$Q" verify "$TMP/cr.qcow2" "$TMP/cr.log" $seed >"$TMP/ver" || { echo "    trial $i: flushed data lost"; cat "$TMP/ver"; return 1; }
	done
	echo "    note: $CRASH_TRIALS kills: $corrupt with corruption, $leaks with leaks only; flushed data intact in all"
	[ $corrupt = 0 ]
}
t_hostile_images() {
	python3 "$ROOT/tests/qcow2/hostile.py" "$VMM" "$Q" "$TMP/hostile"
}
t_corrupt_bit_opens_read_only() {
	qemu-img create -q -f qcow2 "$TMP/cb.qcow2" 1M || return 1
	# incompatible_features bit 1 (corrupt)
	printf '\x02' | dd of="$TMP/cb.qcow2" bs=1 seek=79 conv=notrunc status=none
	"$VMM" img info "$TMP/cb.qcow2" | grep -q "corrupt: true" || return 1
	"$Q" dump "$TMP/cb.qcow2" "$TMP/cb.raw" || return 1
	# A writer is refused: the random-write driver fails to write.
	truncate -s 1M "$TMP/cb.exp"
	! "$Q" random "$TMP/cb.qcow2" "$TMP/cb.exp" 1 1 2>/dev/null
}
t_image_lock() {
	qemu-img create -q -f qcow2 "$TMP/lk.qcow2" 16M || return 1
	"$Q" crash "$TMP/lk.qcow2" "$TMP/lk.log" 1 & local pid=$!
	sleep 0.3
	"$Q" random "$TMP/lk.qcow2" /dev/null 1 1 2>"$TMP/lkerr"; local rc=$?
	kill -KILL $pid; wait $pid 2>/dev/null
	[ $rc != 0 ] && grep -q "in use by another process" "$TMP/lkerr" || { cat "$TMP/lkerr"; return 1; }
}

t_run read-matrix t_read_matrix
t_run read-zstd t_read_zstd
t_run read-backing-chain t_read_backing_chain
t_run write-matrix t_write_matrix
t_run write-refcount-widths-1-to-64 t_write_refcount_widths
t_run write-grows-refcount-table t_write_grows_refcount_table
t_run write-over-backing t_write_over_backing
t_run write-compressed-and-snapshot t_write_compressed_and_snapshot
t_run img-create-accepted-by-qemu t_img_create_accepted_by_qemu
t_run img-check-verdicts t_img_check_verdicts
t_run crash-consistency t_crash_consistency
t_run hostile-images t_hostile_images
t_run corrupt-bit-opens-read-only t_corrupt_bit_opens_read_only
t_run image-lock t_image_lock
t_summary

# Sourced by the benchmarks that boot the test guest next to QEMU (snapshot.sh, migrate.sh).
# ROOT must be set.

# bench_in_box "MAKE TARGETS" "BOX OPTIONS" "$@": where there is no usable /dev/kvm, makes the
# targets and runs the calling script again inside the nested-KVM box; where there is, sets
# VMM, GUEST, GUEST_ELF, QEMU, QMP and TMP (a directory removed at exit, with the children).
bench_in_box() {
	local targets=$1 box=$2
	shift 2
	if { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
		VMM=$ROOT/minivmm
		GUEST=$ROOT/tests/guest/guest.bzImage
		GUEST_ELF=$ROOT/tests/guest/guest.elf
		QEMU=$(command -v qemu-system-x86_64)
		QMP="/usr/bin/python3 $ROOT/bench/qmp.py"
		TMP=$(mktemp -d) # in the box: its tmpfs, so the file system is not what is measured
		# (|| true: under set -e a command failing in the trap ends the script with status 1,
		# before the rest of the trap: pkill fails when no child is left)
		trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$TMP"' EXIT
		return 0
	fi
	[ -z "${KVMBOX_INSIDE:-}" ] || { echo "no /dev/kvm inside the box" >&2; exit 1; }
	# shellcheck disable=SC2086
	make -s -C "$ROOT" $targets
	echo "no /dev/kvm here: running in the nested-KVM box (absolute times are an emulated CPU's; compare the ratios)"
	# shellcheck disable=SC2086
	exec "$ROOT/tests/kvmbox/run" $box -- "$0" "$@"
}

# wait_for FILE TEXT: until TEXT is in FILE (120 s).
wait_for() {
	for _ in $(seq 2400); do grep -qF "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	echo "no '$2' in $1" >&2
	return 1
}

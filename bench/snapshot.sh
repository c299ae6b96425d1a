#!/usr/bin/env bash
# Snapshot and restore: time and file size for 512 MiB and 2 GiB guests, idle and with (nearly)
# all memory written, minivmm next to QEMU 7.2 microvm (migrate "exec:cat > FILE" and
# -incoming "exec:cat FILE") on the same test guest in the same run. Restore time is from
# process start until the VM runs again (minivmm: --boot-trace's first KVM_RUN; QEMU: QMP says
# "running"). Where there is no /dev/kvm it runs inside the nested-KVM box: absolute times are
# an emulated CPU's there, only the ratios count.
#   bench/snapshot.sh            SIZES="512 2048" (MiB)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/box.sh"
bench_in_box "minivmm guest" "--memory 8192" "$@"

now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.3f", e - s }'; }
mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }

cmdline_for() { # LOAD MIB
	if [ "$1" = idle ]; then echo "scenario=idle"; else echo "scenario=memtest memtest=$(($2 - 96)) hold=1"; fi
}
ready_text() { if [ "$1" = idle ]; then echo "idle: halting"; else echo "memtest:"; fi; }

ours() { # LOAD MIB -> "snapshot_s file_mib restore_ms"
	local load=$1 m=$2 t snap restore
	"$VMM" run --kernel "$GUEST" --memory "${m}M" --api-socket "$TMP/api" --cmdline "$(cmdline_for "$load" "$m")" \
		>"$TMP/ours.out" 2>&1 </dev/null &
	wait_for "$TMP/ours.out" "$(ready_text "$load")"
	t=$(now)
	"$VMM" ctl "$TMP/api" snapshot path="$TMP/ours.snap" stop=true >/dev/null
	snap=$(since "$t")
	wait
	"$VMM" run --restore "$TMP/ours.snap" --memory "${m}M" --boot-trace >"$TMP/ours.out" 2>"$TMP/ours.err" </dev/null &
	wait_for "$TMP/ours.err" "first KVM_RUN"
	restore=$(sed -n 's/.*boot-trace: *\([0-9.]*\) ms first KVM_RUN.*/\1/p' "$TMP/ours.err")
	kill -TERM $! && wait || true
	echo "$snap $(mib "$TMP/ours.snap") $restore"
	rm -f "$TMP/ours.snap"
}

qemu() { # LOAD MIB -> "snapshot_s file_mib restore_ms"
	local load=$1 m=$2 t snap restore args
	args=(-accel kvm -M microvm -m "${m}M" -nodefaults -no-user-config -display none
		-kernel "$GUEST_ELF" -append "$(cmdline_for "$load" "$m")")
	"$QEMU" "${args[@]}" -serial "file:$TMP/q.out" -qmp "unix:$TMP/qmp,server,nowait" </dev/null &
	wait_for "$TMP/q.out" "$(ready_text "$load")"
	snap=$($QMP "$TMP/qmp" migrate "$TMP/q.snap")
	wait
	rm -f "$TMP/qmp"
	t=$(now)
	"$QEMU" "${args[@]}" -serial null -qmp "unix:$TMP/qmp,server,nowait" -incoming "exec:cat $TMP/q.snap" </dev/null &
	$QMP "$TMP/qmp" wait-running
	restore=$(awk -v s="$t" -v e="$(now)" 'BEGIN { printf "%.1f", (e - s) * 1000 }')
	kill -TERM $! && wait || true
	rm -f "$TMP/qmp"
	echo "$snap $(mib "$TMP/q.snap") $restore"
	rm -f "$TMP/q.snap" "$TMP/q.out"
}

echo "snapshot and restore, test guest, minivmm vs QEMU $("$QEMU" --version | head -1 | awk '{print $4}') microvm${KVMBOX_INSIDE:+ (in the nested-KVM box)}"
printf '%-16s %11s %9s %11s   %11s %9s %11s   %9s %9s\n' guest "ours snap s" "file MiB" "restore ms" \
	"QEMU snap s" "file MiB" "restore ms" "snap x" "restore x"
for m in ${SIZES:-512 2048}; do
	for load in idle full; do
		read -r os of orr < <(ours "$load" "$m")
		read -r qs qf qr < <(qemu "$load" "$m")
		printf '%-16s %11s %9s %11s   %11s %9s %11s   %9s %9s\n' "$m MiB $load" "$os" "$of" "$orr" \
			"$qs" "$qf" "$qr" "$(awk -v a="$qs" -v b="$os" 'BEGIN{printf "%.1fx", a/b}')" \
			"$(awk -v a="$qr" -v b="$orr" 'BEGIN{printf "%.1fx", a/b}')"
	done
done

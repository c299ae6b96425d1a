#!/usr/bin/env bash
# Startup benchmark: process start -> first guest serial byte, start -> exit (scenario=hello),
# and VMM memory beyond guest RAM, for minivmm, QEMU microvm on the same guest, and the bare-KVM
# floor. Medians over RUNS (default 20). Prints a table; never pass/fail. Where there is no
# /dev/kvm it runs itself inside the nested-KVM box: absolute times there are an emulated CPU's,
# only the ratios count.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-20}
MEM=${MEM:-512}
B=$ROOT/build/bench
mkdir -p "$B"
cc -O2 -Wall -o "$B/kvm_floor" "$ROOT/bench/kvm_floor.c"
cc -O2 -Wall -o "$B/probe" "$ROOT/bench/probe.c"
if ! { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
	[ -z "${KVMBOX_INSIDE:-}" ] || { echo "no /dev/kvm inside the box" >&2; exit 1; }
	make -s -C "$ROOT" minivmm guest
	echo "no /dev/kvm here: running in the nested-KVM box (absolute times are an emulated CPU's; compare the ratios)"
	exec "$ROOT/tests/kvmbox/run" -- "$0" "$@"
fi

VMM=${VMM:-$ROOT/minivmm}
GUEST=$ROOT/tests/guest/guest.bzImage
GUEST_ELF=$ROOT/tests/guest/guest.elf
QEMU=$(command -v qemu-system-x86_64 || true)

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) printf "%.2f", a[(NR+1)/2]; else printf "%.2f", (a[NR/2]+a[NR/2+1])/2}'; }

# measure NAME CMD...: RUNS timings; prints "first exit" medians.
measure() {
	local f="$B/$1.times"
	shift
	: >"$f"
	"$B/probe" time "$@" >/dev/null  # warm the page cache
	for _ in $(seq "$RUNS"); do "$B/probe" time "$@" >>"$f"; done
	echo "$(cut -d' ' -f1 "$f" | median) $(cut -d' ' -f2 "$f" | median)"
}

ours_cmd=("$VMM" run --kernel "$GUEST" --memory "${MEM}M" --cmdline scenario=hello)
qemu_cmd=("$QEMU" -accel kvm -M microvm -m "${MEM}M" -nodefaults -no-user-config -nographic
	-serial stdio -kernel "$GUEST_ELF" -append scenario=hello
	-device isa-debug-exit,iobase=0xf4,iosize=4)

read -r floor_first floor_exit < <(measure floor "$B/kvm_floor")
read -r ours_first ours_exit < <(measure minivmm "${ours_cmd[@]}")
read -r _ _ ours_over < <("$B/probe" rss "$MEM" "$VMM" run --kernel "$GUEST" --memory "${MEM}M" \
	--cmdline scenario=idle)
if [ -n "$QEMU" ]; then
	read -r qemu_first qemu_exit < <(measure qemu "${qemu_cmd[@]}")
	read -r _ _ qemu_over < <("$B/probe" rss "$MEM" "$QEMU" -accel kvm -M microvm -m "${MEM}M" \
		-nodefaults -no-user-config -nographic -serial stdio -kernel "$GUEST_ELF" \
		-append scenario=idle)
else
	qemu_first=n/a qemu_exit=n/a qemu_over=n/a
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2fx", a / b }'; }
kib_to_mib() { awk -v k="$1" 'BEGIN { if (k == "n/a") print "n/a"; else printf "%.2f", k / 1024 }'; }

echo "startup, medians of $RUNS runs, guest RAM ${MEM} MiB (test guest, scenario=hello)"
printf '%-22s %14s %14s %18s\n' "" "first byte ms" "exit ms" "RSS - guest MiB"
printf '%-22s %14s %14s %18s\n' "bare KVM floor" "$floor_first" "$floor_exit" "-"
printf '%-22s %14s %14s %18s\n' "minivmm" "$ours_first" "$ours_exit" "$(kib_to_mib "$ours_over")"
printf '%-22s %14s %14s %18s\n' "QEMU -M microvm (PVH)" "$qemu_first" "$qemu_exit" "$(kib_to_mib "$qemu_over")"
echo
echo "minivmm - floor (first byte): $(awk -v a="$ours_first" -v b="$floor_first" 'BEGIN{printf "%.2f ms", a-b}')"
echo "minivmm / floor (first byte): $(ratio "$ours_first" "$floor_first")"
echo "QEMU / minivmm (first byte):  $(ratio "$qemu_first" "$ours_first")"
echo "QEMU / minivmm (exit):        $(ratio "$qemu_exit" "$ours_exit")"
echo "QEMU / minivmm (memory):      $(ratio "$qemu_over" "$ours_over")"

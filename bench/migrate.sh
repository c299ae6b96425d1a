#!/usr/bin/env bash
# Live migration, minivmm next to QEMU 7.2 microvm on the same test guest in the same run, one
# vCPU, over one of two links:
#   unix        a unix socket on one host (source and destination side by side): the link is
#               as fast as the CPUs copy
#   veth[:MBPS] two "hosts", network namespaces joined by a veth pair, TCP between them;
#               with MBPS, the source's end is shaped to MBPS MB/s (tc tbf), a link slower than
#               the CPUs, so that the dirtyPCT loads really dirty at PCT% of what it carries
# Loads:
#   idle      the guest halted
#   full      every page written once (memtest, then halted)
#   dirty     a 16 MiB working set rewritten continuously (scenario=state pages=4096)
#   dirtyPCT  pages all over RAM written at PCT% of the link's rate (scenario=dirty, paced by
#             the TSC; PCT one of 25, 50, 100; the link's rate is iperf3's over it in this run:
#             loopback TCP for unix)
# Both with a 50 ms downtime limit and no bandwidth cap; QEMU without auto-converge (its
# default), minivmm with its default (on); QEMU is given up on after 300 s (60 s for the
# dirtyPCT loads). Reports total time, downtime (the source's pause to the destination's
# resume: minivmm's own figure, pause to the destination's confirmation; for QEMU its source's
# STOP event to its destination's RESUME, both stamped with the host's clock; QEMU's own
# figure, which ends on the source, is printed below), bytes on the wire, rounds.
# Where there is no /dev/kvm it runs inside the nested-KVM box: absolute times and rates are an
# emulated CPU's there (the copy is CPU-bound), only the ratios between the two VMMs count.
#   bench/migrate.sh [MiB] [LOADS] [LINK]   default: 1024 "idle full dirty dirty25 dirty50
#                                      dirty100" unix
#                                      (arguments, not the environment: the box passes only
#                                      the arguments on)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/box.sh"
bench_in_box "minivmm guest" "--memory 8192" "$@"
MEM=${1:-1024}
LOADS=${2:-idle full dirty dirty25 dirty50 dirty100}
LINKSPEC=${3:-unix}
# The commands that run a source / a destination on this link, and where they meet.
SRC=() DST=()
case $LINKSPEC in
unix) ;;
veth | veth:[0-9]*)
	NS=mvbench$$
	SHAPE=${LINKSPEC#veth}
	SHAPE=${SHAPE#:}
	ip netns add "${NS}a" && ip netns add "${NS}b" || exit 1
	trap 'pkill -P $$ 2>/dev/null || true; ip netns del "${NS}a" || true; ip netns del "${NS}b" || true; rm -rf "$TMP"' EXIT
	ip link add "${NS}x" netns "${NS}a" type veth peer name "${NS}y" netns "${NS}b"
	ip -n "${NS}a" addr add 10.79.0.1/24 dev "${NS}x"
	ip -n "${NS}b" addr add 10.79.0.2/24 dev "${NS}y"
	for h in a b; do
		ip -n "$NS$h" link set lo up
		ip -n "$NS$h" link set "${NS}$([ $h = a ] && echo x || echo y)" up
	done
	# A token bucket on the source's end: the migration streams one way.
	[ -z "$SHAPE" ] || tc -n "${NS}a" qdisc add dev "${NS}x" root tbf rate "$((SHAPE * 8))mbit" \
		burst 256kb latency 100ms
	SRC=(ip netns exec "${NS}a")
	DST=(ip netns exec "${NS}b")
	;;
*)
	echo "bench/migrate.sh: LINK must be unix or veth[:MBPS], not '$LINKSPEC'" >&2
	exit 2
	;;
esac
# uri_for PORT [QEMU]: where the destination listens.
uri_for() {
	case $LINKSPEC in
	unix) echo "unix:$TMP/${2:+q}mig.sock" ;;
	*) echo "tcp:10.79.0.2:$1" ;;
	esac
}
# wait_listening PORT [QEMU]: until the destination listens there.
wait_listening() {
	for _ in $(seq 400); do
		case $LINKSPEC in
		unix) [ -S "$TMP/${2:+q}mig.sock" ] && return 0 ;;
		*) "${DST[@]}" ss -Hltn "sport = :$1" | grep -q . && return 0 ;;
		esac
		sleep 0.05
	done
	echo "no destination listening on $(uri_for "$@")" >&2
	return 1
}
PROBE=$ROOT/build/probe
cc -O2 -Wall -o "$PROBE" "$ROOT/bench/probe.c"

cmdline_for() {
	case $1 in
	idle) echo "scenario=idle" ;;
	full) echo "scenario=memtest memtest=$((MEM - 96)) hold=1" ;;
	dirty) echo "scenario=state pages=4096" ;;
	dirty*) echo "scenario=dirty rate=$(dirty_rate "${1#dirty}") per=10" ;;
	esac
}
# dirty_rate PCT: pages per 10 million TSC cycles for PCT% of LINK MB/s.
dirty_rate() {
	awk -v l="$LINK" -v p="$1" -v mhz="$TSC_MHZ" 'BEGIN { r = l * 1e6 * p / 100 / 4096 * 10 / mhz; printf "%d", r < 1 ? 1 : r + 0.5 }'
}
ready_text() {
	case $1 in
	idle) echo "idle: halting" ;;
	full) echo "OK" ;;
	dirty) echo "state: round 16" ;;
	dirty*) echo "dirty: running" ;;
	esac
}

ours() { # LOAD -> "total_ms downtime_ms bytes rounds status"
	local load=$1 line
	rm -f "$TMP/a" "$TMP/b" "$TMP/mig.sock"
	"${SRC[@]}" "$VMM" run --kernel "$GUEST" --memory "${MEM}M" --api-socket "$TMP/a" --cmdline "$(cmdline_for "$load")" \
		>"$TMP/a.out" 2>"$TMP/a.err" </dev/null &
	local apid=$!
	wait_for "$TMP/a.out" "$(ready_text "$load")"
	"${DST[@]}" "$VMM" run --memory "${MEM}M" --api-socket "$TMP/b" --incoming "$(uri_for 4444)" \
		>"$TMP/b.out" 2>"$TMP/b.err" </dev/null &
	local bpid=$!
	wait_for "$TMP/b.err" "waiting for a migration"
	wait_listening 4444
	"$VMM" ctl "$TMP/a" migrate uri="$(uri_for 4444)" downtime_ms=50 >/dev/null
	# Give up as QEMU's side does: after 300 s.
	for _ in $(seq 3000); do kill -0 $apid 2>/dev/null || break; sleep 0.1; done
	if kill -0 $apid 2>/dev/null; then
		"$VMM" ctl "$TMP/a" migrate-cancel >/dev/null 2>&1 || true
		echo "300000 - 0 0 timeout"
	else
		line=$(grep "migration: completed" "$TMP/a.err" || true)
		if [ -n "$line" ]; then
			sed -n 's/.*completed in \([0-9]*\) ms, \([0-9]*\) rounds, \([0-9]*\) bytes, downtime \([0-9.]*\) ms.*/\1 \4 \3 \2 completed/p' <<<"$line"
		else
			echo "- - 0 0 failed"
			tail -n 3 "$TMP/a.err" "$TMP/b.err" >&2
		fi
	fi
	"$VMM" ctl "$TMP/b" quit >/dev/null 2>&1 || true
	"$VMM" ctl "$TMP/a" quit >/dev/null 2>&1 || true
	wait $apid $bpid 2>/dev/null || true
	cp "$TMP/a.out" "$TMP/ours-$load.out"
	cp "$TMP/a.err" "$TMP/ours-$load.err"
}

# late LOAD VMM: the dirtying guest's last count on the source of the periods that ended late,
# the pages it is behind and the pages it dropped (it could not keep its rate: write-protection
# faults, a throttled vCPU), "-" if none printed.
late() {
	local l
	l=$(grep -o '[0-9]* periods, [0-9]* late.*' "$TMP/$2-$1.out" 2>/dev/null | tail -1)
	echo "${l:--}"
}

qemu() { # LOAD -> "total_ms downtime_ms bytes rounds status"
	local load=$1 args
	args=(-accel kvm -M microvm -m "${MEM}M" -nodefaults -no-user-config -display none -kernel "$GUEST_ELF"
		-append "$(cmdline_for "$load")")
	rm -f "$TMP/qa" "$TMP/qb" "$TMP/qmig.sock"
	"${SRC[@]}" "$QEMU" "${args[@]}" -serial "file:$TMP/q.out" -qmp "unix:$TMP/qa,server,nowait" </dev/null &
	local apid=$!
	wait_for "$TMP/q.out" "$(ready_text "$load")"
	"${DST[@]}" "$QEMU" "${args[@]}" -serial null -qmp "unix:$TMP/qb,server,nowait" -incoming "$(uri_for 4445 q)" </dev/null &
	local bpid=$!
	wait_listening 4445 q
	$QMP "$TMP/qa" live "$(uri_for 4445 q)" 50 "$([[ $load == dirty?* ]] && echo 60 || echo 300)" "$TMP/qb"
	kill -TERM $apid $bpid 2>/dev/null || true
	wait $apid $bpid 2>/dev/null || true
	mv "$TMP/q.out" "$TMP/qemu-$load.out"
}

link_rate() { # MB/s over the link (loopback for unix), iperf3 for 3 s
	local to=127.0.0.1
	command -v iperf3 >/dev/null || { echo "-"; return; }
	[ "$LINKSPEC" = unix ] || to=10.79.0.2
	"${DST[@]}" iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
	sleep 0.5
	"${SRC[@]}" iperf3 -c $to -p 5299 -t 3 -J 2>/dev/null |
		python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e6))' ||
		echo "-"
	wait || true
}

echo "live migration, test guest of $MEM MiB, 1 vCPU, link $LINKSPEC, minivmm vs QEMU $("$QEMU" --version | head -1 | awk '{print $4}') microvm${KVMBOX_INSIDE:+ (in the nested-KVM box)}"
LINK=$(link_rate)
TSC_MHZ=$("$PROBE" tsc)
echo "link (iperf3, $([ "$LINKSPEC" = unix ] && echo "loopback tcp" || echo "tcp over the veth")): $LINK MB/s; TSC $TSC_MHZ MHz"
if [ "$LINK" = - ] && [[ " $LOADS " == *" dirty"[0-9]* ]]; then
	echo "the dirtyPCT loads need the link's rate: install iperf3 (make deps)" >&2
	exit 1
fi
for load in $LOADS; do
	case $load in
	dirty?*) echo "$load: $(dirty_rate "${load#dirty}") pages per 10 M cycles = $(awk -v l="$LINK" -v p="${load#dirty}" 'BEGIN{printf "%.0f", l*p/100}') MB/s asked" ;;
	esac
done
printf '%-7s | %9s %8s %9s %6s %-9s | %9s %8s %9s %6s %-9s | %7s\n' load "ours ms" "down ms" "MB" rounds status \
	"QEMU ms" "down ms" "MB" rounds status "time x"
for load in $LOADS; do
	read -r ot od ob or os < <(ours "$load")
	read -r qt qd qb qr qs qown < <(qemu "$load")
	printf '%-7s | %9s %8s %9s %6s %-9s | %9s %8s %9s %6s %-9s | %7s\n' "$load" "$ot" "$od" \
		"$(awk -v b="$ob" 'BEGIN{printf "%.1f", b/1e6}')" "$or" "$os" "$qt" "$qd" \
		"$(awk -v b="$qb" 'BEGIN{printf "%.1f", b/1e6}')" "$qr" "$qs" \
		"$(awk -v a="$qt" -v b="$ot" -v q="$qs" -v o="$os" 'BEGIN{
			if (o != "completed" || !(b > 0 && a > 0)) print "-"
			else if (q != "completed") printf ">%.2f", a/b   # QEMU gave up: a lower bound
			else printf "%.2f", a/b }')"
	[ "$qs" != completed ] || echo "        QEMU's own downtime figure (until its source handed the last bytes to the socket): $qown ms"
	[[ $load != dirty?* ]] || echo "        the guest on the source: ours $(late "$load" ours); QEMU's $(late "$load" qemu)"
	# where our downtime went: recording the state, sending the last pages and the state, the
	# confirmation
	sed -n 's/.*downtime [0-9.]* ms (\(.*\)), vCPU throttle up to \([0-9]*%\).*/        ours: \1; throttle up to \2/p' \
		"$TMP/ours-$load.err"
done
echo "time x: QEMU's total time / ours (above 1: ours is faster; >N: QEMU did not converge before it was given up on)"

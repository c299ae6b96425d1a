#!/usr/bin/env bash
# A fuzzing campaign with figures: each TARGET runs until it has made EXECS executions
# (default 10 million) from a corpus kept in build/fuzz-campaign/TARGET/ (seeded from
# tests/fuzz/corpus/, grown by the run, kept for the next one), with the smoke test's options
# (ASan/UBSan build, hang watchdog). Then the corpus is replayed through a build with line
# coverage (build/fuzzcov/, clang's -fprofile-instr-generate) and llvm-cov reports the lines
# covered in the files the target exists for. Prints one row per target for the fuzz table of
# docs/testing.md; a crash's input is kept in build/fuzz-campaign/TARGET-artifacts/.
#   tests/fuzz/campaign.sh [-n EXECS] [-t SECONDS] [-i INSTANCE] TARGET...     (make fuzz first)
# -i runs another fuzzer on a target's corpus and ledger beside one already running (one core
# each): its log and coverage files are named TARGET.INSTANCE.*.
# Exit status 1 if any target crashed, leaked or hung.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
EXECS=10000000
SECS=0
INST=
while [ $# -gt 0 ]; do
	case $1 in
	-n) EXECS=$2; shift 2 ;;
	-t) SECS=$2; shift 2 ;;
	-i) INST=.$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: tests/fuzz/campaign.sh [-n EXECS] [-t SECONDS] [-i INSTANCE] TARGET..." >&2; exit 2; }
OUT=$ROOT/build/fuzz-campaign
mkdir -p "$OUT"

# The files each target is there to test (line coverage is reported for these).
files_of() {
	case $1 in
	fuzz_loader) echo arch/x86/bzimage.c arch/x86/pvh.c ;;
	fuzz_cli) echo vmm/cli.c vmm/parse.c ;;
	fuzz_ports) echo devices/uart.c devices/platform.c devices/acpi_pm.c devices/ged.c ;;
	fuzz_api_request) echo vmm/api_proto.c ;;
	fuzz_snapshot) echo migrate/stream.c migrate/restore.c vmm/state.c virtio/transport_state.c ;;
	fuzz_virtqueue) echo virtio/queue.c ;;
	fuzz_qcow2) echo block/qcow2*.c ;;
	fuzz_blk_*) echo virtio/blk.c virtio/mmio.c virtio/queue.c block/disk.c block/raw.c block/engine.c block/qcow2_disk.c ;;
	fuzz_virtio_net) echo virtio/net.c virtio/mmio.c virtio/queue.c ;;
	fuzz_virtio_console) echo virtio/console.c virtio/mmio.c virtio/queue.c ;;
	esac
}

# Inputs larger than this buy a target nothing but time (the control socket's lines are at
# most 512 bytes: 1 KiB holds two of them and a split).
max_len_of() {
	case $1 in
	fuzz_api_request) echo 1024 ;;
	esac
}

# ASan's speed for allocation-heavy targets (jansson): a 1 MiB quarantine still catches a use
# of memory freed within the same input, and without allocation stacks in reports a crash's
# input is replayed with the default options for its full report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0:max_malloc_fill_size=0:quarantine_size_mb=1:thread_local_quarantine_size_kb=64}

bad=0
printf '| target | executions (on this corpus, all runs) | time | exec/s | crashes | edges | lines covered (files) |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |\n'
for t in "$@"; do
	bin=build/fuzz/$t
	[ -x "$bin" ] || { echo "campaign: $bin not built (make fuzz)" >&2; bad=1; continue; }
	corpus=$OUT/$t
	art=$OUT/$t-artifacts
	mkdir -p "$corpus" "$art"
	[ -d "tests/fuzz/corpus/$t" ] && cp -n tests/fuzz/corpus/"$t"/* "$corpus/" 2>/dev/null
	opts=(-runs="$EXECS" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
		-artifact_prefix="$art/")
	[ -f "tests/fuzz/$t.dict" ] && opts+=(-dict="tests/fuzz/$t.dict")
	[ -n "$(max_len_of "$t")" ] && opts+=(-max_len="$(max_len_of "$t")")
	t0=$SECONDS
	log=$OUT/$t$INST.log
	"$bin" "${opts[@]}" "$corpus" >"$log" 2>&1 &
	pid=$!
	wait $pid
	rc=$?
	secs=$((SECONDS - t0))
	# This run's disk only: another campaign's fuzzer may be using its own (removing them
	# all once made a parallel fuzz_blk_raw_uring abort on its vanished disk).
	rm -f "/dev/shm/fuzz-virtio-blk-$pid" 2>/dev/null
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	edges=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	# Crashes, leaks, hangs and out-of-memory inputs; slow-unit-* only reports a slow input.
	crashes=$(find "$art" -type f ! -name 'slow-unit-*' | wc -l)
	[ $rc -eq 0 ] && [ "$crashes" = 0 ] || bad=1
	# Line coverage: the corpus through the coverage build.
	cov="?"
	if make -s "build/fuzzcov/$t" >/dev/null 2>"$OUT/$t$INST.cov.err"; then
		rm -f "$OUT/$t$INST".profraw*
		LLVM_PROFILE_FILE="$OUT/$t$INST.profraw" "build/fuzzcov/$t" -runs=0 "$corpus" >/dev/null 2>&1
		# shellcheck disable=SC2046 # a list of files
		if llvm-profdata merge -sparse -o "$OUT/$t$INST.profdata" "$OUT/$t$INST.profraw" 2>>"$OUT/$t$INST.cov.err" &&
			llvm-cov report "build/fuzzcov/$t" -instr-profile="$OUT/$t$INST.profdata" \
				$(files_of "$t") >"$OUT/$t$INST.cov" 2>>"$OUT/$t$INST.cov.err"; then
			# TOTAL row: lines, missed lines, cover (the 8th to 10th columns)
			cov=$(awk '/^TOTAL/ { print $10 " of " $8 " lines" }' "$OUT/$t$INST.cov")
		fi
	fi
	rate=$((${execs:-0} / (secs > 0 ? secs : 1)))
	# Every run on this corpus, for the total (a run goes on from the corpus the last left).
	echo "$(date -u +%FT%TZ) ${execs:-0} $secs $crashes" >>"$OUT/$t.runs"
	total=$(awk '{ n += $2 } END { print n }' "$OUT/$t.runs")
	nruns=$(wc -l <"$OUT/$t.runs")
	printf '| %s | %s (%s in %s runs) | %d s | %s | %s | %s | %s (%s) |\n' "$t" "${execs:-?}" "$total" "$nruns" "$secs" "$rate" \
		"$crashes$([ $rc -eq 0 ] || echo " (status $rc)")" "${edges:-?}" "$cov" "$(files_of "$t" | tr ' ' ',')"
done
exit $bad

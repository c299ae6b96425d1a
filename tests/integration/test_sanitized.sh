# Stop paths through the ASan/UBSan build: every thread joined, everything freed, no reports.

t_asan_stop_paths() {
	[ -x "$VMM_ASAN" ] || skip "$VMM_ASAN not built (make build/minivmm-asan)"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
	export UBSAN_OPTIONS=halt_on_error=1:exitcode=98
	VMM_BIN=$VMM_ASAN vm --kernel "$GUEST" --cmdline "scenario=exit code=9"
	expect_rc 9 && expect_no_err || return 1
	VMM_BIN=$VMM_ASAN vm --kernel "$GUEST" --cpus 2 --cmdline "scenario=idle" --timeout 1
	expect_rc 124 && ! grep -q Sanitizer <<<"$ERR" || return 1
	VMM_BIN=$VMM_ASAN vm --kernel "$GUEST" --cmdline "scenario=reboot"
	expect_rc 0 && ! grep -q Sanitizer <<<"$ERR" || return 1
	printf 'a\nb\n.\n' >"$TMP/in"
	VM_STDIN="$TMP/in" VMM_BIN=$VMM_ASAN vm --kernel "$GUEST" --cmdline "scenario=echo"
	expect_rc 0 && ! grep -q Sanitizer <<<"$ERR" || return 1
	VMM_BIN=$VMM_ASAN vm --kernel /nonexistent
	expect_rc 1 && ! grep -q Sanitizer <<<"$ERR" || return 1
	"$VMM_ASAN" run --kernel "$GUEST" --cmdline scenario=idle >/dev/null 2>"$TMP/err" </dev/null &
	local pid=$!
	sleep 1
	kill -TERM $pid
	wait $pid
	RC=$?
	ERR=$(cat "$TMP/err")
	expect_rc 143 && ! grep -q Sanitizer <<<"$ERR"
}

t_run "ASan/UBSan build: clean stop paths" t_asan_stop_paths

t_asan_virtio() {
	[ -x "$VMM_ASAN" ] || skip "$VMM_ASAN not built"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
	export UBSAN_OPTIONS=halt_on_error=1:exitcode=98
	local engine
	truncate -s 1M "$TMP/asan0.img" "$TMP/asan1.img"
	for engine in io_uring sync; do
		VMM_BIN=$VMM_ASAN vm --kernel "$GUEST" --disk "path=$TMP/asan0.img,engine=$engine" \
			--cmdline "scenario=blk-rw seed=41" --timeout 120
		expect_rc 0 && ! grep -q Sanitizer <<<"$ERR" || return 1
	done
	VMM_BIN=$VMM_ASAN vm --kernel "$GUEST" --disk "path=$TMP/asan0.img" --disk "path=$TMP/asan1.img" \
		--cmdline "scenario=blk-hostile attack=chain-too-long" --timeout 60
	expect_rc 0 && ! grep -q Sanitizer <<<"$ERR" || return 1
	printf 'x\n.\n' >"$TMP/in"
	VM_STDIN="$TMP/in" VMM_BIN=$VMM_ASAN vm --kernel "$GUEST" --console stdio --cmdline scenario=console
	expect_rc 0 && ! grep -q Sanitizer <<<"$ERR"
}

t_run "ASan/UBSan build: virtio-blk, hostile chains, console" t_asan_virtio

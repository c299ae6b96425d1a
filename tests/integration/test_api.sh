# The control socket (issue 14): --api-socket, minivmm ctl, pause/resume, graceful and forced
# shutdown through the ACPI power button, hostile clients. The test guest's `ticker` scenario
# prints "tick N" at a steady pace and answers the GED's power button, so the host can see
# progress stop and resume.

SOCK=$TMP/api.sock
API_HELPER=$ROOT/tests/integration/api_helper.py

# api_vm [ARGS...]: starts minivmm with the control socket in the background (output in
# $TMP/out and $TMP/err); returns once the socket exists.
api_vm() {
	rm -f "$SOCK"
	"${VMM_BIN:-$VMM}" run --api-socket "$SOCK" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null &
	APID=$!
	ASTART=$SECONDS
	for _ in $(seq 1 100); do
		[ -S "$SOCK" ] && return 0
		kill -0 $APID 2>/dev/null || break
		sleep 0.1
	done
	echo "    no socket at $SOCK"
	cat "$TMP/err"
	return 1
}

# api_wait_out TEXT [SECONDS]: until the guest printed TEXT.
api_wait_out() {
	local limit=${2:-30} t0=$SECONDS
	while [ $((SECONDS - t0)) -lt "$limit" ]; do
		grep -qF -- "$1" "$TMP/out" && return 0
		kill -0 $APID 2>/dev/null || break
		sleep 0.1
	done
	grep -qF -- "$1" "$TMP/out" && return 0
	echo "    the guest did not print '$1' within ${limit}s"
	return 1
}

# api_end [SECONDS]: waits for minivmm to end by itself (killed after SECONDS); RC, OUT, ERR.
api_end() {
	local limit=${1:-30} t0=$SECONDS
	while kill -0 $APID 2>/dev/null && [ $((SECONDS - t0)) -lt "$limit" ]; do
		sleep 0.1
	done
	if kill -0 $APID 2>/dev/null; then
		echo "    minivmm still running after ${limit}s"
		kill -KILL $APID
	fi
	wait $APID
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# ctl ARGS...: minivmm ctl on $SOCK; CRC, COUT, CERR.
ctl() {
	timeout -s KILL 60 "$VMM" ctl "$@" >"$TMP/cout" 2>"$TMP/cerr"
	CRC=$?
	COUT=$(cat "$TMP/cout")
	CERR=$(cat "$TMP/cerr")
}
expect_ctl_ok() {
	[ "$CRC" -eq 0 ] && [ -z "$CERR" ] && return 0
	echo "    ctl $*: status $CRC, stderr: $CERR"
	return 1
}
expect_ctl_err() {
	[ "$CRC" -eq 1 ] && grep -qF -- "$1" <<<"$CERR" && [ "$(wc -l <<<"$CERR")" -eq 1 ] && return 0
	echo "    wanted status 1 and one line with '$1'; got $CRC, stderr: $CERR"
	return 1
}
expect_cout() {
	grep -qF -- "$1" <<<"$COUT" && return 0
	echo "    ctl output lacks: $1"
	echo "$COUT" | sed 's/^/    | /'
	return 1
}
ticks() { grep -c '^tick ' "$TMP/out"; }
# api_ticks_still SECONDS: the guest printed no tick in SECONDS (it is paused).
api_ticks_still() {
	local n1 n2
	n1=$(ticks)
	sleep "$1"
	n2=$(ticks)
	[ "$n1" -eq "$n2" ] && return 0
	echo "    the guest ticked while paused ($n1 -> $n2 in $1 s)"
	return 1
}
# Until the background `ctl events` has its reply (it subscribed), so no event is missed.
api_wait_events_reply() {
	for _ in $(seq 1 200); do
		[ -s "$TMP/events" ] && return 0
		sleep 0.1
	done
	echo "    ctl events did not subscribe within 20 s: $(cat "$TMP/events.err")"
	return 1
}
api_cleanup() { kill -KILL $APID 2>/dev/null; wait $APID 2>/dev/null; }

TICKER="scenario=ticker period=${API_TICK_MCYCLES:-100}"

t_api_status_and_quit() {
	head -c 1M /dev/zero >"$TMP/disk.img"
	api_vm --kernel "$GUEST" --cpus 2 --memory 64M --disk "path=$TMP/disk.img,readonly=on,id=d0" \
		--cmdline "$TICKER" || return 1
	api_wait_out "tick 1" || { api_cleanup; return 1; }
	ctl "$SOCK" status
	expect_ctl_ok && expect_cout "state: running" && expect_cout "vcpus: 2" &&
		expect_cout "memory_bytes: 64 MiB" && expect_cout "uptime_s: " &&
		expect_cout "uart@3f8" && expect_cout "backend=stdio" &&
		expect_cout "path=$TMP/disk.img" && expect_cout "readonly=1" && expect_cout "format=raw" &&
		expect_cout "acpi-ged" || { api_cleanup; return 1; }
	ctl --json "$SOCK" status
	expect_ctl_ok && python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); assert r["ok"] is True and r["state"] == "running" and r["vcpus"] == 2 and r["memory_bytes"] == 64 << 20 and any(d.get("device") == "virtio-blk" and d["readonly"] == 1 and d["size"] == 1 << 20 for d in r["devices"]), r' <<<"$COUT" ||
		{ echo "    --json status: $COUT"; api_cleanup; return 1; }
	# The socket is the owner's alone.
	[ "$(stat -c %a "$SOCK")" = 600 ] || { echo "    socket mode $(stat -c %a "$SOCK")"; api_cleanup; return 1; }
	ctl "$SOCK" quit
	expect_ctl_ok && expect_cout "state: stopping" || { api_cleanup; return 1; }
	api_end
	expect_rc 0 && expect_err "stopped by 'quit' on the control socket" || return 1
	[ ! -e "$SOCK" ] || { echo "    the socket outlived minivmm"; return 1; }
}

t_api_pause_resume() {
	local n1 n2 n3
	api_vm --kernel "$GUEST" --memory 64M --cmdline "$TICKER" || return 1
	api_wait_out "tick 3" || { api_cleanup; return 1; }
	ctl "$SOCK" pause
	expect_ctl_ok && expect_cout "state: paused" || { api_cleanup; return 1; }
	ctl "$SOCK" pause # idempotent
	expect_ctl_ok && expect_cout "state: paused" || { api_cleanup; return 1; }
	n1=$(ticks)
	api_ticks_still 2 || { api_cleanup; return 1; }
	n2=$(ticks)
	ctl "$SOCK" status
	expect_cout "state: paused" || { api_cleanup; return 1; }
	ctl "$SOCK" resume
	expect_ctl_ok && expect_cout "state: running" || { api_cleanup; return 1; }
	ctl "$SOCK" resume # idempotent
	expect_ctl_ok || { api_cleanup; return 1; }
	api_wait_out "tick $((n2 + 3))" || { api_cleanup; return 1; }
	n3=$(ticks)
	echo "    note: $n1 ticks before the pause, $n2 after 2 s paused, $n3 after resuming"
	# Counting carried on from where it stopped: no tick lost or repeated. The guest is still
	# writing: its last line may be half there ("tick 9" of "tick 92"), so it is left out.
	[ "$(sed '$d' "$TMP/out" | grep '^tick ' | awk '{print $2}' | awk 'NR != $1 {bad=1} END {print bad+0}')" = 0 ] ||
		{ echo "    tick numbers not consecutive"; api_cleanup; return 1; }
	# Several cycles in a row, quickly.
	for _ in 1 2 3 4 5; do
		ctl "$SOCK" pause && ctl "$SOCK" resume
		expect_ctl_ok || { api_cleanup; return 1; }
	done
	n3=$(ticks)
	api_wait_out "tick $((n3 + 2))" || { api_cleanup; return 1; }
	ctl "$SOCK" quit
	api_end
	expect_rc 0
}

t_api_pause_smp() {
	# Application processors sit in wait-for-SIPI inside KVM_RUN; they must park too.
	api_vm --kernel "$GUEST" --cpus 4 --memory 64M --cmdline "$TICKER" || return 1
	api_wait_out "tick 2" || { api_cleanup; return 1; }
	ctl "$SOCK" pause
	expect_ctl_ok || { api_cleanup; return 1; }
	ctl "$SOCK" resume
	expect_ctl_ok || { api_cleanup; return 1; }
	api_wait_out "tick 4" || { api_cleanup; return 1; }
	# Quit while paused: the parked vCPUs must wake up and end.
	ctl "$SOCK" pause
	ctl "$SOCK" quit
	expect_ctl_ok || { api_cleanup; return 1; }
	api_end 10
	expect_rc 0
}

t_api_shutdown_graceful() {
	local epid erc
	api_vm --kernel "$GUEST" --memory 64M --cmdline "$TICKER" || return 1
	api_wait_out "tick 1" || { api_cleanup; return 1; }
	timeout -s KILL 120 "$VMM" ctl --json "$SOCK" events >"$TMP/events" 2>"$TMP/events.err" &
	epid=$!
	api_wait_events_reply || { api_cleanup; return 1; }
	ctl "$SOCK" shutdown
	expect_ctl_ok && expect_cout "timeout_s: 30 s" || { api_cleanup; return 1; }
	api_end 60
	wait $epid
	erc=$?
	expect_rc 0 && expect_out "ticker: power button pressed, powering off (S5)" && expect_no_err || return 1
	[ $erc -eq 0 ] || { echo "    ctl events: status $erc: $(cat "$TMP/events.err")"; return 1; }
	python3 - "$TMP/events" <<'PY' || return 1
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
names = [e.get("event") for e in ev if "event" in e]
stopped = [e for e in ev if e.get("event") == "stopped"]
ok = names == ["shutting-down", "stopped"] and ev[0].get("ok") is True and \
	stopped[0]["exit_reason"] == "poweroff" and stopped[0]["exit_status"] == 0
if not ok:
    print("    events:", *ev, sep="\n    | ")
sys.exit(0 if ok else 1)
PY
}

t_api_shutdown_forced() {
	local t0 took
	api_vm --kernel "$GUEST" --memory 64M --cmdline "$TICKER button=ignore" || return 1
	api_wait_out "tick 1" || { api_cleanup; return 1; }
	t0=$SECONDS
	# Long enough for the three ctl calls below in a loaded nested-KVM box (each one is a
	# process start there: a second or more; 12 s was not enough beside a fuzzer).
	ctl "$SOCK" shutdown timeout_s=20
	expect_ctl_ok && expect_cout "state: shutting-down" || { api_cleanup; return 1; }
	ctl "$SOCK" status
	expect_cout "state: shutting-down" && expect_cout "shutdown_timeout_s: 20 s" || { api_cleanup; return 1; }
	# Nothing can pause a VM that is shutting down; a second shutdown presses again and keeps
	# the first deadline.
	ctl "$SOCK" pause
	expect_ctl_err "pause: the VM is shutting down" || { api_cleanup; return 1; }
	ctl "$SOCK" shutdown timeout_s=100
	expect_ctl_ok || { api_cleanup; return 1; }
	[ $((SECONDS - t0)) -lt 20 ] || { echo "    note: the ctl calls took $((SECONDS - t0)) s: the test proves less"; }
	api_end 60
	took=$((SECONDS - t0))
	expect_rc 125 && expect_out "ticker: power button pressed, ignoring it" &&
		expect_err "shutdown: the guest did not power off within 20 s of the power button; stopped it" ||
		return 1
	[ "$(grep -c "power button pressed, ignoring it" <<<"$OUT")" -ge 2 ] ||
		{ echo "    the second shutdown did not press the button again"; return 1; }
	[ $took -ge 20 ] && [ $took -lt 40 ] || { echo "    forced after $took s, wanted 20"; return 1; }
	[ ! -e "$SOCK" ] || { echo "    the socket outlived minivmm"; return 1; }
}

t_api_shutdown_refused() {
	api_vm --kernel "$GUEST" --memory 64M --cmdline "$TICKER" || return 1
	api_wait_out "tick 1" || { api_cleanup; return 1; }
	ctl "$SOCK" pause
	ctl "$SOCK" shutdown
	expect_ctl_err "shutdown: the VM is paused, so the guest cannot react: resume it first, or use quit" ||
		{ api_cleanup; return 1; }
	ctl "$SOCK" shutdown timeout_s=0
	expect_ctl_err "from 1 to 86400" || { api_cleanup; return 1; }
	ctl "$SOCK" quit
	api_end
	expect_rc 0 || return 1
	# Without ACPI there is no power button to press.
	api_vm --kernel "$GUEST" --acpi off --cmdline "scenario=idle" || return 1
	ctl "$SOCK" shutdown
	expect_ctl_err "no ACPI power button (--acpi off): use quit" || { api_cleanup; return 1; }
	ctl "$SOCK" status
	grep -qF "acpi-ged" <<<"$COUT" && { echo "    a GED without ACPI"; api_cleanup; return 1; }
	ctl "$SOCK" quit
	api_end
	expect_rc 0
}

t_api_events() {
	local epid
	api_vm --kernel "$GUEST" --memory 64M --cmdline "$TICKER" || return 1
	api_wait_out "tick 1" || { api_cleanup; return 1; }
	timeout -s KILL 60 "$VMM" ctl "$SOCK" events >"$TMP/events" 2>"$TMP/events.err" &
	epid=$!
	api_wait_events_reply || { api_cleanup; return 1; }
	ctl "$SOCK" pause && ctl "$SOCK" resume && ctl "$SOCK" quit
	api_end
	wait $epid
	local erc=$?
	[ $erc -eq 0 ] || { echo "    ctl events: status $erc: $(cat "$TMP/events.err")"; return 1; }
	grep -q "^event paused" "$TMP/events" && grep -q "^event resumed" "$TMP/events" &&
		grep -q "^event stopped" "$TMP/events" && grep -q "exit_reason: quit" "$TMP/events" ||
		{ echo "    events:"; sed 's/^/    | /' "$TMP/events"; return 1; }
	# In order.
	[ "$(grep '^event' "$TMP/events" | awk '{print $2}' | tr '\n' ' ')" = "paused resumed stopped " ] ||
		{ echo "    order:"; sed 's/^/    | /' "$TMP/events"; return 1; }
}

t_api_bad_input() {
	local case
	api_vm --kernel "$GUEST" --memory 64M --cmdline "$TICKER" || return 1
	api_wait_out "tick 1" || { api_cleanup; return 1; }
	for case in bad-input two-clients many-clients flood; do
		timeout -s KILL 180 python3 "$API_HELPER" "$SOCK" $case >"$TMP/helper" 2>&1 ||
			{ echo "    case $case: status $?"; sed 's/^/    | /' "$TMP/helper"; api_cleanup; return 1; }
		grep -q "^FAIL" "$TMP/helper" && { cat "$TMP/helper"; api_cleanup; return 1; }
		echo "    note: $case: $(grep -c '^ok:' "$TMP/helper") checks passed"
	done
	# The guest kept running through all of it.
	local n=$(ticks)
	api_wait_out "tick $((n + 2))" || { api_cleanup; return 1; }
	timeout -s KILL 120 python3 "$API_HELPER" "$SOCK" quit-reply >"$TMP/helper" 2>&1 ||
		{ echo "    quit-reply: status $?"; sed 's/^/    | /' "$TMP/helper"; api_cleanup; return 1; }
	api_end
	expect_rc 0
}

t_api_ctl_statuses() {
	ctl "$TMP/nothing-here.sock" status
	expect_ctl_err "no such socket (is minivmm running with --api-socket" || return 1
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$TMP/stale.sock"
	ctl "$TMP/stale.sock" status
	expect_ctl_err "connection refused" || return 1
	ctl
	[ "$CRC" -eq 1 ] && grep -q "^usage: minivmm ctl" <<<"$CERR" || { echo "    ctl without arguments"; return 1; }
	ctl --help
	[ "$CRC" -eq 0 ] && grep -q "^usage: minivmm ctl" <<<"$COUT" || { echo "    ctl --help"; return 1; }
	ctl --bogus "$SOCK" status
	expect_ctl_err "unknown flag '--bogus'" || return 1

	api_vm --kernel "$GUEST" --memory 64M --cmdline "$TICKER" || return 1
	api_wait_out "tick 1" || { api_cleanup; return 1; }
	ctl "$SOCK" frobnicate
	expect_ctl_err "unknown command \"frobnicate\"" || { api_cleanup; return 1; }
	ctl "$SOCK" pause now=yes
	expect_ctl_err "pause: unknown field \"now\"" || { api_cleanup; return 1; }
	ctl "$SOCK" shutdown timeout_s=soon
	expect_ctl_err "timeout_s=soon: expected whole seconds" || { api_cleanup; return 1; }
	ctl "$SOCK" snapshot
	expect_ctl_err "snapshot: \"path\" (the file to write) is required" || { api_cleanup; return 1; }
	ctl "$SOCK" snapshot path=x stop=maybe
	expect_ctl_err "stop=maybe: expected true or false" || { api_cleanup; return 1; }
	ctl "$SOCK" status notakeyvalue
	expect_ctl_err "'notakeyvalue': expected key=value" || { api_cleanup; return 1; }
	ctl --json "$SOCK" frobnicate
	[ "$CRC" -eq 1 ] && grep -q '"ok":false' <<<"$COUT" || { echo "    --json error reply: $COUT"; api_cleanup; return 1; }
	ctl "$SOCK" quit
	api_end
	expect_rc 0 || return 1
	# After the VM: the socket is gone.
	ctl "$SOCK" status
	expect_ctl_err "no such socket" || return 1
}

t_api_snapshot() {
	local n1
	api_vm --kernel "$GUEST" --memory 64M --cmdline "$TICKER" || return 1
	api_wait_out "tick 2" || { api_cleanup; return 1; }
	# While running: the file is written and the guest runs on.
	ctl "$SOCK" snapshot path="$TMP/run.snap"
	expect_ctl_ok && expect_cout "state: running" || { api_cleanup; return 1; }
	[ -s "$TMP/run.snap" ] || { echo "    no file at $TMP/run.snap"; api_cleanup; return 1; }
	n1=$(ticks)
	api_wait_out "tick $((n1 + 2))" || { api_cleanup; return 1; }
	# While paused: it stays paused.
	ctl "$SOCK" pause
	ctl "$SOCK" snapshot path="$TMP/paused.snap"
	expect_ctl_ok && expect_cout "state: paused" || { api_cleanup; return 1; }
	api_ticks_still 1 || { api_cleanup; return 1; }
	ctl "$SOCK" resume
	expect_ctl_ok || { api_cleanup; return 1; }
	# A file it cannot write: an error naming it; the VM is running again.
	ctl "$SOCK" snapshot path="$TMP/no/such/dir/x.snap"
	expect_ctl_err "snapshot: " && expect_ctl_err "$TMP/no/such/dir" || { api_cleanup; return 1; }
	ctl "$SOCK" status
	expect_cout "state: running" || { api_cleanup; return 1; }
	n1=$(ticks)
	api_wait_out "tick $((n1 + 1))" || { api_cleanup; return 1; }
	# stop=true: the VM ends with status 0 once the file is written, and removes its socket.
	ctl "$SOCK" snapshot path="$TMP/stop.snap" stop=true
	expect_ctl_ok || { api_cleanup; return 1; }
	api_end
	expect_rc 0 && expect_err "snapshot written to $TMP/stop.snap; VM stopped" || return 1
	[ ! -e "$SOCK" ] || { echo "    the socket outlived minivmm"; return 1; }
	cp "$TMP/out" "$TMP/out.before"
	n1=$(ticks)
	# Restored, the guest counts on from where it was saved: no tick lost or repeated (a line
	# cut by the snapshot is finished by the restored guest).
	api_vm --restore "$TMP/stop.snap" --memory 64M || return 1
	for _ in $(seq 1 300); do
		cat "$TMP/out.before" "$TMP/out" | grep -qx "tick $((n1 + 2))" && break
		kill -0 $APID 2>/dev/null || break
		sleep 0.1
	done
	ctl "$SOCK" quit
	api_end
	expect_rc 0 || return 1
	cat "$TMP/out.before" "$TMP/out" | grep '^tick ' | awk '{print $2}' >"$TMP/seq"
	[ "$(tail -1 "$TMP/seq")" -ge $((n1 + 2)) ] &&
		awk 'NR != $1 {bad=1} END {exit bad}' "$TMP/seq" ||
		{ echo "    ticks across the restore:"; tail -5 "$TMP/out.before" "$TMP/out" | sed 's/^/    | /'; return 1; }
	echo "    note: saved at tick $n1, the restored guest went on to tick $(tail -1 "$TMP/seq")"
}

t_api_socket_path() {
	local first
	api_vm --kernel "$GUEST" --memory 64M --cmdline "$TICKER" || return 1
	first=$APID
	# A live socket is refused.
	vm --kernel "$GUEST" --api-socket "$SOCK" --cmdline "scenario=exit code=3"
	expect_rc 1 && expect_err "--api-socket $SOCK: a process is listening on it" || { api_cleanup; return 1; }
	[ "$(wc -l <<<"$ERR")" -eq 1 ] || { echo "    more than one line"; api_cleanup; return 1; }
	# A stale one (its minivmm was killed) is replaced.
	kill -KILL $first
	wait $first 2>/dev/null
	[ -S "$SOCK" ] || { echo "    SIGKILL left no socket behind? (test assumption)"; return 1; }
	api_vm --kernel "$GUEST" --memory 64M --cmdline "$TICKER" || return 1
	ctl "$SOCK" status
	expect_ctl_ok || { api_cleanup; return 1; }
	ctl "$SOCK" quit
	api_end
	expect_rc 0 || return 1
	# Not a socket: refused, left alone.
	echo keep >"$TMP/plain"
	vm --kernel "$GUEST" --api-socket "$TMP/plain" --cmdline "scenario=exit code=3"
	expect_rc 1 && expect_err "--api-socket $TMP/plain: exists and is not a socket" || return 1
	[ "$(cat "$TMP/plain")" = keep ] || { echo "    the file was touched"; return 1; }
	bad_case "--api-socket: '' : a socket path" --kernel "$GUEST" --api-socket "" 2>/dev/null ||
		bad_case "--api-socket" --kernel "$GUEST" --api-socket ""
}

t_api_sanitized() {
	[ -x "$VMM_ASAN" ] || skip "no ASan build at $VMM_ASAN (make build/minivmm-asan)"
	"$VMM_ASAN" --version >/dev/null 2>&1 ||
		skip "the ASan build does not start ($VMM_ASAN --version: status $?)"
	VMM_BIN=$VMM_ASAN api_vm --kernel "$GUEST" --cpus 2 --memory 64M --cmdline "$TICKER" || return 1
	api_wait_out "tick 1" 60 || { api_cleanup; return 1; }
	for case in bad-input two-clients many-clients; do
		timeout -s KILL 180 python3 "$API_HELPER" "$SOCK" $case >"$TMP/helper" 2>&1 ||
			{ echo "    case $case:"; sed 's/^/    | /' "$TMP/helper"; api_cleanup; return 1; }
	done
	ctl "$SOCK" pause && ctl "$SOCK" resume && ctl "$SOCK" shutdown timeout_s=30
	expect_ctl_ok || { api_cleanup; return 1; }
	api_end 60
	expect_rc 0 || return 1
	grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$ERR" && { echo "$ERR" | head -30; return 1; }
	return 0
}

t_run "api: status (devices, backends), --json, socket 0600, quit, socket removed" t_api_status_and_quit
t_run "api: pause stops the guest, resume continues it, both idempotent" t_api_pause_resume
t_run "api: pause/resume with 4 vCPUs, quit while paused" t_api_pause_smp
t_run "api: shutdown presses the ACPI power button, the guest powers off (status 0)" t_api_shutdown_graceful
t_run "api: shutdown forced after timeout_s when the guest ignores the button (status 125)" t_api_shutdown_forced
t_run "api: shutdown refused while paused and without ACPI" t_api_shutdown_refused
t_run "api: events (ctl events sees paused, resumed, stopped)" t_api_events
t_run "api: hostile clients (bad JSON, long lines, partial requests, 24 clients, flood), two clients at once" t_api_bad_input
t_run "api: ctl exit statuses and messages" t_api_ctl_statuses
t_run "api: snapshot path= while running, while paused, to a bad path, stop=true; restore counts on" t_api_snapshot
t_run "api: a live socket path is refused, a stale one replaced, a file left alone" t_api_socket_path
t_run "api: the same through the ASan/UBSan build" t_api_sanitized

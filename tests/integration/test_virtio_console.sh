# virtio-console (issue 4): port 0 on stdio or a file, input from stdin with backpressure.

t_console_echo() {
	printf 'first line\nsecond\n.\n' |
		timeout -s KILL 60 "$VMM" run --kernel "$GUEST" --console stdio --serial off \
			--cmdline scenario=console >"$TMP/out" 2>"$TMP/err"
	RC=${PIPESTATUS[1]}
	OUT=$(cat "$TMP/out")
	expect_rc 0 && expect_out "virtio-console: hello" && expect_out "virtio-console: first line" &&
		expect_out "virtio-console: second" && expect_out "virtio-console: done"
}
t_console_backpressure() {
	# 300 lines at once through 8 receive buffers of 64 bytes: the rest must wait, not drop.
	for i in $(seq 1 300); do printf 'line %03d of the console test\n' $i; done >"$TMP/in"
	echo . >>"$TMP/in"
	VM_STDIN="$TMP/in" vm --kernel "$GUEST" --console virtio --cmdline scenario=console --timeout 120
	expect_rc 0 || return 1
	[ "$(grep -c '^virtio-console: line [0-9]* of the console test$' <<<"$OUT")" -eq 300 ] ||
		{ echo "    lines lost"; return 1; }
}
t_console_file_and_serial() {
	printf '.\n' >"$TMP/in"
	# Console output to a file, COM1 on stdout; stdin still goes to the console (file mode
	# has no input), so the guest ends by its own timeout rule: use the exit scenario instead.
	vm --kernel "$GUEST" --console "file=$TMP/con.log" --cmdline "scenario=hello"
	expect_rc 0 && expect_out "Hello from the minivmm test guest" || return 1
	[ -f "$TMP/con.log" ] || { echo "    console file missing"; return 1; }
	VM_STDIN="$TMP/in" vm --kernel "$GUEST" --console stdio --cmdline scenario=console
	expect_rc 0 && expect_out "virtio-console: done"
}
t_console_bad_flag() {
	vm --kernel "$GUEST" --console tcp:1234
	expect_rc 1 && expect_err "--console: 'tcp:1234'" || return 1
	vm --kernel "$GUEST" --console file=/nonexistent/dir/c.log
	expect_rc 1 && expect_err "--console file=/nonexistent/dir/c.log: No such file"
}

# Issue 13, finding 8: a guest keeps the transmit ring full for ever (recycling each chain as
# it comes back) while a slow reader drains the console; --timeout 3 must still stop it. Before
# the batch limit the I/O thread never left the transmit handler (killed after 60 s: 137).
t_console_flood_timeout() {
	local t0=$SECONDS
	timeout -s KILL 60 "$VMM" run --kernel "$GUEST" --console stdio --serial off \
		--cmdline scenario=console-flood --timeout 3 2>"$TMP/err" </dev/null |
		python3 -c 'import sys, time
while sys.stdin.buffer.read1(65536):
    time.sleep(0.005)'
	RC=${PIPESTATUS[0]}
	ERR=$(cat "$TMP/err")
	expect_rc 124 || return 1
	echo "    note: stopped after $((SECONDS - t0)) s"
}

# Issue 16: the console's reader stops (a pipe of one page nobody reads). The guest queues 1 MiB
# of console output, then writes and reads back its whole disk: the disk must be served while
# the output waits, the output must wait in the guest's ring (backpressure), not in the VMM's
# memory (its own resident memory, guest RAM aside, within 512 KiB of a run with the console on
# a file), and what reached the pipe must be the guest's bytes in order. Before, the I/O thread
# blocked in write() and the disk never answered (the helper killed the VMM after 60 s).
STALL=$ROOT/tests/integration/stall_helper.py
t_console_stalled_reader() {
	local line base peak hwm
	truncate -s 4M "$TMP/st.img"
	# The same run with the console on a file: the memory the VMM needs anyway.
	line=$(python3 "$STALL" "$TMP/stalled" 60 -- "$VMM" run --kernel "$GUEST" --console "file=$TMP/con.log" \
		--serial "file=$TMP/serial.log" --disk "path=$TMP/st.img" --cmdline scenario=console-stall 2>"$TMP/err")
	echo "    baseline: $line"
	base=$(sed -n 's/.*vmm_rss_kib=\([0-9]*\).*/\1/p' <<<"$line")
	grep -q "256 of 256 console chains" "$TMP/serial.log" || { echo "    baseline:"; cat "$TMP/serial.log"; return 1; }
	line=$(python3 "$STALL" "$TMP/stalled" 60 -- "$VMM" run --kernel "$GUEST" --console stdio \
		--serial "file=$TMP/serial.log" --disk "path=$TMP/st.img" --cmdline scenario=console-stall 2>"$TMP/err")
	echo "    stalled: $line"
	[[ $line == status=0\ * ]] || { cat "$TMP/serial.log" "$TMP/err"; return 1; }
	grep -q "console-stall: disk wrote and verified 8192 sectors" "$TMP/serial.log" || { cat "$TMP/serial.log"; return 1; }
	# Most chains still waited in the ring when the disk was done: the output really stalled.
	grep -qE "console-stall: .*; ([0-9]|1[0-9]) of 256 console chains written meanwhile" "$TMP/serial.log" ||
		{ echo "    the reader did not stall:"; grep console-stall "$TMP/serial.log"; return 1; }
	[ -s "$TMP/stalled" ] && [ -z "$(tr -d 'x\n' <"$TMP/stalled")" ] || { echo "    the pipe holds other bytes"; return 1; }
	peak=$(sed -n 's/.*vmm_rss_kib=\([0-9]*\).*/\1/p' <<<"$line")
	hwm=$(sed -n 's/.*peak_rss_kib=\([0-9]*\).*/\1/p' <<<"$line")
	# Bound: the 1 MiB the guest queued is not copied into the VMM (half of it would show).
	[ "$peak" -le $((base + 512)) ] || { echo "    VMM's own peak RSS $peak KiB, baseline $base KiB"; return 1; }
	echo "    note: stalled console reader: disk served, 1 MiB of output waited in the guest's ring; the VMM's own peak RSS (guest RAM aside) $peak KiB vs $base KiB with the console on a file; $hwm KiB in all"
}
# COM1 has no ring to hold output in: a stalled reader costs the vCPU one wait of 100 ms, then
# output is dropped and counted until the reader reads again (devices/uart.c says why).
t_serial_stalled_reader() {
	local line
	line=$(python3 "$STALL" "$TMP/stalled" 60 -- "$VMM" run --kernel "$GUEST" \
		--cmdline "scenario=serial-flood lines=400" 2>"$TMP/err")
	echo "    $line"
	ERR=$(cat "$TMP/err")
	[[ $line == status=0\ * ]] || { echo "    $ERR"; return 1; }
	expect_err "serial: " && expect_err "bytes of guest output dropped: the output's reader did not keep up" || return 1
	grep -q "serial-flood      0 " "$TMP/stalled" || { echo "    the pipe lacks the first lines"; head -c 300 "$TMP/stalled"; return 1; }
	echo "    note: stalled serial reader: $(sed -n 's/.*seconds=//p' <<<"$line") s for 400 lines; $(grep -o 'serial: [0-9]* bytes' <<<"$ERR") dropped"
}

t_run "virtio-console: hello and echo over a pipe" t_console_echo
t_run "virtio-console: backpressure, 300 lines" t_console_backpressure
t_run "virtio-console: file output, with COM1 on stdout" t_console_file_and_serial
t_run "virtio-console: a flooding guest still stops on --timeout (issue 13 #8)" t_console_flood_timeout
t_run "virtio-console: a stalled reader holds the guest's ring, the disk is still served, RSS bounded" t_console_stalled_reader
t_run "COM1: a stalled reader costs one bounded wait, then output is dropped and counted" t_serial_stalled_reader
t_run "--console bad input" t_console_bad_flag

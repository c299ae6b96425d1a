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

t_run "virtio-console: hello and echo over a pipe" t_console_echo
t_run "virtio-console: backpressure, 300 lines" t_console_backpressure
t_run "virtio-console: file output, with COM1 on stdout" t_console_file_and_serial
t_run "virtio-console: a flooding guest still stops on --timeout (issue 13 #8)" t_console_flood_timeout
t_run "--console bad input" t_console_bad_flag

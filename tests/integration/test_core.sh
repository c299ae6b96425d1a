# The core issue: boot paths, scenarios, exit status, serial, timeout, stop paths.

t_hello_bzimage() {
	vm --kernel "$GUEST"
	expect_rc 0 && expect_out "Hello from the minivmm test guest (entry linux64)" && expect_no_err
}
t_hello_pvh() {
	vm --kernel "$GUEST_ELF" --cmdline "scenario=hello"
	expect_rc 0 && expect_out "Hello from the minivmm test guest (entry pvh)"
}
t_exit_codes() {
	for code in 0 1 7 42 128 200 255; do
		vm --kernel "$GUEST" --cmdline "scenario=exit code=$code"
		expect_rc $code && expect_out "exit: code $code" || return 1
	done
	# Only the low byte of the written value counts, as for a process exit status.
	vm --kernel "$GUEST" --cmdline "scenario=exit code=258"
	expect_rc 2
}
t_unknown_scenario() {
	vm --kernel "$GUEST" --cmdline "scenario=nosuch"
	expect_rc 2 && expect_out "unknown scenario 'nosuch'"
}
t_echo_pipe() {
	printf 'hello there\nsecond line\n.\n' |
		timeout -s KILL 60 "$VMM" run --kernel "$GUEST" --cmdline "scenario=echo" \
			>"$TMP/out" 2>"$TMP/err"
	RC=${PIPESTATUS[1]}
	OUT=$(cat "$TMP/out")
	expect_rc 0 && expect_out "echo: hello there" && expect_out "echo: second line" &&
		expect_out "echo: done"
}
t_echo_backpressure() {
	# stdin a regular file (not pollable), 4 KiB of input at once: far more than the UART's 16-byte FIFO. Nothing may be lost.
	for i in $(seq 1 100); do printf 'line %03d abcdefghijklmnopqrstuvwxyz\n' $i; done >"$TMP/in"
	echo . >>"$TMP/in"
	VM_STDIN="$TMP/in" vm --kernel "$GUEST" --cmdline "scenario=echo"
	expect_rc 0 || return 1
	for i in 001 050 099 100; do
		expect_out "echo: line $i abcdefghijklmnopqrstuvwxyz" || return 1
	done
	[ "$(grep -c '^echo: line' <<<"$OUT")" -eq 100 ] || { echo "    lines lost"; return 1; }
}
t_e820_64m() {
	vm --kernel "$GUEST" --memory 64M --cmdline "scenario=e820"
	expect_rc 0 &&
		expect_out "e820: [mem 0x0000000000000000-0x000000000009fbff] usable" &&
		expect_out "e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved" &&
		expect_out "e820: [mem 0x00000000000e0000-0x00000000000fffff] reserved" &&
		expect_out "e820: [mem 0x0000000000100000-0x0000000003ffffff] usable" &&
		expect_out "e820: 4 entries"
}
t_e820_above_4g() {
	vm --kernel "$GUEST" --memory 5G --cmdline "scenario=e820"
	expect_rc 0 &&
		expect_out "e820: [mem 0x0000000000100000-0x00000000bfffffff] usable" &&
		expect_out "e820: [mem 0x0000000100000000-0x000000017fffffff] usable" &&
		expect_out "e820: 5 entries"
}
t_e820_pvh() {
	vm --kernel "$GUEST_ELF" --memory 64M --cmdline "scenario=e820"
	expect_rc 0 && expect_out "e820: [mem 0x0000000000100000-0x0000000003ffffff] usable"
}
t_memtest() {
	vm --kernel "$GUEST" --memory 64M --cmdline "scenario=memtest memtest=4"
	expect_rc 0 && expect_out "memtest: 4 MiB at 0x200000 OK"
}
t_memtest_too_big() {
	vm --kernel "$GUEST" --memory 8M --cmdline "scenario=memtest memtest=16"
	expect_rc 1 && expect_out "is not all RAM"
}
t_initrd() {
	local kernel
	head -c 100000 /dev/urandom >"$TMP/initrd"
	read -r sum size _ < <(cksum "$TMP/initrd")
	for kernel in "$GUEST" "$GUEST_ELF"; do
		vm --kernel "$kernel" --memory 64M --initrd "$TMP/initrd" --cmdline "scenario=initrd"
		expect_rc 0 && expect_out "initrd: cksum $sum $size" || return 1
	done
}
t_no_initrd() {
	vm --kernel "$GUEST" --cmdline "scenario=initrd"
	expect_rc 1 && expect_out "initrd: none"
}
t_timeout() {
	local start=$SECONDS
	vm --kernel "$GUEST" --cmdline "scenario=idle" --timeout 1
	expect_rc 124 && expect_err "timeout" && [ $((SECONDS - start)) -lt 10 ]
}
t_reboot_i8042() {
	vm --kernel "$GUEST" --cmdline "scenario=reboot"
	expect_rc 0 && expect_out "reboot: via i8042" && expect_err "reboot (i8042 reset)"
}
t_triple_fault() {
	vm --kernel "$GUEST" --cmdline "scenario=triple-fault"
	expect_rc 0 && expect_err "triple fault"
}
t_serial_file() {
	vm --kernel "$GUEST" --serial "file=$TMP/serial.log"
	expect_rc 0 || return 1
	[ -z "$OUT" ] || { echo "    stdout not empty"; return 1; }
	grep -qF "Hello from the minivmm test guest" "$TMP/serial.log" || { echo "    log lacks hello"; return 1; }
}
t_serial_off() {
	vm --kernel "$GUEST" --serial off --cmdline "scenario=exit code=5"
	expect_rc 5 && [ -z "$OUT" ]
}
t_sigterm_and_sigint() {
	local pid sig want
	for sig in TERM INT; do
		"$VMM" run --kernel "$GUEST" --cmdline scenario=idle >"$TMP/out" 2>"$TMP/err" </dev/null &
		pid=$!
		sleep 0.3
		kill -$sig $pid
		wait $pid
		RC=$?
		ERR=$(cat "$TMP/err")
		want=$((128 + $(kill -l $sig)))
		expect_rc $want && expect_err "stopped by signal" || return 1
	done
}
t_smp_boots() {
	# Application processors wait for INIT-SIPI; the BSP runs the scenario as usual.
	vm --kernel "$GUEST" --cpus 4 --cmdline "scenario=exit code=3"
	expect_rc 3
}
t_hugepages() {
	local nr=/proc/sys/vm/nr_hugepages old
	[ -w $nr ] || skip "cannot set $nr (not root?)"
	old=$(cat $nr)
	echo $((old + 40)) >$nr 2>/dev/null
	if [ "$(cat $nr)" -lt $((old + 32)) ]; then
		echo "$old" >$nr
		skip "the host could not reserve 64 MiB of 2 MiB huge pages"
	fi
	vm --kernel "$GUEST" --memory size=64M,hugepages=on --cmdline "scenario=memtest memtest=4"
	echo "$old" >$nr
	expect_rc 0 && expect_out "memtest: 4 MiB at 0x200000 OK"
}
t_help_and_version() {
	"$VMM" run --help >"$TMP/out" 2>&1 || { echo "    run --help failed"; return 1; }
	grep -q -- "--kernel FILE" "$TMP/out" || return 1
	"$VMM" --version | grep -q "^minivmm [0-9]" || return 1
	"$VMM" run --version | grep -q "^minivmm [0-9]" || return 1
	"$VMM" >/dev/null 2>&1 && { echo "    no command should fail"; return 1; }
	"$VMM" frobnicate 2>"$TMP/err" && return 1
	grep -q "unknown command 'frobnicate'" "$TMP/err"
}

t_run "hello via the bzImage 64-bit entry" t_hello_bzimage
t_run "hello via the PVH entry of the ELF" t_hello_pvh
t_run "exit status passthrough" t_exit_codes
t_run "unknown scenario" t_unknown_scenario
t_run "serial input from a pipe (echo)" t_echo_pipe
t_run "serial input from a file, backpressure" t_echo_backpressure
t_run "e820 map, 64 MiB" t_e820_64m
t_run "e820 map above 4 GiB" t_e820_above_4g
t_run "e820 map through PVH" t_e820_pvh
t_run "memtest" t_memtest
t_run "memtest beyond RAM fails" t_memtest_too_big
t_run "initrd checksum (bzImage and PVH)" t_initrd
t_run "initrd scenario without initrd" t_no_initrd
t_run "--timeout" t_timeout
t_run "i8042 reboot" t_reboot_i8042
t_run "triple fault is a reset" t_triple_fault
t_run "--serial file=" t_serial_file
t_run "--serial off" t_serial_off
t_run "SIGTERM/SIGINT stop cleanly" t_sigterm_and_sigint
t_run "--cpus 4" t_smp_boots
t_run "--memory hugepages=on" t_hugepages
t_run "--help, --version, bad commands" t_help_and_version

t_boot_trace() {
	vm --kernel "$GUEST" --boot-trace
	expect_rc 0 && expect_out "Hello from the minivmm test guest" || return 1
	local want=("VM created" "memory and irqchip ready" "devices, firmware tables and kernel loaded" "vCPUs ready"
		"first KVM_RUN" "boot progress 0x01 (port 0x80)" "boot progress 0x03 (port 0x80)"
		"stop requested" "vCPUs joined" "VM torn down")
	local w prev=0 line ms
	for w in "${want[@]}"; do
		line=$(grep -F -- "boot-trace:" <<<"$ERR" | grep -F -- "$w" | head -1)
		[ -n "$line" ] || { echo "    no trace line for: $w"; return 1; }
		ms=$(awk '{print $3}' <<<"$line")
		awk -v a="$prev" -v b="$ms" 'BEGIN { exit !(b >= a) }' ||
			{ echo "    '$w' at $ms ms is before the previous milestone ($prev ms)"; return 1; }
		prev=$ms
	done
	# Without the flag, nothing is traced.
	vm --kernel "$GUEST"
	expect_no_err
}
t_run "--boot-trace milestones in order" t_boot_trace

t_ring0_int3_fwait() {
	# Hardware KVM runs these natively; software-emulating KVMs need arch/x86/host_quirks.c.
	vm --kernel "$GUEST" --cmdline "scenario=int3"
	expect_rc 0 && expect_out "int3: 2 breakpoints delivered and returned" || return 1
	vm --kernel "$GUEST" --cmdline "scenario=fwait"
	expect_rc 0 && expect_out "fwait: continued"
}
t_run "int3 and fwait in guest ring 0" t_ring0_int3_fwait

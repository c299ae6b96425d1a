# Bad input: each case must print one line naming the input and exit 1, never crash.

t_bad_inputs() {
	local big="$TMP/big-init.bzImage" trunc="$TMP/trunc.bzImage" empty="$TMP/empty"
	: >"$empty"
	head -c 2000 "$GUEST" >"$trunc"
	# The guest with init_size raised to 64 MiB: needs more memory than 16M gives.
	cp "$GUEST" "$big"
	printf '\x00\x00\x00\x04' | dd of="$big" bs=1 seek=$((0x260)) conv=notrunc status=none
	head -c $((16 << 20)) /dev/zero >"$TMP/initrd16m"
	# A boot sector with its signature but no setup header.
	head -c 4096 /dev/zero >"$TMP/mbr"
	printf '\x55\xaa' | dd of="$TMP/mbr" bs=1 seek=$((0x1fe)) conv=notrunc status=none
	local long
	long=$(printf 'x%.0s' $(seq 1 5000))

	local fails=0
	run_case() { bad_case "$@" || { echo "    (case: ${*:2})"; fails=$((fails + 1)); }; }
	run_case "--kernel is required"
	run_case "--kernel /nonexistent/bzImage: No such file or directory" --kernel /nonexistent/bzImage
	run_case "--kernel $ROOT/tests: not a regular file" --kernel "$ROOT/tests"
	run_case "--kernel $empty: file is empty" --kernel "$empty"
	run_case "not a Linux kernel" --kernel /etc/hostname
	run_case "no \"HdrS\"" --kernel "$TMP/mbr"
	run_case "ELF: e_type" --kernel /usr/bin/true           # a PIE program, not a kernel
	run_case "no PVH entry note" --kernel "$VMM"             # static: ET_EXEC, but no PVH note
	run_case "syssize" --kernel "$trunc"
	run_case "kernel needs 64 MiB" --kernel "$big" --memory 16M
	run_case "--initrd /nonexistent: No such file" --kernel "$GUEST" --initrd /nonexistent
	run_case "do not fit" --kernel "$GUEST" --memory 8M --initrd "$TMP/initrd16m"
	run_case "--cmdline: command line is 5000 bytes, the kernel accepts at most 4095" \
		--kernel "$GUEST" --cmdline "$long"
	run_case "--memory: bad size 'lots'" --kernel "$GUEST" --memory lots
	run_case "--memory: 4096 bytes is too small" --kernel "$GUEST" --memory 4K
	run_case "--cpus: 'many'" --kernel "$GUEST" --cpus many
	run_case "--cpus: '0'" --kernel "$GUEST" --cpus 0
	run_case "--serial: 'tty'" --kernel "$GUEST" --serial tty
	run_case "--serial file=/nonexistent/dir/log: No such file" --kernel "$GUEST" \
		--serial file=/nonexistent/dir/log
	run_case "--timeout: 'soon'" --kernel "$GUEST" --timeout soon
	run_case "unknown flag '--frobnicate'" --kernel "$GUEST" --frobnicate
	run_case "--cmdline needs a value" --kernel "$GUEST" --cmdline
	run_case "unexpected argument 'extra'" --kernel "$GUEST" extra
	[ $fails -eq 0 ]
}

t_run "bad input table" t_bad_inputs

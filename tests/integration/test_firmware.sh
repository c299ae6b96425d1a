# Firmware and SMP (issue 3): ACPI tables as the guest and external validators see them,
# INIT-SIPI-SIPI bring-up, ACPI power-off and reset, the MP-table fallback.

t_smp() {
	local n
	for n in 1 2 4 8; do
		vm --kernel "$GUEST" --cpus $n --cmdline "scenario=smp" --timeout 60
		expect_rc 0 && expect_out "smp: $n of $n CPUs up (ACPI MADT)" || return 1
	done
}
t_smp_pvh() {
	vm --kernel "$GUEST_ELF" --cpus 3 --cmdline "scenario=smp" --timeout 60
	expect_rc 0 && expect_out "smp: 3 of 3 CPUs up (ACPI MADT)"
}
t_smp_mptable() {
	vm --kernel "$GUEST" --cpus 4 --acpi off --cmdline "scenario=smp" --timeout 60
	expect_rc 0 && expect_out "smp: 4 of 4 CPUs up (MP table)"
}
t_acpi_lists_cpus_and_devices() {
	local n
	for n in 1 5; do
		vm --kernel "$GUEST" --cpus $n --cmdline "scenario=acpi"
		expect_rc 0 && expect_out "acpi: $n cpus" && expect_out "acpi: cpu $((n - 1)) apic-id $((n - 1))" ||
			return 1
		[ "$(grep -c '^acpi: cpu [0-9]* apic-id' <<<"$OUT")" -eq $n ] || { echo "    cpu count"; return 1; }
		expect_out "acpi: 3 devices" && expect_out "acpi: device COM1 hid PNP0501 io 0x3f8 irq 4" &&
			expect_out "acpi: device GED_ hid ACPI0013 io 0x604 irq 23" &&
			expect_out "acpi: device PWRB hid PNP0C0C" &&
			expect_out "acpi: fadt hardware-reduced, sleep control port 0x600, reset port 0x602 value 0x1, s5 5" ||
			return 1
		for sig in RSDP XSDT FACP APIC DSDT; do expect_out "checksum" || return 1; done
	done
}
t_acpi_off() {
	vm --kernel "$GUEST" --acpi off --cmdline "scenario=acpi"
	expect_rc 1 && expect_out "mptable: at 0xf0010"
}
t_iasl_accepts_tables() {
	command -v iasl >/dev/null || skip "iasl not installed (Debian acpica-tools)"
	local d="$TMP/acpi"
	mkdir -p "$d"
	vm --kernel "$GUEST" --cpus 4 --dump-acpi "$d" --cmdline "scenario=exit code=0"
	expect_rc 0 || return 1
	for t in XSDT FACP APIC DSDT; do
		[ -s "$d/$t.dat" ] || { echo "    $t.dat missing"; return 1; }
		(cd "$d" && iasl -d "$t.dat" >"$d/$t.log" 2>&1) || { echo "    iasl -d $t.dat failed:"; cat "$d/$t.log"; return 1; }
		grep -qiE "error|warning" "$d/$t.log" && { echo "    iasl complained on $t:"; cat "$d/$t.log"; return 1; }
		grep -q "Checksum" "$d/$t.dsl" || return 1
	done
	# The RSDP is no SDT: iasl 2020 cannot take it alone; the guest's walk checks it above.
	[ "$(head -c 8 "$d/RSDP.dat")" = "RSD PTR " ] || return 1
	grep -q 'EisaId ("PNP0501")' "$d/DSDT.dsl" && grep -q "0x03F8" "$d/DSDT.dsl" &&
		grep -q "IRQNoFlags ()" "$d/DSDT.dsl" && grep -A1 "IRQNoFlags ()" "$d/DSDT.dsl" | grep -q "{4}" &&
		grep -q "Name (\\\\_S5, Package" "$d/DSDT.dsl" || { echo "    DSDT lacks COM1/_S5"; return 1; }
	# The power button: a Generic Event Device whose _EVT notifies a PNP0C0C device.
	grep -q 'Name (_HID, "ACPI0013"' "$d/DSDT.dsl" && grep -q 'EisaId ("PNP0C0C")' "$d/DSDT.dsl" &&
		grep -q "OperationRegion (GDST, SystemIO, 0x0604, One)" "$d/DSDT.dsl" &&
		grep -q "Method (_EVT, 1, Serialized)" "$d/DSDT.dsl" &&
		grep -q "Notify (\\\\_SB.PWRB, 0x80)" "$d/DSDT.dsl" || { echo "    DSDT lacks the GED and power button"; return 1; }
	grep -q "Hardware Reduced (V5) : 1" "$d/FACP.dsl" || return 1
	[ "$(grep -c 'Subtable Type : 00 \[Processor Local APIC\]' "$d/APIC.dsl")" -eq 4 ] || return 1
	grep -q "Interrupt Source Override" "$d/APIC.dsl" || return 1
	# ACPICA's interpreter loads the namespace too.
	if command -v acpiexec >/dev/null; then
		(cd "$d" && timeout 30 acpiexec -b "namespace" DSDT.dat FACP.dat APIC.dat) >"$d/exec.log" 2>&1
		grep -q "COM1 Device" "$d/exec.log" && grep -q "_S5_ Package" "$d/exec.log" &&
			grep -q "GED_ Device" "$d/exec.log" && grep -q "PWRB Device" "$d/exec.log" ||
			{ echo "    acpiexec:"; tail -20 "$d/exec.log"; return 1; }
	fi
}
t_poweroff() {
	vm --kernel "$GUEST" --cmdline "scenario=poweroff"
	expect_rc 0 && expect_out "poweroff: S5 (SLP_TYP 5)" && expect_no_err
}
t_acpi_reset_and_on_reboot() {
	vm --kernel "$GUEST" --cmdline "scenario=acpi-reset"
	expect_rc 0 && expect_err "reboot (ACPI reset)" || return 1
	vm --kernel "$GUEST" --cmdline "scenario=acpi-reset" --on-reboot fail
	expect_rc 1 && expect_err "--on-reboot fail" || return 1
	vm --kernel "$GUEST" --cmdline "scenario=reboot" --on-reboot fail
	expect_rc 1 || return 1
	vm --kernel "$GUEST" --cmdline "scenario=triple-fault" --on-reboot fail
	expect_rc 1 || return 1
	vm --kernel "$GUEST" --cmdline "scenario=poweroff" --on-reboot fail
	expect_rc 0
}
t_firmware_bad_flags() {
	vm --kernel "$GUEST" --acpi maybe
	expect_rc 1 && expect_err "--acpi: 'maybe'" || return 1
	vm --kernel "$GUEST" --on-reboot panic
	expect_rc 1 && expect_err "--on-reboot: 'panic'" || return 1
	vm --kernel "$GUEST" --acpi off --dump-acpi "$TMP"
	expect_rc 1 && expect_err "--dump-acpi needs --acpi on" || return 1
	vm --kernel "$GUEST" --dump-acpi /nonexistent/dir
	expect_rc 1 && expect_err "--dump-acpi /nonexistent/dir/"
}

t_run "smp: INIT-SIPI-SIPI with --cpus 1, 2, 4, 8" t_smp
t_run "smp through the PVH entry" t_smp_pvh
t_run "smp with --acpi off (MP table)" t_smp_mptable
t_run "acpi: exactly the configured CPUs and devices" t_acpi_lists_cpus_and_devices
t_run "acpi off: no RSDP, MP table found" t_acpi_off
t_run "iasl -d and acpiexec accept the tables" t_iasl_accepts_tables
t_run "ACPI S5 poweroff exits 0" t_poweroff
t_run "ACPI reset register, --on-reboot fail" t_acpi_reset_and_on_reboot
t_run "firmware flag errors" t_firmware_bad_flags

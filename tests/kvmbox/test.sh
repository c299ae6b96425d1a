#!/usr/bin/env bash
# The nested-KVM box itself (tests/kvmbox/run): status passthrough, what CMD sees, and the ways
# a box fails (one line, status 125, no hang). Runs on the host.
set -u
source "$(dirname "$0")/../integration/lib.sh"
BOX=$ROOT/tests/kvmbox/run

# box ARGS...: runs the box; OUT, ERR, RC.
box() {
	"$BOX" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

k_guest_status() {
	box -- "$VMM" run --kernel "$GUEST" --cmdline "scenario=exit code=7"
	expect_rc 7 && expect_out "exit: code 7"
}

k_what_cmd_sees() {
	# The exported environment, the directory, a /dev/kvm, /dev/fd for <(...), a tmpfs /tmp,
	# both output streams, and CMD's own failure status.
	KVMBOX_PROBE="a b" box -- bash -c 'echo "env=$KVMBOX_PROBE"; echo "pwd=$PWD"; [ -c /dev/kvm ] && echo kvm=yes
		cat <(echo dev-fd=yes); echo "tmp=$(stat -f -c %T /tmp)"; echo to-stderr >&2; exit 3'
	expect_rc 3 && expect_out "env=a b" && expect_out "pwd=$ROOT" && expect_out "kvm=yes" &&
		expect_out "dev-fd=yes" && expect_out "tmp=tmpfs" && expect_out "to-stderr"
}

k_box_cannot_boot() {
	# A kernel that is not one: QEMU refuses it; the box says so in one line.
	local c=$TMP/cache kver
	kver=$(cat "${MINIVMM_KVMBOX_CACHE:-/var/cache/minivmm/kvmbox}/kver") || return 1
	mkdir -p "$c/$kver/boot"
	echo "$kver" >"$c/kver"
	cp -r "${MINIVMM_KVMBOX_CACHE:-/var/cache/minivmm/kvmbox}/$kver/"{lib,box-initrd-*} "$c/$kver/"
	echo "not a kernel" >"$c/$kver/boot/vmlinuz-$kver"
	MINIVMM_KVMBOX_CACHE=$c box -- true
	expect_rc 125 && expect_err "kvmbox: the box failed to boot" || return 1
	[ "$(wc -l <<<"$ERR")" = 1 ] || { echo "    more than one line on stderr"; return 1; }
}

k_timeout() {
	local t0=$SECONDS
	box --timeout 25 -- sleep 300
	expect_rc 125 && expect_err "'sleep 300' still running after 25 s: box stopped" || return 1
	[ $((SECONDS - t0)) -lt 60 ] || { echo "    took $((SECONDS - t0)) s"; return 1; }
}

k_bad_option() {
	box --cpus many -- true
	expect_rc 125 && expect_err "kvmbox: --cpus must be a number, not 'many'"
}

echo "== $("$BOX" --setup 2>&1 | tail -1)"
t_run "kvmbox: the guest's status comes back (exit code=7)" k_guest_status
t_run "kvmbox: env, cwd, /dev/kvm, /dev/fd, tmpfs /tmp, stderr, CMD's status" k_what_cmd_sees
t_run "kvmbox: a box that cannot boot fails in one line with 125" k_box_cannot_boot
t_run "kvmbox: --timeout stops a stuck CMD with 125" k_timeout
t_run "kvmbox: a bad option is named" k_bad_option
t_summary

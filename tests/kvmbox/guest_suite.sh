# Sourced at the top of every suite that boots guests (after tests/integration/lib.sh): where
# this host has no usable /dev/kvm, the suite re-runs itself, with the same arguments, inside
# the nested-KVM box (tests/kvmbox/run), so lack of KVM is never a reason to skip. Sets
# KVM_FLAVOUR (vmx, svm or soft: `minivmm kvm-info`) and prints which KVM the suite runs on.

if ! [ -c /dev/kvm ] || ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	if [ -n "${KVMBOX_INSIDE:-}" ]; then
		echo "FAIL: no usable /dev/kvm inside the box"
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	fi
	echo "== no usable /dev/kvm here: $(basename "$(dirname "$0")")/$(basename "$0") runs in the nested-KVM box"
	rm -rf "$TMP" # exec skips the EXIT trap of tests/integration/lib.sh
	# shellcheck disable=SC2086
	exec "$ROOT/tests/kvmbox/run" ${KVMBOX_ARGS:-} -- "$0" "$@"
fi
KVM_FLAVOUR=$("$VMM" kvm-info 2>/dev/null | sed -n 's/^flavour: \([a-z]*\).*/\1/p')
echo "== KVM: $("$VMM" kvm-info 2>&1 | sed -n 's/^flavour: //p')${KVMBOX_INSIDE:+, inside the nested-KVM box}"
[ -n "$KVM_FLAVOUR" ] || { echo "FAIL: $VMM kvm-info"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

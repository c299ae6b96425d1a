#!/usr/bin/env bash
# Linux's own drivers against our devices: the tiny kernel from Debian's linux-source (built or
# reused by tests/linux/build.sh), booted by minivmm. Part of `make test`.
set -u
source "$(dirname "$0")/../integration/lib.sh"
# Built on the host, before the suite moves into the box where there is no /dev/kvm.
if [ -z "${LINUX_DIR:-}" ]; then
	LINUX_DIR=$("$ROOT/tests/linux/build.sh") || { echo "FAIL building the test kernel"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
fi
export LINUX_DIR
source "$ROOT/tests/kvmbox/guest_suite.sh"
source "$(dirname "$0")/lib.sh"
echo "== Linux guest: $LINUX_DIR (host args: ${HOST_ARGS:-none}; minivmm: ${HOST_VMM_ARGS:-none})"
for f in "$ROOT"/tests/linux/test_*.sh; do
	source "$f"
done
t_summary

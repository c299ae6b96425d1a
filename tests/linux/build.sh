#!/usr/bin/env bash
# Builds (or reuses) the test kernel from Debian's linux-source: tinyconfig + config.fragment.
# Prints the directory holding bzImage, vmlinux and init (a static program that never makes a
# system call). Cached outside the repository, keyed by the fragment, this script and the
# source version, so CI and later runs reuse it.
#   MINIVMM_LINUX_CACHE  cache root (default /var/cache/minivmm/linux)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_ROOT=${MINIVMM_LINUX_CACHE:-/var/cache/minivmm/linux}
SRC_TAR=$(ls /usr/src/linux-source-6.1.tar.xz 2>/dev/null || true)
if [ -z "$SRC_TAR" ]; then
	echo "building the test kernel needs Debian's linux-source-6.1 (make deps)" >&2
	exit 1
fi
KEY=$(cat "$HERE/config.fragment" "$HERE/build.sh" "$HERE/init.c" <(ls -l "$SRC_TAR") |
	sha256sum | cut -c1-16)
OUT=$CACHE_ROOT/$KEY
if [ -s "$OUT/bzImage" ] && [ -s "$OUT/init" ]; then
	echo "$OUT"
	exit 0
fi
mkdir -p "$CACHE_ROOT"
WORK=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
tar -C "$WORK" -xf "$SRC_TAR"
cd "$WORK"/linux-source-6.1
make -s tinyconfig >&2
scripts/kconfig/merge_config.sh -m .config "$HERE/config.fragment" >/dev/null
make -s olddefconfig >&2
# Every line of the fragment must have survived (a typo or a missing dependency would not).
missing=$(grep -E '^CONFIG_' "$HERE/config.fragment" | while read -r l; do grep -qx "$l" .config || echo "$l"; done)
[ -z "$missing" ] || { echo "config lines not taken: $missing" >&2; exit 1; }
make -s -j"$(nproc)" bzImage >&2
mkdir -p "$WORK/out"
cp arch/x86/boot/bzImage vmlinux .config "$WORK/out/"
gcc -static -nostdlib -O2 -fno-pie -no-pie -o "$WORK/out/init" "$HERE/init.c"
rm -rf "$OUT"
mv "$WORK/out" "$OUT"
echo "built the test kernel in $((SECONDS - start)) s" >&2
echo "$OUT"

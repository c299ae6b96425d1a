# Debian's own kernel, its modules and busybox initramfs images, for the nested-KVM box
# (tests/kvmbox/run) and for the stock-kernel guest tests (tests/linux/stock/). Sourced by bash.
#
# The kernel is Debian's linux-image-*-amd64 package, fetched with `apt-get download` and
# unpacked into a cache (nothing is installed into /boot). The mirror keeps only the newest ABI,
# so the version is the one the linux-image-amd64 metapackage points to when the cache is first
# set up; it is then recorded with the cache and reused until the cache is removed.
#   MINIVMM_KVMBOX_CACHE  cache root (default /var/cache/minivmm/kvmbox)

KVMBOX_CACHE=${MINIVMM_KVMBOX_CACHE:-/var/cache/minivmm/kvmbox}

kvmbox_die() {
	echo "kvmbox: $*" >&2
	exit 125
}

# kvmbox_kernel: sets KVER and KROOT (the unpacked package: $KROOT/boot/vmlinuz-$KVER,
# $KROOT/lib/modules/$KVER with modules.dep), fetching and unpacking the package once.
kvmbox_kernel() {
	mkdir -p "$KVMBOX_CACHE" || kvmbox_die "cannot create $KVMBOX_CACHE"
	# Two boxes may start at once: one sets the cache up, the other waits for it.
	exec {lockfd}>"$KVMBOX_CACHE/.lock"
	flock "$lockfd"
	KVER=$(cat "$KVMBOX_CACHE/kver" 2>/dev/null || true)
	if [ -z "$KVER" ] || [ ! -s "$KVMBOX_CACHE/$KVER/boot/vmlinuz-$KVER" ]; then
		kvmbox_fetch_kernel
	fi
	flock -u "$lockfd"
	exec {lockfd}>&-
	KROOT=$KVMBOX_CACHE/$KVER
}

kvmbox_fetch_kernel() {
	local dl
	KVER=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/.*Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -1)
	[ -n "$KVER" ] || kvmbox_die "apt does not know linux-image-amd64 (run make deps, or apt-get update)"
	command -v depmod >/dev/null || kvmbox_die "depmod is missing (apt-get install kmod)"
	dl=$(mktemp -d "$KVMBOX_CACHE/dl.XXXXXX")
	echo "kvmbox: fetching Debian's linux-image-$KVER (once; cached in $KVMBOX_CACHE)" >&2
	if ! (cd "$dl" && apt-get download -q "linux-image-$KVER" >/dev/null 2>"$dl/err"); then
		rm -rf "$dl"
		kvmbox_die "apt-get download linux-image-$KVER failed (is the package mirror reachable?)"
	fi
	rm -rf "${KVMBOX_CACHE:?}/$KVER"
	dpkg-deb -x "$dl"/linux-image-"$KVER"_*.deb "$dl/root" || { rm -rf "$dl"; kvmbox_die "cannot unpack linux-image-$KVER"; }
	# The package leaves modules.dep to its postinst; make it here.
	depmod -b "$dl/root" "$KVER" || { rm -rf "$dl"; kvmbox_die "depmod failed for $KVER"; }
	mv "$dl/root" "$KVMBOX_CACHE/$KVER"
	rm -rf "$dl"
	echo "$KVER" >"$KVMBOX_CACHE/kver.new" && mv "$KVMBOX_CACHE/kver.new" "$KVMBOX_CACHE/kver"
}

# kvmbox_initramfs OUT "FILE..." MODULE...: a gzip'd cpio with static busybox (every applet
# linked in /bin), each FILE in / under its own name (one of them is init), the named modules and everything they depend on (from the package,
# in load order in /modules.list: `insmod` each line), and an empty /lib/modules/$KVER.
# Modules that are built into the kernel are skipped. Needs kvmbox_kernel first.
kvmbox_initramfs() {
	local out=$1 files=$2 w m f path
	shift 2
	[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 ||
		kvmbox_die "a static /bin/busybox is needed (apt-get install busybox-static)"
	w=$(mktemp -d)
	mkdir -p "$w/bin" "$w/proc" "$w/sys" "$w/dev" "$w/mnt" "$w/tmp" "$w/lib/modules/$KVER"
	cp /bin/busybox "$w/bin/"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$w/bin/$a"
	done
	: >"$w/modules.list"
	for m in "$@"; do
		modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" >"$w/deps" 2>"$w/err" ||
			{ rm -rf "$w"; kvmbox_die "module $m is not in linux-image-$KVER: $(head -1 "$w/err")"; }
		while read -r kind path _; do
			[ "$kind" = insmod ] || continue
			path=${path#"$KROOT"}
			grep -qxF "$path" "$w/modules.list" && continue
			mkdir -p "$w$(dirname "$path")"
			cp "$KROOT$path" "$w$path"
			echo "$path" >>"$w/modules.list"
		done <"$w/deps"
	done
	rm -f "$w/deps" "$w/err"
	for f in $files; do
		cp "$f" "$w/" && chmod +x "$w/$(basename "$f")"
	done
	(cd "$w" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp" && mv "$out.tmp" "$out"
	local rc=$?
	rm -rf "$w"
	return $rc
}

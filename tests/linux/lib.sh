# Helpers for the Linux-guest tests: boot the test kernel in the background, wait for log lines,
# stop the VM from the host.

LINUX_DIR=${LINUX_DIR:-}
# What this host needs (../shared/KVM-NOTES.md): its KVM emulates guest ring-0 code and cannot
# run XSAVE, several SSE/BMI instructions or CMPXCHG16B there (kernel arguments, HOST_ARGS), nor
# the kernel's hypercalls: `vmcall` never returns at CPL 0, so the KVM PV features that make
# them (PV IPIs, PV sched-yield, PV unhalt/kick) are hidden from the guest (minivmm flags,
# HOST_VMM_ARGS; only SMP guests use them). Hardware VT-x/SVM needs nothing.
# MINIVMM_LINUX_ARGS / MINIVMM_LINUX_VMM_ARGS override either on any host. KVM_FLAVOUR comes
# from `minivmm kvm-info` (tests/kvmbox/guest_suite.sh): the one place that tells.
if [ "${KVM_FLAVOUR:-}" != soft ]; then
	HOST_ARGS="" HOST_VMM_ARGS=""
else
	HOST_ARGS="noxsave mitigations=off rodata=off clearcpuid=erms,fsrm,smap,popcnt,ssse3,sse4_1,sse4_2,pclmulqdq,aes,movbe,rtm,hle,clwb,movdiri,movdir64b,gfni,bmi1,bmi2,adx,sha_ni,cx16"
	HOST_VMM_ARGS="--kvm-pv-off ipi,sched-yield,unhalt"
fi
[ -n "${MINIVMM_LINUX_ARGS+x}" ] && HOST_ARGS=$MINIVMM_LINUX_ARGS
[ -n "${MINIVMM_LINUX_VMM_ARGS+x}" ] && HOST_VMM_ARGS=$MINIVMM_LINUX_VMM_ARGS

# rootfs IMG [SIZE]: an ext4 image holding /init (the test kernel's spinning init) and /dev.
rootfs() {
	local img=$1 size=${2:-16M} d="$TMP/rootdir"
	rm -rf "$d"
	mkdir -p "$d/dev" "$d/proc"
	cp "$LINUX_DIR/init" "$d/init"
	rm -f "$img"
	mke2fs -q -t ext4 -d "$d" -L minivmm-root "$img" "$size"
}

# linux_start ARGS...: minivmm run --kernel bzImage ARGS in the background (output in $TMP/lout).
linux_start() {
	"${VMM_BIN:-$VMM}" run --kernel "${LINUX_KERNEL:-$LINUX_DIR/vmlinux}" --memory 128M $HOST_VMM_ARGS "$@" \
		>"$TMP/lout" 2>"$TMP/lerr" </dev/null &
	LPID=$!
	LSTART=$SECONDS
}

# wait_line TEXT [SECONDS]: true once TEXT appears in the guest's output.
wait_line() {
	local text=$1 limit=${2:-180}
	while [ $((SECONDS - LSTART)) -lt "$limit" ]; do
		grep -qF -- "$text" "$TMP/lout" 2>/dev/null && return 0
		kill -0 "$LPID" 2>/dev/null || { grep -qF -- "$text" "$TMP/lout"; return; }
		sleep 0.1
	done
	echo "    no '$text' within ${limit}s"
	return 1
}

# linux_stop: SIGTERM, wait; status in RC, output in OUT/ERR.
linux_stop() {
	kill -TERM "$LPID" 2>/dev/null
	wait "$LPID"
	RC=$?
	OUT=$(cat "$TMP/lout")
	ERR=$(cat "$TMP/lerr")
}

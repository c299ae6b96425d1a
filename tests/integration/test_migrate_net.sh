# Live migration of a VM on a tap (issue 15): two "hosts" (network namespaces), each with a
# bridge holding its VMM's tap and one end of a veth pair that joins the two bridges into one
# segment. A sender on host A pings the guest's net-echo through the migration; the guest then
# answers from host B. Loss is bounded by the hand-over: the destination announces the guest's
# MAC (RARP), and the source's tap goes with the source. Then back to host A with no traffic:
# host B's bridge must have learnt the new port from the announcement, and a UDP "quit" ends
# the guest there.

MN_NS=mvmn$$
MN_GUEST=10.78.0.2
MN_MAC=02:00:00:4d:56:4d

mn_down() {
	ip netns del "${MN_NS}a" 2>/dev/null
	ip netns del "${MN_NS}b" 2>/dev/null
	true
}

# mn_up: both hosts: bridge br0 (A 10.78.0.1, B 10.78.0.3), the veth between them.
mn_up() {
	local h
	mn_down
	ip netns add "${MN_NS}a" && ip netns add "${MN_NS}b" || return 1
	ip link add "${MN_NS}x" netns "${MN_NS}a" type veth peer name "${MN_NS}y" netns "${MN_NS}b" ||
		return 1
	for h in a b; do
		ip -n "$MN_NS$h" link set lo up &&
			ip -n "$MN_NS$h" link add br0 type bridge &&
			ip -n "$MN_NS$h" link set br0 up || return 1
	done
	ip -n "${MN_NS}a" link set "${MN_NS}x" master br0 && ip -n "${MN_NS}a" link set "${MN_NS}x" up &&
		ip -n "${MN_NS}b" link set "${MN_NS}y" master br0 && ip -n "${MN_NS}b" link set "${MN_NS}y" up &&
		ip -n "${MN_NS}a" addr add 10.78.0.1/24 dev br0 &&
		ip -n "${MN_NS}b" addr add 10.78.0.3/24 dev br0
}

# mn_vm HOST NAME ARGS...: minivmm run on HOST (a or b) with a tap tapm0, in the background
# (pid in MN_PID); output in $TMP/NAME.out and .err.
mn_vm() {
	local host=$1 name=$2
	shift 2
	ip netns exec "$MN_NS$host" "$VMM" run --memory 64M --net tap=tapm0,mac=$MN_MAC \
		--api-socket "$TMP/$name.sock" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null &
	MN_PID=$!
}

# mn_tap_in HOST: puts the host's tapm0 on its bridge (the tap exists once minivmm runs).
mn_tap_in() {
	local i
	for i in $(seq 100); do
		ip -n "$MN_NS$1" link show tapm0 >/dev/null 2>&1 && break
		sleep 0.1
	done
	ip -n "$MN_NS$1" link set tapm0 master br0 && ip -n "$MN_NS$1" link set tapm0 up
}

t_migrate_net() {
	local apid bpid ppid ping lost sent
	[ "$(id -u)" = 0 ] || skip "needs root for network namespaces, a bridge and taps"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	command -v ping >/dev/null || skip "needs ping"
	mn_up || { mn_down; echo "    cannot set up the two hosts"; return 1; }
	SECONDS=0
	(
		mn_vm a a --kernel "$GUEST" --cmdline "scenario=net-echo ip=$MN_GUEST port=7"
		apid=$MN_PID
		wait_out "$TMP/a.out" "ready" 60 "$apid" && mn_tap_in a || exit 1
		ip netns exec "${MN_NS}a" ping -c 3 -W 5 $MN_GUEST >/dev/null ||
			{ echo "    the guest does not answer on host A"; exit 1; }
		echo "    note: booted and answering on host A after ${SECONDS}s"
		mn_vm b b --incoming "tcp:10.78.0.3:47617"
		bpid=$MN_PID
		wait_out "$TMP/b.err" "waiting for a migration" 30 "$bpid" && mn_tap_in b || exit 1
		# 10 pings a second through the hand-over, 15 s in all.
		ip netns exec "${MN_NS}a" ping -i 0.1 -w 15 $MN_GUEST >"$TMP/ping.out" 2>&1 &
		ppid=$!
		sleep 2
		"$VMM" ctl "$TMP/a.sock" migrate uri=tcp:10.78.0.3:47617 >"$TMP/ctl.out" 2>&1 ||
			{ echo "    migrate:"; cat "$TMP/ctl.out" "$TMP/a.err" "$TMP/b.err"; exit 1; }
		wait "$apid"
		[ $? = 0 ] && grep -q "migration: completed" "$TMP/a.err" ||
			{ echo "    the source did not migrate:"; sed 's/^/    | /' "$TMP/a.err"; exit 1; }
		grep "migration: completed" "$TMP/a.err" | sed 's/^minivmm: migration: /    note: /'
		wait "$ppid"
		ping=$(grep "packets transmitted" "$TMP/ping.out")
		sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$ping")
		lost=$((sent - $(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$ping")))
		echo "    note: pings through the migration: $ping"
		# The pause, the destination's start and the bridge's flood: a few seconds at most.
		[ "$sent" -ge 50 ] && [ "$lost" -le 40 ] ||
			{ echo "    $lost of $sent pings lost"; exit 1; }
		ip netns exec "${MN_NS}a" ping -c 3 -W 5 $MN_GUEST >/dev/null ||
			{ echo "    the guest does not answer from host B"; exit 1; }
		echo "    note: answering from host B after ${SECONDS}s"
		# Back to host A with no traffic at all: host B's bridge learns where the guest
		# went from the destination's announcement alone (its entry for the source's tap
		# goes with the tap, and this guest sends nothing by itself).
		mn_vm a a2 --incoming "tcp:10.78.0.1:47618"
		apid=$MN_PID
		wait_out "$TMP/a2.err" "waiting for a migration" 30 "$apid" && mn_tap_in a || exit 1
		"$VMM" ctl "$TMP/b.sock" migrate uri=tcp:10.78.0.1:47618 >"$TMP/ctl.out" 2>&1 ||
			{ echo "    migrate back:"; cat "$TMP/ctl.out" "$TMP/b.err" "$TMP/a2.err"; exit 1; }
		wait "$bpid"
		[ $? = 0 ] && grep -q "migration: completed" "$TMP/b.err" ||
			{ echo "    B did not migrate back:"; sed 's/^/    | /' "$TMP/b.err"; exit 1; }
		for _ in $(seq 30); do
			ip -n "${MN_NS}b" -br link show tapm0 >/dev/null 2>&1 || break
			sleep 0.1
		done
		bridge -n "${MN_NS}b" fdb show br br0 >"$TMP/fdb.out"
		grep -qi "^$MN_MAC dev ${MN_NS}y " "$TMP/fdb.out" ||
			{ echo "    host B's bridge does not know the guest is behind the veth now:"; sed 's/^/    | /' "$TMP/fdb.out"; exit 1; }
		echo "    note: back on host A after ${SECONDS}s; host B's bridge: $(grep -i "^$MN_MAC" "$TMP/fdb.out")"
		ip netns exec "${MN_NS}a" bash -c "echo -n quit >/dev/udp/$MN_GUEST/7"
		wait_out "$TMP/a2.out" "net-echo: quit after" 30 "$apid" || exit 1
		wait "$apid" || { echo "    host A's destination exited $?:"; sed 's/^/    | /' "$TMP/a2.err"; exit 1; }
		echo "    note: the guest quit after ${SECONDS}s"
	)
	local ret=$?
	pkill -KILL -f -- "$TMP/(a|a2|b)\.sock" 2>/dev/null
	mn_down
	return $ret
}
t_run "migrate net-echo on a tap between two bridged hosts, pinged throughout: bounded loss, the guest answers from the destination; back with no traffic: the announcement moves the bridge entry" t_migrate_net

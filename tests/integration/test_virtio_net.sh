# virtio-net on tap (issue 6): the guest's net-echo in a network namespace made by the test;
# the host pings it and exchanges UDP datagrams; the same with a tap passed as fd=; hostile
# guests; bad flags.

NET_NS=minivmm-it-$$
NET_HELPER=$ROOT/tests/integration/net_helper.py
GUEST_IP=10.0.2.15

net_can_run() {
	[ "$(id -u)" = 0 ] || skip "needs root for a network namespace and a tap device"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	command -v ip >/dev/null && command -v ping >/dev/null || skip "needs iproute2 and ping"
}
net_ns_up() {
	ip netns del "$NET_NS" 2>/dev/null
	ip netns add "$NET_NS" && ip netns exec "$NET_NS" ip link set lo up
}
net_ns_down() {
	[ -n "${NPID:-}" ] && kill -KILL "$NPID" 2>/dev/null
	ip netns del "$NET_NS" 2>/dev/null
	true
}
nsx() { ip netns exec "$NET_NS" "$@"; }
# net_vm [PREFIX...] :: ARGS...: minivmm run ARGS in the namespace, in the background.
net_vm() {
	local pre=()
	while [ "$1" != "::" ]; do pre+=("$1"); shift; done
	shift
	# Not through nsx: $! must be minivmm itself (ip netns exec execs it), so signals reach it.
	ip netns exec "$NET_NS" "${pre[@]}" "${VMM_BIN:-$VMM}" run "$@" >"$TMP/nout" 2>"$TMP/nerr" </dev/null &
	NPID=$!
}
net_wait_out() { # TEXT SECONDS
	wait_out "$TMP/nout" "$1" "$2" "$NPID" || { cat "$TMP/nerr"; return 1; }
}
net_tap_up() {
	nsx ip addr add 10.0.2.1/24 dev tap0 && nsx ip link set tap0 up
}
net_vm_end() { # waits for the VM and its tap; status in RC, output in OUT/ERR
	local i
	wait "$NPID"
	RC=$?
	# The kernel tears the tap down after the last descriptor closes.
	for i in $(seq 1 50); do nsx ip link show tap0 >/dev/null 2>&1 || break; sleep 0.1; done
	NPID=
	OUT=$(cat "$TMP/nout")
	ERR=$(cat "$TMP/nerr")
}

# ping ×1000 and 10,000 UDP datagrams, then "quit" ends the guest with status 0.
net_echo_checks() {
	local ping
	net_wait_out "ready" 60 && net_tap_up || return 1
	ping=$(nsx ping -f -c 1000 -w 60 $GUEST_IP | grep "packets transmitted")
	echo "    note: ping -f -c 1000: $ping"
	grep -q " 1000 received, 0% packet loss" <<<"$ping" || return 1
	nsx python3 "$NET_HELPER" udp $GUEST_IP 7 10000 || return 1
	nsx python3 "$NET_HELPER" quit $GUEST_IP 7 || { echo "    quit not echoed"; return 1; }
	net_vm_end
	expect_rc 0 && expect_out "net-echo: quit after"
}
t_net_echo_tap() {
	net_can_run
	net_ns_up || return 1
	net_vm :: --kernel "$GUEST" --net tap=tap0 --cmdline "scenario=net-echo ip=$GUEST_IP port=7" --timeout 300
	net_echo_checks
	local ok=$?
	net_ns_down
	[ $ok = 0 ] && expect_out "mrg_rxbuf 1"
}
t_net_echo_fd() {
	net_can_run
	net_ns_up || return 1
	# A privileged helper opens the tap; minivmm only gets the descriptor.
	net_vm python3 "$NET_HELPER" tapfd tap0 -- :: --kernel "$GUEST" --net fd=3,mac=02:00:00:aa:bb:cc \
		--cmdline "scenario=net-echo ip=$GUEST_IP port=7" --timeout 300
	net_echo_checks
	local ok=$?
	net_ns_down
	[ $ok = 0 ] && expect_out "mac 02:00:00:aa:bb:cc"
}
t_net_mrg_sanitized() {
	# 256-byte receive buffers: every frame over 244 bytes spans several (num_buffers > 1);
	# through the ASan/UBSan build of minivmm.
	net_can_run
	net_ns_up || return 1
	VMM_BIN=$VMM_ASAN net_vm :: --kernel "$GUEST" --net tap=tap0 \
		--cmdline "scenario=net-echo ip=$GUEST_IP port=7 rxbuf=256" --timeout 300
	local ok=1
	net_wait_out "ready" 60 && net_tap_up &&
		nsx ping -f -c 200 -s 1400 -w 60 $GUEST_IP | grep -q " 200 received" &&
		nsx python3 "$NET_HELPER" udp $GUEST_IP 7 2000 &&
		nsx python3 "$NET_HELPER" quit $GUEST_IP 7 && ok=0
	net_vm_end
	net_ns_down
	[ $ok = 0 ] && expect_rc 0 && ! grep -q "Sanitizer\|runtime error" <<<"$ERR" || return 1
	grep -o "quit after .*" <<<"$OUT" | sed 's/^/    note: /'
	grep -qE "\([1-9][0-9]* frames in several buffers" <<<"$OUT" || { echo "    no multi-buffer frames"; return 1; }
}
t_net_multiqueue() {
	# num_queues=4: two pairs on a multiqueue tap; the guest enables both through the control
	# queue (VQ_PAIRS_SET) and answers on the pair each frame arrived on.
	net_can_run
	net_ns_up || return 1
	net_vm :: --kernel "$GUEST" --net tap=tap0,num_queues=4 \
		--cmdline "scenario=net-echo ip=$GUEST_IP port=7 mq=1" --timeout 300
	local ok=1
	net_wait_out "2 queue pairs active" 60 && net_wait_out ready 10 && net_tap_up &&
		nsx ping -f -c 200 -w 60 $GUEST_IP | grep -q " 200 received" &&
		nsx python3 "$NET_HELPER" udp $GUEST_IP 7 2000 16 &&
		nsx python3 "$NET_HELPER" quit $GUEST_IP 7 && ok=0
	net_vm_end
	net_ns_down
	[ $ok = 0 ] && expect_rc 0 || return 1
	grep -o "pair 0: .*" <<<"$OUT" | sed 's/^/    note: /'
	grep -qE "pair 0: [1-9][0-9]*, pair 1: [1-9][0-9]*" <<<"$OUT" || { echo "    one pair got nothing"; return 1; }
}
t_net_multiqueue_driver_without_mq() {
	# num_queues=4 on a multiqueue tap and a driver without MQ (pair 0 only, as Linux uses
	# fewer pairs than it has vCPUs for): tun spreads the flows it has not seen the guest send
	# over every attached queue, so pair 1's queue must be detached or a share of the host's
	# ARP, pings and datagrams is never read. 16 source ports: 16 flows.
	net_can_run
	net_ns_up || return 1
	net_vm :: --kernel "$GUEST" --net tap=tap0,num_queues=4 \
		--cmdline "scenario=net-echo ip=$GUEST_IP port=7" --timeout 300
	local ok=1
	net_wait_out ready 60 && net_tap_up &&
		nsx ping -c 20 -i 0.05 -w 30 $GUEST_IP | grep -q " 20 received" &&
		nsx python3 "$NET_HELPER" udp $GUEST_IP 7 64 16 &&
		nsx python3 "$NET_HELPER" quit $GUEST_IP 7 && ok=0
	[ $ok = 0 ] || kill -KILL "$NPID" 2>/dev/null  # not its 300 s timeout
	net_vm_end
	net_ns_down
	[ $ok = 0 ] && expect_rc 0
}
t_net_default_mac_stable() {
	net_can_run
	local a b c
	net_ns_up || return 1
	for i in 1 2; do
		net_vm :: --kernel "$GUEST" --net tap=tap0 --cmdline "scenario=net-echo ip=$GUEST_IP" --timeout 60
		net_wait_out ready 60 || { net_ns_down; return 1; }
		kill -TERM "$NPID"; net_vm_end
		eval "m$i=\$(grep -o 'mac [0-9a-f:]*' <<<\"\$OUT\")"
	done
	net_vm :: --kernel "$GUEST" --net tap=tap1 --cmdline "scenario=net-echo ip=$GUEST_IP" --timeout 60
	net_wait_out ready 60 || { net_ns_down; return 1; }
	kill -TERM "$NPID"; net_vm_end
	c=$(grep -o 'mac [0-9a-f:]*' <<<"$OUT")
	net_ns_down
	a=$m1 b=$m2
	[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ] || { echo "    macs: '$a' '$b' (tap0) '$c' (tap1)"; return 1; }
}
# net_hostile ATTACK [big]: runs net-hostile attack=ATTACK through the ASan/UBSan minivmm while
# the host sends frames: ARP requests for the guest's address, or with "big", 1442-byte ICMP
# frames to a fixed MAC (a permanent neighbour entry, so no ARP is needed).
net_hostile() {
	local a=$1 big=${2:-} mac=02:00:00:00:00:99
	net_ns_up || return 1
	VMM_BIN=$VMM_ASAN net_vm :: --kernel "$GUEST" --net tap=tap0,mac=$mac \
		--cmdline "scenario=net-hostile attack=$a" --timeout 120
	net_wait_out "armed" 60 || { net_ns_down; return 1; }
	# Only the large frames, no IPv6 chatter when the link comes up.
	[ -n "$big" ] && nsx sysctl -qw net.ipv6.conf.tap0.disable_ipv6=1 2>/dev/null
	net_tap_up 2>/dev/null # short-header may have ended the VM (and its tap) already
	if [ -n "$big" ]; then
		nsx ip neigh replace $GUEST_IP lladdr $mac dev tap0 nud permanent 2>/dev/null
		nsx ping -c 60 -i 0.2 -s 1400 -W 1 $GUEST_IP >/dev/null 2>&1 &
	else
		nsx ping -c 30 -i 0.2 -W 1 $GUEST_IP >/dev/null 2>&1 &
	fi
	net_vm_end
	net_ns_down
	expect_rc 0 && expect_out "recovered after reset" || { echo "    (attack $a)"; return 1; }
	if [ "$a" = small-rx ]; then
		expect_out "frames that fit no buffer dropped, device up" && expect_no_err ||
			{ echo "    (attack $a)"; return 1; }
	else
		expect_out "device reports NEEDS_RESET" && expect_err "device needs reset" ||
			{ echo "    (attack $a)"; return 1; }
	fi
	! grep -q "Sanitizer\|runtime error" <<<"$ERR" || { echo "    sanitizer report (attack $a)"; return 1; }
}
t_net_hostile() {
	net_can_run
	local a
	for a in short-header no-writable small-rx; do
		net_hostile $a || return 1
	done
}
# Issue 13, finding 1: MRG_RXBUF, a receive queue of one entry re-posted with 1-byte buffers
# while a frame waits (a host heap overflow before the fix; UBSan reports it in this build).
t_net_hostile_mrg_queue_of_one() {
	net_can_run
	net_hostile mrg-queue-of-one big
}
# Issue 13, finding 7: VQ_PAIRS_SET while a large frame waits for receive buffers: the answer
# must come back on the control queue (it used to land in a receive buffer).
t_net_ctrl_while_frame_waits() {
	net_can_run
	local mac=02:00:00:00:00:99
	net_ns_up || return 1
	net_vm :: --kernel "$GUEST" --net tap=tap0,num_queues=4,mac=$mac \
		--cmdline "scenario=net-hostile attack=ctrl-while-frame-waits" --timeout 120
	net_wait_out "armed" 60 || { net_ns_down; return 1; }
	net_tap_up
	nsx ip neigh replace $GUEST_IP lladdr $mac dev tap0 nud permanent
	nsx ping -c 60 -i 0.2 -s 1400 -W 1 $GUEST_IP >/dev/null 2>&1 &
	net_vm_end
	net_ns_down
	expect_rc 0 && expect_out "control command answered on the control queue, frame delivered"
}
t_net_bad_flags() {
	local fails=0
	run_case() { bad_case "$@" || { echo "    (case: ${*:2})"; fails=$((fails + 1)); }; }
	run_case "--net: exactly one of tap=NAME or fd=N" --kernel "$GUEST" --net mac=02:00:00:00:00:01
	run_case "--net: exactly one of tap=NAME or fd=N" --kernel "$GUEST" --net tap=t0,fd=3
	run_case "--net: mac=01:00:00:00:00:01" --kernel "$GUEST" --net tap=t0,mac=01:00:00:00:00:01
	run_case "--net: mac=zz" --kernel "$GUEST" --net tap=t0,mac=zz
	run_case "--net: num_queues=3" --kernel "$GUEST" --net tap=t0,num_queues=3
	run_case "--net: fd=1" --kernel "$GUEST" --net fd=1
	run_case "--net: unknown option 'speed'" --kernel "$GUEST" --net tap=t0,speed=10
	run_case "--net: tap=abcdefghijklmnopq" --kernel "$GUEST" --net tap=abcdefghijklmnopq
	run_case "--net fd=7: not a tap device" --kernel "$GUEST" --net fd=7 7</dev/null
	[ $fails -eq 0 ]
}

t_run "net-echo on tap: ping ×1000 and 10,000 UDP datagrams, 0 loss, 0 corruption" t_net_echo_tap
t_run "net-echo on a tap passed as fd= (no CAP_NET_ADMIN needed)" t_net_echo_fd
t_run "MRG_RXBUF: frames over several 256-byte buffers, ASan/UBSan minivmm" t_net_mrg_sanitized
t_run "multiqueue: 2 pairs on a multiqueue tap, both carry traffic" t_net_multiqueue
t_run "multiqueue tap, driver without MQ: pair 1's queue detached, 16 flows all answered" t_net_multiqueue_driver_without_mq
t_run "default MAC stable for the same configuration" t_net_default_mac_stable
t_run "net hostile: short header, no writable part → NEEDS_RESET; frames larger than the buffers dropped (issue 13 #11)" t_net_hostile
t_run "net hostile: MRG_RXBUF with a receive queue of one (issue 13 #1) → NEEDS_RESET, no overflow" t_net_hostile_mrg_queue_of_one
t_run "net: VQ_PAIRS_SET while a frame waits (issue 13 #7) → answered on the control queue" t_net_ctrl_while_frame_waits
t_run "--net bad input" t_net_bad_flags

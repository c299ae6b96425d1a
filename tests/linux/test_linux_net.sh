# Issue 7, virtio-net part: the kernel configures eth0 by DHCP (ip=dhcp) from dnsmasq on the
# host side of a tap in a network namespace made by the test, then the host pings it. The same
# boot checks console=hvc0: the kernel's log (from hvc0's registration on) comes through
# virtio-console, with COM1 off.

l_net_dhcp() {
	local ns=minivmm-lnx-$$ ping i
	[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] || skip "needs root and /dev/net/tun"
	command -v dnsmasq >/dev/null && command -v ping >/dev/null || skip "needs dnsmasq and ping (make deps)"
	rootfs "$TMP/root.img"
	ip netns del $ns 2>/dev/null
	ip netns add $ns && ip netns exec $ns ip link set lo up || return 1
	# The tap exists before the VM (persistent, then attached by minivmm) so dnsmasq can bind it.
	ip netns exec $ns ip tuntap add dev tap0 mode tap vnet_hdr &&
		ip netns exec $ns ip addr add 10.0.2.1/24 dev tap0 && ip netns exec $ns ip link set tap0 up || return 1
	ip netns exec $ns dnsmasq --no-daemon --conf-file=/dev/null --interface=tap0 --bind-interfaces \
		--dhcp-range=10.0.2.15,10.0.2.15,12h --dhcp-leasefile="$TMP/leases" --pid-file="$TMP/dnsmasq.pid" \
		>"$TMP/dnsmasq.log" 2>&1 &
	local dpid=$!
	ip netns exec $ns "${VMM_BIN:-$VMM}" run --kernel "${LINUX_KERNEL:-$LINUX_DIR/vmlinux}" --memory 128M $HOST_VMM_ARGS \
		--disk "path=$TMP/root.img" --net tap=tap0 --console stdio --serial off \
		--cmdline "console=hvc0 $ROOTARGS ro ip=dhcp $HOST_ARGS" >"$TMP/lout" 2>"$TMP/lerr" </dev/null &
	LPID=$!
	LSTART=$SECONDS
	wait_line "Run /init as init process" 240
	local ok=$?
	if [ $ok = 0 ]; then
		# Resolve the guest's MAC first: the host queues only 3 packets per unresolved
		# neighbour, and this kernel (emulated here) answers ARP slowly.
		ip netns exec $ns ping -c 1 -W 10 10.0.2.15 >/dev/null
		# Five a second: this kernel runs emulated here and needs tens of ms per echo (at 20 a
		# second the replies queue up to 2.7 s late and ping gives up on the last ones); -W 10
		# lets a late reply count, so only a lost one fails.
		ip netns exec $ns ping -c 100 -i 0.2 -W 10 10.0.2.15 >"$TMP/ping.log"
		ping=$(grep "packets transmitted" "$TMP/ping.log")
		grep -q " 100 received" "$TMP/ping.log" || awk -F"icmp_seq=" "/icmp_seq/ {split(\$2,a,\" \"); print a[1]}" "$TMP/ping.log" | tr "\n" " " | sed "s/^/    seqs answered: /"
		echo "    note: $ping"
		grep -q " 100 received, 0% packet loss" <<<"$ping" || ok=1
	fi
	linux_stop
	kill $dpid 2>/dev/null; wait $dpid 2>/dev/null
	ip netns del $ns
	[ $ok = 0 ] && expect_out "my address is 10.0.2.15" && expect_out "IP-Config: Complete:" &&
		expect_out "VFS: Mounted root" && expect_out "Run /init as init process" ||
		{ grep -i "dhcp\|IP-Config\|eth0\|virtio" "$TMP/lout" | head; cat "$TMP/dnsmasq.log"; return 1; }
}

t_run "linux: console=hvc0 (virtio-console), ip=dhcp over virtio-net from dnsmasq, host pings ×100" l_net_dhcp

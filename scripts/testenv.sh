#!/usr/bin/env bash
# testenv.sh: bring a veth + network-namespace test environment up or down
# by hand, for operators and `make demo`. It is the same network the
# integration tests build (probetest.ReplayNet), but with named namespaces
# so that `ip netns exec` reaches them:
#
#   netns NAME-tx: tx0 ──veth──► rx0 :netns NAME-rx
#
# Replay or send traffic into tx0 inside NAME-tx; run spanflow on rx0 inside
# NAME-rx. By default neither end has an address and IPv6 is off, so only
# what you send arrives on rx0 (the kernel would otherwise add its own MLD
# and router solicitations). tx0 has a pfifo_fast qdisc, so a receiver that
# falls behind backpressures the sender instead of making veth drop.
# Addresses (-a) come only from 198.18.0.0/15 and 2001:db8::/32.
set -euo pipefail

usage() {
	cat <<EOF
usage: scripts/testenv.sh [-h] [-n NAME] [-a] [-f] up|down|status

  up      create netns NAME-tx and NAME-rx joined by veth tx0 <-> rx0
  down    delete both namespaces (and with them the veth pair)
  status  show both ends: counters, qdisc, attached XDP program

  -n NAME  environment name (default: sf); lowercase letters, digits, '-'
  -a       assign addresses: tx0 198.18.0.1/30 and 2001:db8:0:1::1/64,
           rx0 198.18.0.2/30 and 2001:db8:0:1::2/64 (leaves IPv6 on)
  -f       down: also kill the processes still running in the namespaces
  -h       this help

examples:
  scripts/testenv.sh up
  ip netns exec sf-rx bin/spanflow -i rx0 -n 127.0.0.1:2055
  ip netns exec sf-tx tcpreplay --topspeed -i tx0 capture.pcap
  scripts/testenv.sh status
  scripts/testenv.sh down
EOF
}

name=sf
addresses=0
force=0
while getopts ":hn:af" opt; do
	case "$opt" in
	h) usage; exit 0 ;;
	n) name=$OPTARG ;;
	a) addresses=1 ;;
	f) force=1 ;;
	:) echo "testenv.sh: -$OPTARG needs a value" >&2; usage >&2; exit 2 ;;
	*) echo "testenv.sh: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [[ $# -ne 1 ]]; then
	usage >&2
	exit 2
fi
action=$1

if [[ ! "$name" =~ ^[a-z][a-z0-9-]{0,15}$ ]]; then
	echo "testenv.sh: name '$name': use 1-16 lowercase letters, digits or '-', starting with a letter" >&2
	exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "testenv.sh: need root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)" >&2
	exit 1
fi
for tool in ip tc; do
	command -v "$tool" >/dev/null || { echo "testenv.sh: $tool not found: run scripts/setup.sh (iproute2)" >&2; exit 1; }
done

tx_ns=$name-tx
rx_ns=$name-rx

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

down() {
	local ns pids=""
	for ns in "$tx_ns" "$rx_ns"; do
		ns_exists "$ns" && pids+=" $(ip netns pids "$ns" || true)"
	done
	# shellcheck disable=SC2086 # split on purpose: one line, no stray blanks
	pids=$(echo $pids)
	if [[ -n "$pids" ]]; then
		if [[ $force -eq 0 ]]; then
			echo "testenv.sh: processes still run in $tx_ns/$rx_ns (pids $pids); stop them or use -f" >&2
			return 1
		fi
		# shellcheck disable=SC2086 # one pid per word
		kill $pids 2>/dev/null || true
	fi
	for ns in "$tx_ns" "$rx_ns"; do
		if ns_exists "$ns"; then
			ip netns delete "$ns"
		fi
	done
}

up() {
	if ns_exists "$tx_ns" || ns_exists "$rx_ns"; then
		echo "testenv.sh: $tx_ns or $rx_ns already exists: 'scripts/testenv.sh -n $name down' first" >&2
		return 1
	fi
	trap 'echo "testenv.sh: up failed; removing what was made" >&2; force=1 down || true' ERR
	ip netns add "$tx_ns"
	ip netns add "$rx_ns"
	local ns
	for ns in "$tx_ns" "$rx_ns"; do
		ip -n "$ns" link set lo up
		if [[ $addresses -eq 0 ]]; then
			ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
		fi
	done
	ip link add tx0 netns "$tx_ns" type veth peer name rx0 netns "$rx_ns"
	ip -n "$tx_ns" link set tx0 txqueuelen 1000
	tc -n "$tx_ns" qdisc replace dev tx0 root pfifo_fast
	if [[ $addresses -eq 1 ]]; then
		ip -n "$tx_ns" addr add 198.18.0.1/30 dev tx0
		ip -n "$rx_ns" addr add 198.18.0.2/30 dev rx0
		ip -n "$tx_ns" addr add 2001:db8:0:1::1/64 dev tx0 nodad
		ip -n "$rx_ns" addr add 2001:db8:0:1::2/64 dev rx0 nodad
	fi
	ip -n "$tx_ns" link set tx0 up
	ip -n "$rx_ns" link set rx0 up
	trap - ERR
	echo "testenv.sh: up: $tx_ns/tx0 -> $rx_ns/rx0"
	echo "  probe:  ip netns exec $rx_ns <spanflow> -i rx0 ..."
	echo "  replay: ip netns exec $tx_ns tcpreplay --topspeed -i tx0 FILE.pcap"
	if [[ $addresses -eq 1 ]]; then
		echo "  ping:   ip netns exec $tx_ns ping -c 3 198.18.0.2"
	fi
}

status() {
	local ns dev pair
	for pair in "$tx_ns:tx0" "$rx_ns:rx0"; do
		ns=${pair%%:*}
		dev=${pair#*:}
		if ! ns_exists "$ns"; then
			echo "$ns: not present"
			continue
		fi
		echo "== $ns"
		ip -n "$ns" -s -d link show "$dev"
		ip -n "$ns" -br addr show "$dev"
		tc -n "$ns" -s qdisc show dev "$dev"
	done
}

case "$action" in
up) up ;;
down) down ;;
status) status ;;
*) echo "testenv.sh: unknown action '$action'" >&2; usage >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# demo.sh: spanflow on one end of a veth pair between two throwaway network
# namespaces; the other end sends a ping, a TCP connection to a telnet and a
# web port, UDP to DNS and some IPv6. spanflow prints the flows it harvests.
# Uses only 198.18.0.0/15 and 2001:db8::/32; removes everything it made.
set -euo pipefail
[[ "${1:-}" == "-h" ]] && { echo "usage: scripts/demo.sh   (needs root; run 'make demo')"; exit 0; }
[[ $(id -u) -eq 0 ]] || { echo "demo.sh: needs root (network namespaces and XDP)" >&2; exit 1; }

cd "$(dirname "$0")/.."
probe_ns=sf-demo-probe-$$
peer_ns=sf-demo-peer-$$
cleanup() {
	[[ -n "${spanflow_pid:-}" ]] && kill "$spanflow_pid" 2>/dev/null && wait "$spanflow_pid" 2>/dev/null
	ip netns del "$probe_ns" 2>/dev/null || true
	ip netns del "$peer_ns" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$probe_ns"
ip netns add "$peer_ns"
ip -n "$probe_ns" link add veth-probe type veth peer name veth-peer netns "$peer_ns"
ip -n "$probe_ns" addr add 198.18.0.2/24 dev veth-probe
ip -n "$peer_ns" addr add 198.18.0.1/24 dev veth-peer
ip -n "$probe_ns" addr add 2001:db8::2/64 dev veth-probe nodad
ip -n "$peer_ns" addr add 2001:db8::1/64 dev veth-peer nodad
for ns in "$probe_ns" "$peer_ns"; do ip -n "$ns" link set lo up; done
ip -n "$probe_ns" link set veth-probe up
ip -n "$peer_ns" link set veth-peer up

echo "== spanflow attached to veth-probe; flows appear at each 1 s harvest"
ip netns exec "$probe_ns" ./bin/spanflow -i veth-probe --xdp-mode native --duration 6s &
spanflow_pid=$!
sleep 1

peer() { ip netns exec "$peer_ns" "$@"; }
peer ping -c 3 -i 0.2 -q 198.18.0.2 >/dev/null || true
peer bash -c 'exec 3<>/dev/tcp/198.18.0.2/23' 2>/dev/null || true   # telnet (refused: RST)
peer bash -c 'exec 3<>/dev/tcp/198.18.0.2/9090' 2>/dev/null || true # web on 9090
peer bash -c 'echo -n dns-query >/dev/udp/198.18.0.2/53' || true
peer ping -6 -c 2 -i 0.2 -q 2001:db8::2 >/dev/null || true

wait "$spanflow_pid"
spanflow_pid=
echo "== demo done; namespaces removed"

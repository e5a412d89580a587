#!/usr/bin/env bash
# demo.sh: the classic NetFlow lecture, live. Three throwaway network
# namespaces: a client (198.18.0.1, 2001:db8::1) and a server (198.18.0.2,
# 2001:db8::2) joined through a bridge in a "switch" namespace, where
# spanflow watches both bridge ports with XDP (as on a SPAN port) and
# exports bidirectional NetFlow v9 to `spanflow collect` on loopback.
# The client opens a telnet session, pings, fetches a page from a web
# server on port 9090, asks DNS and pings over IPv6. The decoded flows
# print as they arrive, then `show cache` and `show top-talkers`.
# Uses only 198.18.0.0/15 and 2001:db8::/32; removes everything it made.
set -euo pipefail
[[ "${1:-}" == "-h" ]] && { echo "usage: scripts/demo.sh   (needs root; run 'make demo')"; exit 0; }
[[ $(id -u) -eq 0 ]] || { echo "demo.sh: needs root (network namespaces and XDP)" >&2; exit 1; }

cd "$(dirname "$0")/.."
bin=$PWD/bin/spanflow
tag=sfdemo$$
client=$tag-client server=$tag-server switch=$tag-switch
control=/run/$tag.sock
pins=/sys/fs/bpf/$tag
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for ns in "$client" "$server" "$switch"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$control" "$pins" 2>/dev/null || true
}
trap cleanup EXIT

for ns in "$client" "$server" "$switch"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip -n "$switch" link add br0 type bridge
ip -n "$switch" link set br0 up
for side in client server; do
	ns=${!side}
	ip -n "$switch" link add "sw-$side" type veth peer name eth0 netns "$ns"
	ip -n "$switch" link set "sw-$side" master br0 up
	ip -n "$ns" link set eth0 up
done
ip -n "$client" addr add 198.18.0.1/24 dev eth0
ip -n "$server" addr add 198.18.0.2/24 dev eth0
ip -n "$client" addr add 2001:db8::1/64 dev eth0 nodad
ip -n "$server" addr add 2001:db8::2/64 dev eth0 nodad
nsdo() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

echo "== spanflow collect (v9 decoder) on 127.0.0.1:2055 in the switch namespace"
ip netns exec "$switch" "$bin" collect -l 127.0.0.1:2055 &
pids+=($!)
echo "== spanflow on sw-client and sw-server: bidirectional v9, 2 s inactive timeout"
# The interface is left out of the key so the two directions, which enter
# on different bridge ports, pair into one record.
ip netns exec "$switch" "$bin" -i sw-client -i sw-server -n 127.0.0.1:2055 -v 9 --bidirectional \
	--key src-addr,dst-addr,src-port,dst-port,proto,tos,vlan \
	--inactive-timeout 2s --fin-grace 500ms --harvest-interval 200ms \
	--control "$control" --pin-dir "$pins" --detach --log-level warn &
spanflow=$!
pids+=($spanflow)
for _ in $(seq 50); do [[ -S $control ]] && break; sleep 0.1; done

echo "== servers: telnet (23), web (9090), DNS (53) on 198.18.0.2"
nsdo "$server" bash -c 'printf "login: " | timeout 5 nc -l 23 >/dev/null' &
pids+=($!)
nsdo "$server" bash -c 'printf "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from 9090\n" | timeout 5 nc -N -l 9090 >/dev/null' &
pids+=($!)
nsdo "$server" bash -c 'timeout 5 nc -u -l 53 >/dev/null' &
pids+=($!)
sleep 0.5

echo "== client 198.18.0.1: telnet, ping, web on 9090, DNS, IPv6 ping"
printf 'demo\r\nexit\r\n' | nsdo "$client" timeout 3 nc -N 198.18.0.2 23 >/dev/null || true
nsdo "$client" ping -c 3 -i 0.2 -q 198.18.0.2 >/dev/null || true
printf 'GET / HTTP/1.0\r\nHost: 198.18.0.2\r\n\r\n' | nsdo "$client" timeout 3 nc -N 198.18.0.2 9090 >/dev/null || true
# A DNS query for www.example. (type A), as a resolver would send it.
nsdo "$client" bash -c 'printf "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x00\x00\x01\x00\x01" >/dev/udp/198.18.0.2/53' || true
nsdo "$client" ping -6 -c 2 -i 0.2 -q 2001:db8::2 >/dev/null || true

sleep 1
echo
echo "== spanflow show cache"
"$bin" show cache --control "$control"
echo
echo "== spanflow show top-talkers 5"
"$bin" show top-talkers 5 --control "$control"
echo
echo "== waiting for the inactive timeout, then stopping spanflow (it flushes and detaches)"
sleep 3
kill -TERM "$spanflow"
wait "$spanflow" || true
sleep 0.5 # the last datagrams reach the collector
echo "== demo done; namespaces, pins and sockets removed"

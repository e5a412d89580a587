#!/usr/bin/env bash
# demo.sh: the NetFlow lecture's "Network Flows" slides, live, one slide a
# step. Three throwaway network namespaces: a client (198.18.0.1) and a
# server (198.18.0.2) joined through a bridge in a "switch" namespace, where
# spanflow watches both bridge ports with XDP, as a passive monitor on a
# mirror port would. The client does what the slides do — telnet, ping,
# a browser on a web server at port 9090 — and each step runs spanflow
# with the flow definition of its slide and prints the flows as a table:
#
#   1  unidirectional, source/destination IP key       --key ip
#   2  unidirectional, IP + port + protocol key        --key full
#   3  bidirectional, IP + port + protocol key         --bidirectional
#   4  application flow: HTTP on port 9090, by payload  (no port configured)
#   5  aggregated flow, flows of flows                  -v 8 --aggregation source-destination
#
# Step 5's aggregates are what `spanflow collect` decodes from the NetFlow
# v8 export on loopback. IPv6 is off in the namespaces so that the tables
# hold only what the slides do (no neighbour discovery or MLD). Uses only
# 198.18.0.0/15; every process, namespace and file it makes is removed on
# exit, also when interrupted. About 20 seconds.
set -euo pipefail
[[ "${1:-}" == "-h" ]] && { echo "usage: scripts/demo.sh   (needs root; run 'make demo')"; exit 0; }
[[ $(id -u) -eq 0 ]] || { echo "demo.sh: needs root (network namespaces and XDP)" >&2; exit 1; }
for tool in ip ss nc ping python3 timeout; do
	command -v "$tool" >/dev/null || { echo "demo.sh: $tool not found: run scripts/setup.sh" >&2; exit 1; }
done

cd "$(dirname "$0")/.."
bin=$PWD/bin/spanflow
[[ -x $bin ]] || { echo "demo.sh: $bin missing: run 'make build'" >&2; exit 1; }
tag=sfdemo$$ # unique to this run: the e2e tests make namespaces too
client=$tag-client server=$tag-server switch=$tag-switch
control=/run/$tag.sock
collector=127.0.0.1:2055 # loopback of the switch namespace
tmp=$(mktemp -d "/tmp/$tag.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	# and whatever still runs inside the demo's own namespaces
	for ns in "$client" "$server" "$switch"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
	done
	wait 2>/dev/null || true
	for ns in "$client" "$server" "$switch"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$control" "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# nsdo NS CMD…: run CMD in NS. A process started in the background uses
# `ip netns exec` itself, so that $! is its pid (exec, no subshell) and
# `timeout` passes a TERM on to it.
nsdo() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# The network: client ── sw-client [br0] sw-server ── server.
for ns in "$client" "$server" "$switch"; do
	ip netns add "$ns"
	nsdo "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
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

# waitlisten NS PORT: wait (at most 5 s) until a TCP socket listens on PORT
# in NS; it asks the socket table, so it sends nothing a probe would count.
waitlisten() {
	local _
	for _ in $(seq 50); do
		[[ -n $(nsdo "$1" ss -Hltn "sport = :$2") ]] && return 0
		sleep 0.1
	done
	echo "demo.sh: nothing listens on port $2 in $1" >&2
	return 1
}

# The web server of the application slide: a real HTTP server on port
# 9090, up for the whole demo (bounded by timeout).
mkdir -p "$tmp/www"
echo "hello from port 9090" >"$tmp/www/index.html"
ip netns exec "$server" timeout 120 python3 -m http.server 9090 --bind 198.18.0.2 --directory "$tmp/www" >/dev/null 2>&1 &
pids+=($!)
waitlisten "$server" 9090

# The collector on loopback, for the whole demo: it decodes every export
# (v9 for steps 1-4, v8 aggregates for step 5) as JSON lines.
ip netns exec "$switch" timeout 120 "$bin" collect -l "$collector" --json >"$tmp/collect.json" 2>"$tmp/collect.log" &
pids+=($!)

# telnet: no telnet client or server is installed by setup.sh, so a
# listener on TCP 23 that says "login: " and a client that types a line
# stand in for them: the same TCP conversation as far as flows go.
run_telnet() {
	ip netns exec "$server" bash -c 'printf "login: " | timeout 5 nc -l 198.18.0.2 23 >/dev/null' &
	local srv=$!
	waitlisten "$server" 23
	printf 'demo\r\n' | nsdo "$client" timeout 3 nc -N 198.18.0.2 23 >/dev/null || true
	wait "$srv" || true
}
run_ping() { nsdo "$client" ping -c 3 -i 0.2 -q 198.18.0.2 >/dev/null || true; }
# The browser of the slide ("firefox http://10.0.0.2:9090"): curl if it is
# installed, else Python's urllib; either sends a plain HTTP GET.
run_browser() {
	if command -v curl >/dev/null; then
		nsdo "$client" timeout 3 curl -s -o /dev/null http://198.18.0.2:9090/ || true
	else
		nsdo "$client" timeout 3 python3 -c 'import urllib.request; urllib.request.urlopen("http://198.18.0.2:9090/", timeout=2).read()' || true
	fi
}

# probe FLAGS…: run spanflow on both switch ports with the step's flags
# until the step's traffic is done (stop), printing expired flows as JSON.
probe() {
	rm -f "$control"
	ip netns exec "$switch" timeout 30 "$bin" -i sw-client -i sw-server -n "$collector" \
		--inactive-timeout 10s --harvest-interval 200ms --pin-dir "" --control "$control" \
		--print=json --log-level warn "$@" >"$tmp/flows.json" &
	probe_pid=$!
	pids+=($probe_pid)
	local _
	for _ in $(seq 50); do [[ -S $control ]] && return 0; sleep 0.1; done
	echo "demo.sh: spanflow did not start" >&2
	return 1
}
# stop: spanflow flushes every flow in its cache on SIGTERM (end reason
# "forced"), prints them and sends the last export.
stop() {
	sleep 0.5 # the last packets reach a harvest
	kill -TERM "$probe_pid"
	wait "$probe_pid" || true
}

# table MODE FILE: the slide's table of the JSON records in FILE.
table() {
	python3 - "$@" <<'EOF'
import json, sys
mode, path = sys.argv[1], sys.argv[2]
recs = [json.loads(l) for l in open(path) if l.strip()]
if mode == "agg":
    recs = [r for r in recs if r.get("version") == 8]
recs.sort(key=lambda r: (r["start"], r["src_addr"], r["src_port"]))
protos = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6"}
def port(r, which):
    p = r[which]
    if r["proto"] in (1, 58) and which == "dst_port":  # NetFlow puts ICMP type.code in the dst port
        return "%d.%d" % (p >> 8, p & 0xff)
    return str(p)
cols = {
    "ip":    ["Flow", "Source IP", "Destination IP", "Packets", "Bytes"],
    "full":  ["Flow", "Source IP", "Destination IP", "prot", "srcPort", "dstPort", "Packets", "Bytes"],
    "bidir": ["Flow", "Source IP", "Destination IP", "prot", "srcPort", "dstPort", "Pkts ->", "Pkts <-", "Bytes ->", "Bytes <-"],
    "app":   ["Flow", "Source IP", "Destination IP", "prot", "srcPort", "dstPort", "Application", "Verdict", "Server"],
    "agg":   ["Flow", "Source IP", "Destination IP", "Flows", "Packets", "Bytes"],
}[mode]
rows = []
for i, r in enumerate(recs, 1):
    base = [str(i), r["src_addr"], r["dst_addr"]]
    full = base + [protos.get(r["proto"], str(r["proto"])), port(r, "src_port"), port(r, "dst_port")]
    rows.append({
        "ip": base + [str(r["packets"]), str(r["bytes"])],
        "full": full + [str(r["packets"]), str(r["bytes"])],
        "bidir": full + [str(r["packets"]), str(r.get("rev_packets", 0)), str(r["bytes"]), str(r.get("rev_bytes", 0))],
        "app": full + [r["application"] or "-", r["app_verdict"], r.get("app_server") or "-"],
        "agg": base + [str(r.get("flows", 0)), str(r["packets"]), str(r["bytes"])],
    }[mode])
if not rows:
    print("   (no flows)")
    sys.exit(0)
if mode == "agg" and not any(r.get("flows") for r in recs):
    # the Catalyst v8 schemes (source-destination among them) carry no flow count
    cols = cols[:3] + cols[4:]
    rows = [row[:3] + row[4:] for row in rows]
w = [max(len(c), *(len(row[k]) for row in rows)) for k, c in enumerate(cols)]
line = lambda cells: "   " + "  ".join(c.ljust(w[k]) for k, c in enumerate(cells)).rstrip()
print(line(cols))
for row in rows:
    print(line(row))
EOF
}

step() { echo; echo "== $1"; }
cmd() { echo "   client% $*"; }
flags() { echo "   spanflow -i sw-client -i sw-server $*"; }

echo "spanflow demo: the NetFlow lecture's flow definitions, live"
echo "   client 198.18.0.1 ── [switch: spanflow on both ports] ── server 198.18.0.2 (telnet 23, web 9090)"

step '1/5 "Unidirectional Flow with Source/Destination IP Key"'
flags --key ip
probe --key ip
cmd telnet 198.18.0.2; run_telnet
cmd ping 198.18.0.2; run_ping
stop
table ip "$tmp/flows.json"

step '2/5 "Unidirectional Flow with IP, Port, Protocol Key"  (the 7-tuple: + ports, protocol, ToS, interface)'
flags --key full
probe --key full
cmd telnet 198.18.0.2; run_telnet
cmd ping 198.18.0.2; run_ping
stop
table full "$tmp/flows.json"
echo "   (ICMP: dstPort is type.code, as NetFlow exports it: 8.0 echo request, 0.0 echo reply)"

# Bidirectional: the two directions enter on different switch ports, so
# the input interface is left out of the key for them to pair.
bikey=src-addr,dst-addr,src-port,dst-port,proto,tos,vlan
step '3/5 "Bidirectional Flow with IP, Port, Protocol Key"  (RFC 5103: one record, both directions)'
flags --bidirectional --key $bikey
probe --bidirectional --key $bikey
cmd telnet 198.18.0.2; run_telnet
cmd ping 198.18.0.2; run_ping
stop
table bidir "$tmp/flows.json"

step '4/5 "Application Flow"  (the web server on port 9090, named from its payload; no port configured)'
flags --bidirectional --key $bikey --classify
probe --bidirectional --key $bikey --classify
cmd firefox http://198.18.0.2:9090; run_browser
stop
table app "$tmp/flows.json"

step '5/5 "Aggregated Flow": flows of flows  (NetFlow v8 source-destination aggregation, decoded by spanflow collect)'
flags -v 8 --aggregation source-destination -n $collector
probe -v 8 --aggregation source-destination
cmd telnet 198.18.0.2; run_telnet
cmd ping 198.18.0.2; run_ping
stop
echo "   main active flow table:"
table full "$tmp/flows.json"
for _ in $(seq 20); do # the last datagrams reach the collector
	grep -q '"version":8' "$tmp/collect.json" && break
	sleep 0.1
done
sleep 0.2
echo "   source/destination IP aggregate, as the collector received it (each row sums the flows above between"
echo "   that source and destination; this v8 scheme has no flow count field):"
table agg "$tmp/collect.json"
echo
echo "demo done; namespaces, processes and files removed"

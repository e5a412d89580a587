#!/usr/bin/env bash
# bench-peers.sh: run spanflow, softflowd and pmacctd (nfprobe) on the same
# generated traffic through a veth pair in network namespaces, each
# exporting NetFlow v9 to its own nfcapd on loopback, and score what each
# collector got against the generator's ground truth. Writes DIR/peers.md
# (the table, start-up costs, where packets went) and DIR/peers.png.
# The harness is the Go test bench/peers.TestPeers; the plot is drawn by
# bench/peers/plot, a module of its own (gonum/plot stays out of go.mod).
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: scripts/bench-peers.sh [-h] [-o DIR] [-- go test -args flags]

Needs root (network namespaces, XDP, BPF_PROG_RUN), bin/spanflow (make
build) and softflowd, pmacctd, nfcapd, nfdump (scripts/setup.sh). Takes
8-10 minutes on 2 cores: 4 mixes x 2 rates x 3 probes.

  -o DIR   where peers.md and peers.png go (default: bench/results)
  -h       this help
Flags after -- go to the harness, e.g. -- -peers.mixes flood -peers.rates 0
(see bench/peers/peers_test.go). The raw results are kept in DIR/peers.json.tmp.
USAGE
}

out=bench/results
while getopts "ho:" opt; do
	case $opt in
	h) usage; exit 0 ;;
	o) out=$OPTARG ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[[ "${1:-}" == "--" ]] && shift

if [[ $EUID -ne 0 ]]; then
	echo "bench-peers.sh: skipped: needs root to create network namespaces, attach XDP and run BPF programs (try: sudo make bench-peers)" >&2
	exit 0
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
GO=${GO:-go}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# -v: each run logs a line as it ends (shown); the whole log goes to
# $out/peers-log.tmp (git ignores *.tmp there). -timeout bounds it all.
log="$out/peers-log.tmp"
set +e
$GO test -count=1 -v -run '^TestPeers$' -timeout 25m ./bench/peers \
	-args -peers -peers.out "$tmp" -peers.spanflow "$root/bin/spanflow" "$@" |
	tee "$log" | grep -E '^(--- (PASS|FAIL|SKIP)|    peers_test.go:[0-9]+: [a-z]+/[0-9a-z]+/[a-z]+: )'
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 || ! -s "$tmp/peers.json" ]]; then
	tail -n 40 "$log" >&2
	echo "bench-peers.sh: the harness failed (exit $status); full log in $log" >&2
	exit 1
fi
cp "$tmp/peers.md" "$out/peers.md"
# The raw results stay next to them, ignored by git: peers.md can be
# written again from them (-- -peers.render FILE) without running again.
cp "$tmp/peers.json" "$out/peers.json.tmp"
(cd bench/peers/plot && $GO run . -in "$tmp/peers.json" -out "$out/peers.png")
echo "bench-peers.sh: wrote $out/peers.md and $out/peers.png" >&2

#!/usr/bin/env bash
# bench.sh: run spanflow's benchmarks and write what they measured to
# bench/results/: one raw `go test -bench` output per suite (<suite>.txt)
# and SUMMARY.md, a markdown table of every benchmark plus the targets,
# each marked met or missed.
#
# To add a suite, add a line to SUITES; to add a target, a line to TARGETS.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: scripts/bench.sh [-h] [-o DIR]

Runs `go test -run '^$' -bench . -benchmem` over each suite listed in the
script (as root: the kernel-path benchmarks load XDP programs and run them
with BPF_PROG_TEST_RUN), then writes DIR/<suite>.txt and DIR/SUMMARY.md.

  -o DIR   where results go (default: bench/results)
  -h       this help
EOF
}

# Suites: "name|package|extra go test flags". Each writes <name>.txt.
SUITES=(
	"datapath|./bench|-benchtime=3x -timeout=30m"
	"cache|./cache|-benchtime=1s -timeout=20m"
	"exporter|./exporter|-benchtime=1s -timeout=20m"
	"prefixes|./cache/prefixes|-benchtime=2s -timeout=20m"
	"classify|./probe/classify|-benchtime=1s -timeout=10m"
)

# Targets: "what|benchmark name (no -N suffix)|metric unit|<= or >=|goal".
TARGETS=(
	"hot path: xdp_flow ÷ minimal counter (IPv4/TCP, flow exists)|BenchmarkXDPHotPath/flow|x-minimal|<=|1.3"
	"new flow: xdp_flow|BenchmarkXDPNewFlow/flow|ns/pkt|<=|250"
	"harvest drain, 64 k entries|BenchmarkHarvest64k|entries/s|>=|2000000"
	"harvest drain, 1 M entries|BenchmarkHarvest1M|entries/s|>=|2000000"
	"harvest drain, 64 k entries, per CPU-second of the process|BenchmarkHarvest64k|entries/s-cpu|>=|2000000"
	"harvest drain, 1 M entries, per CPU-second of the process|BenchmarkHarvest1M|entries/s-cpu|>=|2000000"
	"durable harvest (pinned daemon: read, ledger, clear), 64 k entries|BenchmarkHarvestDurable64k|entries/s|>=|2000000"
	"durable harvest (pinned daemon: read, ledger, clear), 1 M entries|BenchmarkHarvestDurable1M|entries/s|>=|2000000"
	"kernel memory per flow slot, this machine|BenchmarkFlowSlotMemory/64k|B/slot|<=|256"
	"cache: delta merges into 64 k flows, one core|BenchmarkMergeExisting/flows=65536/bidir=false|merges/s|>=|2000000"
	"cache: delta merges into 1 M flows, one core|BenchmarkMergeExisting/flows=1048576/bidir=false|merges/s|>=|2000000"
	"cache: Go memory per flow at 1 M active flows|BenchmarkMemoryPerFlow1M/bidir=false|bytes/flow|<=|200"
	"cache: Go memory per flow at 1 M active bidirectional flows|BenchmarkMemoryPerFlow1M/bidir=true|bytes/flow|<=|200"
	"export: v5 records encoded per second, one core|BenchmarkV5Encode|records/s|>=|10000000"
	"export: v9 records encoded per second, one core|BenchmarkTemplateEncode/v9|records/s|>=|5000000"
	"export: IPFIX records encoded per second, one core|BenchmarkTemplateEncode/ipfix|records/s|>=|5000000"
	"prefix table: lookups per second, one core, full table (1 M IPv4 + 200 k IPv6), random probes|BenchmarkLookup/random|lookups/s|>=|20000000"
	"prefix table: lookups per second, one core, full table, 4096 recurring addresses|BenchmarkLookup/working-set|lookups/s|>=|20000000"
	"classifier: payload heads of the real captures per second, one core|BenchmarkClassifyRealHeads|heads/s|>=|2000000"
	"classifier: allocations per flow in steady state|BenchmarkClassifyRealHeads|allocs/op|<=|0"
	"hot path, classified flow: classification on ÷ off (side by side)|BenchmarkXDPClassifyHotPath/flow-classified|x-off|<=|1.05"
	"hot path, flow past its sampling budget: classification on ÷ off|BenchmarkXDPClassifyHotPath/flow-budget|x-off|<=|1.05"
	"hot path, classified IPv6 flow: classification on ÷ off|BenchmarkXDPClassifyHotPath/flow-classified-ipv6|x-off|<=|1.05"
	"hot path, classified flow, --clock coarse: on ÷ off|BenchmarkXDPClassifyHotPath/coarse-classified|x-off|<=|1.05"
	"hot path, flow past its budget, --clock coarse: on ÷ off|BenchmarkXDPClassifyHotPath/coarse-budget|x-off|<=|1.05"
)

# Reported without a goal: "what|benchmark name|metric unit".
REPORTED=(
	"new flow with its sample (classification on), tail-call method|BenchmarkXDPNewFlowClassify/flow-classify|ns/pkt"
	"new flow with its sample ÷ classification off, tail-call method|BenchmarkXDPNewFlowClassify/flow-classify|x-off"
	"new flow with its sample ÷ classification off, one syscall a flow|BenchmarkXDPNewFlowClassify/cold-classify|x-off"
	"sample ring, full speed: new flows with payload offered (one CPU)|BenchmarkSampleRing/full-speed|offered/s"
	"sample ring, full speed: samples read by the classifier's reader|BenchmarkSampleRing/full-speed|samples/s"
	"sample ring, full speed: app_dropped (default ring)|BenchmarkSampleRing/full-speed|app_dropped"
	"sample ring: samples read at the first paced rate with no drop|BenchmarkSampleRing/no-drop|samples/s"
	"sample ring: app_dropped at that rate|BenchmarkSampleRing/no-drop|app_dropped"
)

# Attribution: "what|benchmark A|benchmark B|unit", reported as A − B.
DIFFERENCES=(
	"clock read, bpf_ktime_get_ns (flow − flow-noclock)|BenchmarkXDPHotPath/flow|BenchmarkXDPHotPath/flow-noclock|ns/pkt"
	"saved by bpf_ktime_get_coarse_ns (flow − flow-coarse)|BenchmarkXDPHotPath/flow|BenchmarkXDPHotPath/flow-coarse|ns/pkt"
	"ARRAY_OF_MAPS slot indirection (flow − flow-direct)|BenchmarkXDPHotPath/flow|BenchmarkXDPHotPath/flow-direct|ns/pkt"
	"48- instead of 16-byte key (minimal-widekey − minimal)|BenchmarkXDPHotPath/minimal-widekey|BenchmarkXDPHotPath/minimal|ns/pkt"
	"flow lookup + in-place update, 48-byte key (flow-noclock − flow-nomap)|BenchmarkXDPHotPath/flow-noclock|BenchmarkXDPHotPath/flow-nomap|ns/pkt"
	"parse, key and stats (flow-nomap − baseline)|BenchmarkXDPHotPath/flow-nomap|BenchmarkXDPHotPath/baseline|ns/pkt"
	"xdp_flow beyond the minimal counter (flow − minimal)|BenchmarkXDPHotPath/flow|BenchmarkXDPHotPath/minimal|ns/pkt"
	"new flow beyond a hit (new flow − hot path), xdp_flow|BenchmarkXDPNewFlow/flow|BenchmarkXDPHotPath/flow|ns/pkt"
	"the sample of a new flow: app_state insert + ring reserve, copy, submit (tail-call method)|BenchmarkXDPNewFlowClassify/flow-classify|BenchmarkXDPNewFlowClassify/flow|ns/pkt"
	"the sample of a new flow, one syscall a flow|BenchmarkXDPNewFlowClassify/cold-classify|BenchmarkXDPNewFlowClassify/cold|ns/pkt"
	"classified flow's hot path beyond classification off|BenchmarkXDPClassifyHotPath/flow-classified|BenchmarkXDPClassifyHotPath/flow|ns/pkt"
)

out=bench/results
while getopts "ho:" opt; do
	case $opt in
	h) usage; exit 0 ;;
	o) out=$OPTARG ;;
	*) usage >&2; exit 2 ;;
	esac
done

if [[ $EUID -ne 0 ]]; then
	echo "bench.sh: needs root: the benchmarks load XDP programs and run them with BPF_PROG_TEST_RUN (try: sudo make bench)" >&2
	exit 1
fi

cd "$(dirname "$0")/.."
mkdir -p "$out"
GO=${GO:-go}
load=$(cut -d' ' -f1-3 /proc/loadavg) # wall-clock figures suffer when this is high

for suite in "${SUITES[@]}"; do
	IFS='|' read -r name pkg flags <<<"$suite"
	echo "bench.sh: $name ($pkg)" >&2
	# shellcheck disable=SC2086 # flags are words
	$GO test -run '^$' -bench . -benchmem $flags "$pkg" | tee "$out/$name.txt"
done

# metric FILE... NAME UNIT prints the value reported for UNIT on the
# benchmark line NAME (the -GOMAXPROCS suffix optional), or nothing.
metric() {
	local name=${*: -2:1} unit=${*: -1}
	awk -v name="$name" -v unit="$unit" '
		$1 ~ /^Benchmark/ {
			n = $1; sub(/-[0-9]+$/, "", n)
			if (n != name) next
			for (i = 3; i < NF; i += 2) if ($(i + 1) == unit) { print $i; exit }
		}' "${@:1:$#-2}"
}

results=()
for suite in "${SUITES[@]}"; do
	IFS='|' read -r name _ <<<"$suite"
	results+=("$out/$name.txt")
done

{
	echo "# Benchmark summary"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)," \
		"kernel $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))," \
		"load average $load at the start." \
		"Raw output: $(printf '%s ' "${results[@]##*/}")."
	echo
	echo "## Targets"
	echo
	echo "| target | measured | goal | |"
	echo "| --- | ---: | ---: | --- |"
	for t in "${TARGETS[@]}"; do
		IFS='|' read -r what bench unit op goal <<<"$t"
		value=$(metric "${results[@]}" "$bench" "$unit")
		if [[ -z "$value" ]]; then
			echo "| $what | not measured | $op $goal $unit | missing |"
			continue
		fi
		verdict=$(awk -v v="$value" -v g="$goal" -v op="$op" \
			'BEGIN { ok = (op == "<=") ? v <= g : v >= g; print ok ? "met" : "**missed**" }')
		echo "| $what | $value $unit | $op $goal $unit | $verdict |"
	done
	echo
	echo "## Reported (no goal)"
	echo
	echo "| what | measured |"
	echo "| --- | ---: |"
	for r in "${REPORTED[@]}"; do
		IFS='|' read -r what bench unit <<<"$r"
		value=$(metric "${results[@]}" "$bench" "$unit")
		echo "| $what | ${value:-not measured} ${value:+$unit} |"
	done
	echo
	echo "## What costs what"
	echo
	echo "| part | cost |"
	echo "| --- | ---: |"
	for d in "${DIFFERENCES[@]}"; do
		IFS='|' read -r what a b unit <<<"$d"
		va=$(metric "${results[@]}" "$a" "$unit")
		vb=$(metric "${results[@]}" "$b" "$unit")
		if [[ -z "$va" || -z "$vb" ]]; then
			echo "| $what | not measured |"
		else
			echo "| $what | $(awk -v a="$va" -v b="$vb" 'BEGIN { printf "%.0f", a - b }') $unit |"
		fi
	done
	for r in "${results[@]}"; do
		echo
		echo "## $(basename "$r" .txt)"
		echo
		echo "| benchmark | runs | metrics |"
		echo "| --- | ---: | --- |"
		# A benchmark that reports no ns/op only reports what was measured
		# elsewhere (a parent's rounds): its B/op and allocs/op say nothing.
		awk '$1 ~ /^Benchmark/ {
			n = $1; sub(/^Benchmark/, "", n); sub(/-[0-9]+$/, "", n)
			empty = ($4 != "ns/op")
			m = ""
			for (i = 3; i < NF; i += 2) {
				if (empty && $(i + 1) ~ /^(ns|B|allocs)\/op$/) continue
				m = m (m == "" ? "" : ", ") $i " " $(i + 1)
			}
			print "| " n " | " $2 " | " m " |"
		}' "$r"
	done
} >"$out/SUMMARY.md"
echo "bench.sh: wrote $out/SUMMARY.md" >&2

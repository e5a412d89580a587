#!/usr/bin/env bash
# check-generated.sh: rebuild the XDP object from bpf/*.c into a scratch
# directory (same command as bpf/gen.go) and fail when it differs from the
# committed bpf2go output.
set -euo pipefail
[[ "${1:-}" == "-h" ]] && { echo "usage: scripts/check-generated.sh"; exit 0; }

cd "$(dirname "$0")/../bpf"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmd=$(sed -n 's|^//go:generate go tool bpf2go |go tool bpf2go -output-dir '"$scratch"' |p' gen.go)
[[ -n "$cmd" ]] || { echo "check-generated: no bpf2go line in bpf/gen.go" >&2; exit 1; }
if ! GOPACKAGE=bpf eval "$cmd" >"$scratch/log" 2>&1; then
	cat "$scratch/log" >&2
	exit 1
fi
for f in xdp_bpfel.go xdp_bpfel.o; do
	if ! cmp -s "$f" "$scratch/$f"; then
		echo "bpf/$f is not what 'make generate' builds from bpf/*.c: run 'make generate' and commit" >&2
		exit 1
	fi
done

#!/usr/bin/env bash
# check-generated.sh: rebuild every committed bpf2go output from its C
# source into a scratch directory (same commands as the go:generate lines
# of each gen.go below) and fail when any of it differs from what is
# committed.
set -euo pipefail
[[ "${1:-}" == "-h" ]] && { echo "usage: scripts/check-generated.sh"; exit 0; }

# Package directories with a gen.go of bpf2go lines, and their Go package.
packages=(
	"bpf bpf"
	"bpf/benchprog benchprog"
)

root="$(cd "$(dirname "$0")/.." && pwd)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for entry in "${packages[@]}"; do
	read -r dir pkg <<<"$entry"
	out="$scratch/$pkg"
	mkdir -p "$out"
	cd "$root/$dir"
	mapfile -t cmds < <(sed -n 's|^//go:generate go tool bpf2go |go tool bpf2go -output-dir '"$out"' |p' gen.go)
	if [[ ${#cmds[@]} -eq 0 ]]; then
		echo "check-generated: no bpf2go line in $dir/gen.go" >&2
		exit 1
	fi
	for cmd in "${cmds[@]}"; do
		if ! GOPACKAGE=$pkg eval "$cmd" >"$out.log" 2>&1; then
			cat "$out.log" >&2
			exit 1
		fi
	done
	# Every file built must be committed unchanged, and nothing committed
	# may be left over from a source that no longer exists.
	for f in "$out"/*_bpfel.go "$out"/*_bpfel.o; do
		name=$(basename "$f")
		if ! cmp -s "$name" "$f"; then
			echo "$dir/$name is not what 'make generate' builds from the C source: run 'make generate' and commit" >&2
			status=1
		fi
	done
	for f in *_bpfel.go *_bpfel.o; do
		if [[ ! -e "$out/$f" ]]; then
			echo "$dir/$f is built by no go:generate line of $dir/gen.go: remove it" >&2
			status=1
		fi
	done
done
exit $status

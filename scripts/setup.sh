#!/usr/bin/env bash
# setup.sh: install with apt-get what spanflow's build, tests, demo and
# benchmarks need. Idempotent; prints nothing when everything is there.
set -euo pipefail

usage() {
	echo "usage: scripts/setup.sh [-h]"
	echo "Installs clang, llvm, libbpf-dev, iproute2, tcpreplay, tshark, nfdump,"
	echo "pmacct, softflowd, iputils-ping and friends with apt-get (needs root)."
}
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { usage; exit 0; }

packages=(
	clang-14 llvm-14 libbpf-dev linux-libc-dev  # building the XDP program
	iproute2 iputils-ping ethtool netcat-openbsd  # namespaces, veth, demo traffic
	tcpreplay                                     # replaying captures into a veth
	tshark nfdump pmacct softflowd                # collectors and peer probes
	libcap2-bin util-linux                        # capability tests (setpriv, capsh)
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "setup.sh: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "setup.sh: apt-get failed" >&2
	exit 1
fi

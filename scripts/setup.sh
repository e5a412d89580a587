#!/usr/bin/env bash
# setup.sh: install with apt-get what spanflow's build, tests, demo and
# benchmarks need. Idempotent; prints nothing when everything is there.
set -euo pipefail

usage() {
	echo "usage: scripts/setup.sh [-h]"
	echo "Installs clang, llvm, libbpf-dev, iproute2, tcpreplay, tshark, nfdump,"
	echo "pmacct, softflowd, iputils-ping and friends with apt-get (needs root),"
	echo "and goflow2 with go install from the Go module proxy."
}
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { usage; exit 0; }

packages=(
	clang-14 llvm-14 libbpf-dev linux-libc-dev  # building the XDP program
	iproute2 iputils-ping ethtool netcat-openbsd  # namespaces, veth, demo traffic
	python3                                       # the demo's web server and table formatter
	tcpreplay                                     # replaying captures into a veth
	tshark nfdump pmacct softflowd                # collectors and peer probes
	libcap2-bin util-linux                        # capability tests (setpriv, capsh)
	fastnetmon                                    # the DDoS detector of the flood e2e test (its service masked below)
)

# goflow2 is not packaged for Debian: it comes from the Go module proxy,
# pinned to the version the interop tests were written against.
GOFLOW2_VERSION=v2.2.6
install_goflow2() {
	command -v goflow2 >/dev/null 2>&1 && return 0
	if [[ $(id -u) -ne 0 ]] || ! command -v go >/dev/null 2>&1; then
		echo "setup.sh: goflow2 not installed (needs root and go); its interop tests will skip" >&2
		return 0
	fi
	echo "setup.sh: installing goflow2 ${GOFLOW2_VERSION}"
	local glog
	glog=$(mktemp)
	if ! GOBIN=/usr/local/bin GOFLAGS=-buildvcs=false go install \
		"github.com/netsampler/goflow2/v2/cmd/goflow2@${GOFLOW2_VERSION}" >"$glog" 2>&1; then
		cat "$glog" >&2
		rm -f "$glog"
		echo "setup.sh: go install goflow2 failed" >&2
		exit 1
	fi
	rm -f "$glog"
}

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
	install_goflow2
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "setup.sh: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "setup.sh: installing ${missing[*]}"
# fastnetmon's package enables and starts a system-wide fastnetmon.service;
# the test runs its own, so mask the unit before the package comes in (a
# mask that is the admin's and not deb-systemd-helper's survives install).
if [[ " ${missing[*]} " == *" fastnetmon "* && ! -e /etc/systemd/system/fastnetmon.service ]]; then
	mkdir -p /etc/systemd/system
	ln -s /dev/null /etc/systemd/system/fastnetmon.service
fi
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "setup.sh: apt-get failed" >&2
	exit 1
fi
install_goflow2

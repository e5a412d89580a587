#!/bin/sh
# On purge the user goes too; the pinned maps under /sys/fs/bpf/spanflow
# go with the next reboot (or: rm -r /sys/fs/bpf/spanflow).
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
if [ "$1" = purge ] && getent passwd spanflow >/dev/null; then
	deluser --system spanflow >/dev/null || true
fi

#!/bin/sh
# Stopped only when removed, not on upgrade (postinst restarts it then).
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl disable --now spanflow || true
fi

#!/bin/sh
# Not enabled here: /etc/default/spanflow names the interfaces and
# collectors first. Then: systemctl enable --now spanflow
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if systemctl is-active --quiet spanflow; then systemctl restart spanflow || true; fi
fi

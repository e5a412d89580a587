#!/bin/sh
# The unit runs as this system user; it owns nothing but its pin directory.
set -e
if ! getent passwd spanflow >/dev/null; then
	adduser --system --group --no-create-home --home /nonexistent --shell /usr/sbin/nologin spanflow >/dev/null
fi

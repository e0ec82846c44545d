#!/usr/bin/env bash
# Start the desktop app (embedded local server, demo plant). Without a display, run it on
# a virtual one so the command still works on a headless machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  exec .venv/bin/twin-app "$@"
fi
echo "run: no display found; starting the app on a virtual display (xvfb-run)" >&2
exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/twin-app "$@"

#!/usr/bin/env bash
# Lint, check the import layers and types, then run every test headless on a virtual display.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/lint-imports
.venv/bin/mypy
export QT_QPA_PLATFORM=xcb
exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m pytest -p no:cacheprovider -q "$@"

# The two commands of the README: `make run` and `make test`.
.PHONY: run test lint bench setup screenshot

setup:
	./scripts/setup.sh

run: setup
	./scripts/run.sh

test: setup
	./scripts/test.sh

lint: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy

bench: setup
	.venv/bin/twin-bench all --quick

screenshot: setup
	xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py

# The two commands of the README: `make run` and `make test`.
.PHONY: run test lint bench setup screenshot package package-check

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

# The sdist and wheel (dist/) and the self-contained desktop bundle of this OS
# (dist/bundle/Twinroom, dist/Twinroom-VERSION-linux-ARCH.tar.gz); see packaging/README.md.
package: setup
	./scripts/package.sh

# Build everything, then start the bundle as a user would (headless, screenshot, fails if
# blank) and install the wheel with the app extra into a clean virtualenv. Not part of
# `make test`: it takes several minutes.
package-check: package
	.venv/bin/python scripts/check_bundle.py
	TWINROOM_PACKAGE_CHECK=1 xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m pytest -p no:cacheprovider -q tests/packaging/test_wheel.py

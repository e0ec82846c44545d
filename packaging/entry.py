"""The frozen desktop bundle's one executable: ``Twinroom``.

* ``Twinroom [twin-app options]`` — the desktop app (the demo plant with its embedded
  server when started with no options, as ``twin-app``).
* ``Twinroom -m sync_server …`` — how the app starts its embedded server: it runs
  ``sys.executable -m sync_server serve …``, and in a bundle ``sys.executable`` is this
  program, so the same file is the server too (no Python beside it).
* ``Twinroom twin-sync …`` — the server's command line, for someone who has only the bundle.
"""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    argv = sys.argv[1:]
    if argv[:2] == ["-m", "sync_server"] or argv[:1] == ["twin-sync"]:
        from sync_server.cli import main as twin_sync

        return twin_sync(argv[2:] if argv[0] == "-m" else argv[1:])
    from twin_app.qt.app import main as twin_app

    return twin_app(argv)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())

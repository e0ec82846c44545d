"""The server's code paths import no Qt and no VTK (what `pip install twinroom` relies on;
tests/packaging/test_wheel.py checks the installed package itself)."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = r"""
import sys
from sync_server import backup, cli, config, embedded, health, roomlog, server
from twin_app.net import SyncClient
cli.build_parser()
heavy = {m.split(".")[0] for m in sys.modules}
heavy &= {"PySide6", "shiboken6", "vtk", "vtkmodules", "pyvista", "pyvistaqt", "trimesh"}
print("heavy:", sorted(heavy))
"""


def test_server_client_and_cli_import_no_qt_or_vtk():
    proc = subprocess.run([sys.executable, "-c", CHECK], check=False, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "heavy: []" in proc.stdout


def test_a_bad_log_level_is_named():
    proc = subprocess.run([sys.executable, "-m", "sync_server", "rooms", "--data", "/nonexistent"],
                          check=False, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TWIN_SYNC_LOG_LEVEL": "loud"})
    assert proc.returncode == 2 and "unknown log level 'loud'" in proc.stdout

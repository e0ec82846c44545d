"""The packages as people install them: `python -m build`, then a clean virtualenv.

* The server-only install (`pip install twinroom`, i.e. ``twinroom[server]``) has working
  ``twin-sync``, ``twin-bench`` and ``twin-app --help`` commands, pulls in no Qt and no
  VTK, and two headless clients make a round trip through its server.
* The app install (``twinroom[app]``) opens the demo plant from the wheel's own data. It
  downloads and unpacks Qt and VTK (minutes), so it runs in ``make package-check``
  (``TWINROOM_PACKAGE_CHECK=1``), not in ``make test``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from twin_app import __version__

pytestmark = [pytest.mark.slow, pytest.mark.net]
ROOT = Path(__file__).resolve().parents[2]

ROUND_TRIP = r'''
import subprocess, sys, time
from pathlib import Path
from twin_app.core import AddNode, Node
from twin_app.net import SyncClient

data = Path(sys.argv[1])
twin_sync = str(Path(sys.executable).with_name("twin-sync"))
server = subprocess.Popen([twin_sync, "serve", "--data", str(data), "--bind", "tcp://127.0.0.1:*",
                           "--token", "t:owner"], stdout=subprocess.PIPE, text=True)
line = server.stdout.readline()
assert line.startswith("twin-sync listening on"), line
endpoint = line.split()[3]
a, b = SyncClient(endpoint, "r", "t", "A"), SyncClient(endpoint, "r", "t", "B")
for c in (a, b):
    c.start()
    assert c.wait_for(lambda c=c: c.state == "live", 20), c.state_detail
a.submit(AddNode(Node("pump", "root", "V", kind="part", name="Pump")), "add")
assert b.wait_for(lambda: "pump" in b.store.doc, 20)
assert a.wait_for(lambda: a.unacked_count == 0, 20)
assert a.store.doc.hash() == b.store.doc.hash()
a.close(); b.close()
server.terminate()
assert server.wait(30) == 0
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"PySide6", "shiboken6", "vtk", "vtkmodules", "pyvista", "pyvistaqt"})
print("round trip ok; heavy modules:", heavy)
'''


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), check=False, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"{args}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", str(out), str(ROOT))
    wheel = next(out.glob("twinroom-*.whl"))
    sdist = next(out.glob("twinroom-*.tar.gz"))
    return {"wheel": wheel, "sdist": sdist}


def venv(path: Path) -> Path:
    # The interpreter this suite runs on, without this project's virtualenv around it.
    base = getattr(sys, "_base_executable", sys.executable)
    run(base, "-m", "venv", str(path))
    return path / "bin"


def test_build_makes_an_sdist_and_a_wheel_with_the_demo_plant(dists):
    assert dists["wheel"].name == f"twinroom-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(dists["wheel"]).namelist()
    assert "twin_app/assets/demo-plant.twinroom" in names
    assert "twin_app/assets/icons/twinroom.svg" in names
    assert not [n for n in names if n.startswith("tests/")]
    meta = zipfile.ZipFile(dists["wheel"]).read(f"twinroom-{__version__}.dist-info/METADATA").decode()
    assert f"Version: {__version__}" in meta
    assert "Provides-Extra: server" in meta and "Provides-Extra: app" in meta
    app_only = [line for line in meta.splitlines() if line.startswith("Requires-Dist:") and "PySide6" in line]
    assert app_only and all('extra == "app"' in line for line in app_only)
    with tarfile.open(dists["sdist"]) as tar:
        members = tar.getnames()
    assert f"twinroom-{__version__}/twin_app/assets/demo-plant.twinroom" in members


def test_the_server_install_has_no_qt_or_vtk_and_its_commands_work(dists, tmp_path):
    bin_dir = venv(tmp_path / "venv")
    run(str(bin_dir / "pip"), "install", "-q", f"{dists['wheel']}[server]")
    installed = run(str(bin_dir / "pip"), "list", "--format=freeze").stdout.lower()
    for heavy in ("pyside6", "shiboken6", "vtk", "pyvista", "trimesh"):
        assert f"\n{heavy}==" not in "\n" + installed, heavy
    for command in ("twin-sync", "twin-bench", "twin-app"):
        version = run(str(bin_dir / command), "--version").stdout
        assert version.startswith(f"{command} {__version__} (Twinroom protocol ")
        assert "usage:" in run(str(bin_dir / command), "--help").stdout
    # twin-app itself says what is missing instead of a traceback.
    proc = subprocess.run([str(bin_dir / "twin-app")], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "pip install 'twinroom[app]'" in proc.stderr
    # The demo plant comes with the wheel: the server seeds the demo room from it.
    script = tmp_path / "round_trip.py"
    script.write_text(ROUND_TRIP)
    out = run(str(bin_dir / "python"), str(script), str(tmp_path / "data"), timeout=120).stdout
    assert "round trip ok; heavy modules: []" in out
    demo = run(str(bin_dir / "python"), "-c",
               "from twin_app.demo import load_demo; d, a = load_demo(); print(len(d), len(a))").stdout
    assert int(demo.split()[0]) > 400


@pytest.mark.skipif(not os.environ.get("TWINROOM_PACKAGE_CHECK"),
                    reason="installs Qt and VTK into a fresh virtualenv: run by `make package-check`")
@pytest.mark.qt
def test_the_app_install_opens_the_demo_plant_from_the_wheel(dists, tmp_path):
    bin_dir = venv(tmp_path / "venv")
    run(str(bin_dir / "pip"), "install", "-q", f"{dists['wheel']}[app]", timeout=1200)
    shot = tmp_path / "shot.png"
    env = {"QT_QPA_PLATFORM": "xcb"}
    run(str(bin_dir / "twin-app"), "--data-dir", str(tmp_path / "data"), "--settings",
        str(tmp_path / "s.ini"), "--size", "1280x800", "--screenshot", str(shot), env=env, timeout=300)
    sys.path.insert(0, str(ROOT / "scripts"))
    from check_bundle import blank_reasons

    assert blank_reasons(shot) == []

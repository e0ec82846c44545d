"""Check the desktop bundle as a user gets it (part of `make package-check`).

    .venv/bin/python scripts/check_bundle.py [dist/Twinroom-VERSION-linux-ARCH.tar.gz]

Unpacks the archive into a fresh directory and starts ``Twinroom`` from there with an
empty environment (no virtualenv, no PYTHONPATH, a fresh HOME) on a virtual display. With
no options the app opens the demo plant on its embedded server, which is the same
executable (``Twinroom -m sync_server``). The app writes a screenshot once the plant is
drawn; the check fails if none comes, or if the picture is blank (the 3D view one flat
colour, or the window nearly so). Prints one JSON object: sizes, start-up time, checks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def blank_reasons(png: Path) -> list[str]:
    """Why the screenshot looks blank (empty if it shows a drawn scene)."""
    from PIL import Image, ImageStat

    img = Image.open(png).convert("RGB")
    w, h = img.size
    reasons = []
    if len(img.getcolors(maxcolors=1 << 20) or []) < 200:
        reasons.append("the window has fewer than 200 colours")
    # The 3D view fills the middle of the window between the docks.
    view = img.crop((int(w * 0.3), int(h * 0.15), int(w * 0.7), int(h * 0.85)))
    colours = len(view.getcolors(maxcolors=1 << 20) or [])
    spread = max(ImageStat.Stat(view.convert("L")).stddev)
    if colours < 100 or spread < 8.0:
        reasons.append(f"the 3D view is nearly flat ({colours} colours, luminance spread {spread:.1f})")
    return reasons


def main(argv: list[str]) -> int:
    archives = sorted((ROOT / "dist").glob("Twinroom-*-linux-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    archive = Path(argv[0]) if argv else (archives[-1] if archives else None)
    if archive is None or not archive.exists():
        sys.stderr.write("check_bundle: no bundle archive; run `make package` first\n")
        return 2
    out: dict[str, object] = {"archive": archive.name, "archive_mb": round(archive.stat().st_size / 2**20, 1)}
    with tempfile.TemporaryDirectory(prefix="twinroom-bundle-") as tmp_name:
        tmp = Path(tmp_name)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp / "app", filter="tar")
        app = tmp / "app" / "Twinroom"
        out["bundle_mb"] = round(dir_size(app) / 2**20, 1)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp / "home"), "LANG": "C.UTF-8"}
        version = subprocess.run([str(app / "Twinroom"), "--version"], check=False, capture_output=True,
                                 text=True, env=env, timeout=60)
        server_version = subprocess.run([str(app / "Twinroom"), "twin-sync", "--version"],
                                        check=False, capture_output=True, text=True, env=env, timeout=60)
        out["version"] = version.stdout.strip()
        out["server_version"] = server_version.stdout.strip()
        shot = tmp / "shot.png"
        t0 = time.monotonic()
        run = subprocess.run(
            ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", str(app / "Twinroom"),
             "--data-dir", str(tmp / "data"), "--settings", str(tmp / "settings.ini"),
             "--size", "1280x800", "--screenshot", str(shot)],
            check=False, capture_output=True, text=True, env=env, timeout=300,
        )
        out["run_s"] = round(time.monotonic() - t0, 1)
        found = re.search(r"startup_s=([0-9.]+)", run.stderr)
        out["startup_s"] = float(found.group(1)) if found else None
        problems = []
        if version.returncode or not version.stdout.startswith("twin-app "):
            problems.append(f"`Twinroom --version` failed: {version.stdout}{version.stderr}")
        if server_version.returncode or not server_version.stdout.startswith("twin-sync "):
            problems.append(f"`Twinroom twin-sync --version` failed: {server_version.stderr}")
        if run.returncode != 0 or not shot.exists():
            problems.append(f"the app exited {run.returncode} without a screenshot:\n{run.stderr[-3000:]}")
        else:
            problems += blank_reasons(shot)
            keep = ROOT / "dist" / "bundle-check.png"
            keep.write_bytes(shot.read_bytes())
            out["screenshot"] = str(keep.relative_to(ROOT))
    out["ok"] = not problems
    out["problems"] = problems
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0 if not problems else 1


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main(sys.argv[1:]))

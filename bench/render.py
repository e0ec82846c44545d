"""Rendering benchmark: the 5 000-part / 2 M-triangle plant through SceneVisual.

Measures, offscreen, in one process and one window size:

* ``frame_ms_5k`` — mean frame time of SceneVisual drawing ``bench.scenes.synthetic_plant``;
* ``baseline_frame_ms`` — a bare pyvista plotter drawing the same world-space triangles as
  one merged mesh (frames are interleaved with ours, so machine load hits both alike);
* ``frame_ratio_5k`` — the two divided (target ≤ 1.5);
* ``remote_edit_p99_ms`` — a SetField transform or colour op: reducer ``apply`` +
  ``SceneVisual.apply`` + render, op received → frame rendered (target < 20 ms);
  ``remote_edit_apply_p99_ms`` is the same without the render;
  (``remote_edit_p50_ms``: the median, to compare with a plain frame);
* ``recolour_5k_ms`` — CPU time of ``SceneVisual.apply`` for one ChangeSet recolouring all
  5 000 parts, render excluded (median of repeats; target < 5 ms);
* ``startup_s`` — ``twin-app --demo`` on a fresh data directory, process start → first
  frame of the demo plant with all its meshes (embedded server start and seeding included);
* ``import_1m_tri_s`` — a 1 M-triangle binary STL imported (read, weld, encode, hash;
  target < 2 s); ``import_1m_tri_ascii_s`` — the same part as ASCII STL, welded to the same
  mesh; ``import_step_assembly_s`` — a 20-part STEP assembly (4 station sub-assemblies)
  with its tree and names. Each also as ``*_trimesh_s`` (trimesh loading the same file in
  the same process) and ``*_vs_trimesh`` (ours ÷ trimesh). The STEP ratio is dominated by
  the child process the converter runs in (≈0.5 s to start Python and OpenCASCADE; trimesh
  calls cascadio in-process), which keeps a converter crash out of the app.

Run under a display (``xvfb-run``): ``python -c "import bench.render, json;
print(json.dumps(bench.render.run(True)))"`` or ``twin-bench render``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.scenes import part_ids, synthetic_plant
from twin_app.core import meshblob
from twin_app.core.document import Document
from twin_app.core.ops import Batch, SetField, apply

log = logging.getLogger(__name__)
WINDOW = (1280, 800)


def _world_mesh(doc: Document, blobs: dict[str, bytes]) -> Any:
    """All parts' triangles in world space as one pyvista PolyData (the baseline)."""
    import pyvista as pv

    from twin_app.core.xform import matrix as matrix_from_transform

    world: dict[str, np.ndarray] = {}
    decoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    pts: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    offset = 0
    for node in doc.walk():
        parent = world.get(node.parent, np.eye(4)) if node.parent else np.eye(4)
        m = parent @ matrix_from_transform(node.transform)
        world[node.id] = m
        if node.mesh is None:
            continue
        if node.mesh not in decoded:
            decoded[node.mesh] = meshblob.decode(blobs[node.mesh])
        v, f = decoded[node.mesh]
        pts.append((v.astype(np.float64) @ m[:3, :3].T + m[:3, 3]).astype(np.float32))
        faces.append(f.astype(np.int64) + offset)
        offset += len(v)
    allf = np.concatenate(faces)
    cells = np.hstack([np.full((len(allf), 1), 3, dtype=np.int64), allf]).ravel()
    return pv.PolyData(np.concatenate(pts), cells)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def _imports(quick: bool) -> dict[str, Any]:
    """Import timings against trimesh (see the module docstring); None values on failure."""
    keys = [f"{k}{suffix}" for k in ("import_1m_tri", "import_1m_tri_ascii", "import_step_assembly")
            for suffix in ("_s", "_trimesh_s", "_vs_trimesh")]
    try:
        from twin_app.io.benchutil import bench_imports
    except ImportError:
        return dict.fromkeys(keys)
    try:
        with tempfile.TemporaryDirectory(prefix="twin-bench-") as tmp:
            return bench_imports(tmp, repeat=1 if quick else 2)
    except (AssertionError, OSError, ValueError) as exc:
        log.warning("the import benchmark failed: %s", exc)
        return dict.fromkeys(keys)


def _startup(runs: int) -> float | None:
    """Best of ``runs`` first starts of the desktop app on the demo plant (seconds)."""
    import re
    import subprocess
    import sys

    best: float | None = None
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="twin-bench-app-") as tmp:
            proc = subprocess.run(
                [sys.executable, "-m", "twin_app.qt.app", "--demo", "--data-dir", f"{tmp}/data",
                 "--settings", f"{tmp}/settings.ini", "--screenshot", f"{tmp}/shot.png"],
                capture_output=True, text=True, timeout=180, check=False,
            )
        found = re.search(r"startup_s=([0-9.]+)", proc.stdout + proc.stderr)
        if found is None:
            log.warning("the app did not report its start-up time (exit %s)", proc.returncode)
            continue
        value = float(found.group(1))
        best = value if best is None else min(best, value)
    return best


def run(quick: bool) -> dict[str, Any]:
    """Run the benchmark and return one JSON-able dict (see the module docstring)."""
    import pyvista as pv

    from twin_app.render import SceneVisual, set_standard_view

    gc.set_threshold(50_000, 50, 100)  # as the desktop app runs
    frames = 6 if quick else 20
    edits = 24 if quick else 120
    recolours = 7 if quick else 25
    doc, blobs = synthetic_plant(5000, 2_000_000, seed=0)
    ids = part_ids(doc)

    base = pv.Plotter(off_screen=True, window_size=WINDOW)
    merged = _world_mesh(doc, blobs)
    base.add_mesh(merged, color="lightgrey")
    ours = pv.Plotter(off_screen=True, window_size=WINDOW)
    t0 = time.perf_counter()
    visual = SceneVisual(ours, blobs.get)
    visual.rebuild(doc)
    build_s = time.perf_counter() - t0
    bounds = visual.scene_bounds()
    for pl in (base, ours):
        set_standard_view(pl.renderer, "iso", bounds)
        pl.ren_win.Render()  # first frame: uploads, shader compiles (not timed)
        pl.ren_win.Render()
    gl = ours.ren_win.ReportCapabilities()
    renderer_line = next((ln.split(":", 1)[1].strip() for ln in gl.splitlines()
                          if "renderer string" in ln.lower()), "unknown")

    # Interleave frames so both sides see the same machine load.
    ours_ms: list[float] = []
    base_ms: list[float] = []
    for _ in range(frames):
        for pl, out in ((base, base_ms), (ours, ours_ms)):
            pl.renderer.GetActiveCamera().Azimuth(2.0)
            t = time.perf_counter()
            pl.ren_win.Render()
            out.append((time.perf_counter() - t) * 1000)
    base.close()
    frame_ms = statistics.fmean(ours_ms)
    baseline_ms = statistics.fmean(base_ms)

    # Remote edits: one op at a time, received → rendered.
    rng = np.random.default_rng(7)
    edit_ms: list[float] = []
    apply_ms: list[float] = []
    for k in range(edits):
        nid = ids[int(rng.integers(len(ids)))]
        node = doc.nodes[nid]
        if k % 2 == 0:
            tr = list(node.transform)
            tr[0] += float(rng.uniform(-0.2, 0.2))
            op = SetField(nid, "transform", tuple(tr))
        else:
            op = SetField(nid, "color", tuple(float(c) for c in rng.uniform(0, 1, 3)))
        t = time.perf_counter()
        _, changes = apply(doc, op)
        visual.apply(doc, changes)
        t_applied = time.perf_counter()
        ours.ren_win.Render()
        t_end = time.perf_counter()
        apply_ms.append((t_applied - t) * 1000)
        edit_ms.append((t_end - t) * 1000)

    # Batch recolour of every part (CPU only, no render).
    recolour_ms: list[float] = []
    for _ in range(recolours):
        batch = Batch(tuple(SetField(i, "color", tuple(float(c) for c in rng.uniform(0, 1, 3)))
                            for i in ids))
        _, changes = apply(doc, batch)
        t = time.perf_counter()
        visual.apply(doc, changes)
        recolour_ms.append((time.perf_counter() - t) * 1000)
    visual.close()
    ours.close()

    return {
        "frame_ratio_5k": round(frame_ms / baseline_ms, 3),
        "frame_ms_5k": round(frame_ms, 2),
        "baseline_frame_ms": round(baseline_ms, 2),
        "remote_edit_p99_ms": round(_p99(edit_ms), 2),
        "remote_edit_p50_ms": round(statistics.median(edit_ms), 2),
        "remote_edit_apply_p99_ms": round(_p99(apply_ms), 3),
        "recolour_5k_ms": round(statistics.median(recolour_ms), 3),
        "startup_s": _startup(1 if quick else 3),
        **_imports(quick),
        "build_5k_s": round(build_s, 3),
        "parts": len(ids),
        "triangles": int(merged.n_cells),
        "window": list(WINDOW),
        "frames": frames,
        "edits": edits,
        "gl_renderer": renderer_line,
        "quick": quick,
    }


def main(argv: list[str] | None = None, emit: Callable[[str], None] = print) -> int:
    """Command line: ``python -m bench.render [--quick]`` prints the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and edits (< 2 min)")
    args = parser.parse_args(argv)
    emit(json.dumps(run(args.quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

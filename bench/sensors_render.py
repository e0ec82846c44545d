"""Client half of ``twin-bench sensors``: one frame's recolour of 5 000 bound parts.

``recolour_5k_ms()`` builds the 5 000-part / 2 M-triangle synthetic plant in an offscreen
``SceneVisual``, binds one sensor to every part and measures, in one process:

* ``recolour_5k_ms`` — CPU time from a sensor frame (5 000 changed streams) arriving in the
  client's ``SensorFeed`` to every part's colour written: the feed merges the frame, the
  value-colour overlay maps 5 000 values through the colour map and the scene writes them
  to the shards' lookup tables (median of repeats; render excluded; target < 5 ms);
* ``recolour_5k_scene_ms`` — only ``SceneVisual.set_overlay_colors`` for the 5 000 colours;
* ``recolour_5k_baseline_ms`` — the same 5 000 colours written the way the scene did before
  lookup tables, one ``SetBlockColor`` call per part (median of repeats);
* ``recolour_5k_ratio`` — ours over the baseline;
* ``recolour_frame_ms`` / ``still_frame_ms`` — mean time of a render after a full recolour
  (the shards re-upload their colours) and of a render with nothing changed.

Run under a display: ``xvfb-run -a python -c "import bench.sensors_render as b, json;
print(json.dumps(b.recolour_5k_ms()))"``.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from bench.scenes import part_ids, synthetic_plant
from twin_app.core import fracindex
from twin_app.core.document import Document, Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Batch, apply
from twin_app.core.samples import Frame, Stream
from twin_app.session.sensors import SensorFeed

WINDOW = (1280, 800)


def _bind_sensors(doc: Document, ids: list[str]) -> list[Stream]:
    """Add one temperature sensor per part, bound to it; return the hub's streams."""
    ops = []
    streams = []
    last = doc.child_keys(ROOT_ID)[-1][0] if doc.child_keys(ROOT_ID) else None
    keys = fracindex.keys_between(last, None, len(ids))
    for k, pid in enumerate(ids):
        tag = f"bench/{k}/temp"
        ops.append(AddNode(Node(f"s{k}", ROOT_ID, keys[k], kind="sensor", name=tag,
                                props={"tag": tag, "unit": "°C", "bound_to": pid,
                                       "range_min": 0.0, "range_max": 100.0,
                                       "warn_high": 80.0, "alarm_high": 90.0})))
        streams.append(Stream(k, tag, "scalar", (), "°C"))
    apply(doc, Batch(tuple(ops)))
    return streams


def _frame(n: int, rng: np.random.Generator, seq: int) -> Frame:
    v = rng.uniform(0, 100, n).astype(np.float32)
    t = np.full(n, time.time_ns(), np.int64)
    return Frame(np.arange(n, dtype=np.uint32), v, t, v, v, np.ones(n, np.uint32),
                 np.zeros(n, np.uint8), np.full(n, seq, np.uint64))


def recolour_5k_ms(quick: bool = False) -> dict[str, Any]:
    """Run the measurement (see the module docstring) and return a JSON-able dict."""
    import pyvista as pv

    from twin_app.render import SceneVisual, set_standard_view
    from twin_app.render.sensor_overlays import SensorOverlays

    repeats = 9 if quick else 31
    doc, blobs = synthetic_plant(5000, 2_000_000, seed=0)
    ids = part_ids(doc)
    streams = _bind_sensors(doc, ids)
    pl = pv.Plotter(off_screen=True, window_size=WINDOW)
    visual = SceneVisual(pl, blobs.get)
    visual.rebuild(doc)
    set_standard_view(pl.renderer, "iso", visual.scene_bounds())
    pl.ren_win.Render()
    feed = SensorFeed()
    feed.set_streams(streams, [])
    overlays = SensorOverlays(pl.renderer, visual, feed, lambda: doc)
    overlays.set_document(doc)
    overlays.labels_enabled = False  # 5 000 floating labels would be unreadable anyway
    rng = np.random.default_rng(3)

    ours: list[float] = []
    for k in range(repeats):
        frame = _frame(len(ids), rng, k + 1)
        t = time.perf_counter()
        feed.apply(frame)  # → overlays recolour through their on_frame listener
        ours.append((time.perf_counter() - t) * 1000)
    colored = visual.overlay_ids()

    scene_ms: list[float] = []
    base_ms: list[float] = []
    blocks = visual._blocks  # the baseline writes the blocks' attributes as the old path did
    for _ in range(repeats):
        rgb = rng.uniform(0, 1, (len(ids), 3))
        t = time.perf_counter()
        visual.set_overlay_colors(ids, rgb)
        scene_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        for nid, c in zip(ids, rgb.tolist(), strict=True):
            block = blocks[nid]
            block.attrs.SetBlockColor(block.pd, c)
        base_ms.append((time.perf_counter() - t) * 1000)

    recolour_frames: list[float] = []
    still_frames: list[float] = []
    for _ in range(3 if quick else 8):
        visual.set_overlay_colors(ids, rng.uniform(0, 1, (len(ids), 3)))
        t = time.perf_counter()
        pl.ren_win.Render()
        recolour_frames.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        pl.ren_win.Render()
        still_frames.append((time.perf_counter() - t) * 1000)
    overlays.close()
    visual.close()
    pl.close()
    median = statistics.median(ours)
    base = statistics.median(base_ms)
    return {
        "recolour_5k_ms": round(median, 3),
        "recolour_5k_scene_ms": round(statistics.median(scene_ms), 3),
        "recolour_5k_baseline_ms": round(base, 3),
        "recolour_5k_ratio": round(median / base, 3) if base > 0 else None,
        "recolour_frame_ms": round(statistics.fmean(recolour_frames), 2),
        "still_frame_ms": round(statistics.fmean(still_frames), 2),
        "recolour_parts": len(colored),
        "recolour_repeats": repeats,
    }


__all__ = ["recolour_5k_ms"]


"""Sensor overlays on a real offscreen scene: colours, labels, hatching, heat maps, alarms.

The feed is fed frames built here, the way the client's network agent would hand them over.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.render.conftest import line_doc
from twin_app.core.document import DEFAULT_COLOR, Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Batch, RemoveNode, SetField, apply
from twin_app.core.samples import ArraySample, Frame, Stream
from twin_app.core.sensors import BAD, LEVEL_COLORS, OFFLINE, STALE_COLOR, colormap_table
from twin_app.render import SceneVisual
from twin_app.render.scene import ACCENT, SELECT_TINT
from twin_app.render.sensor_overlays import SensorOverlays, face_grid
from twin_app.session.sensors import SensorFeed

pytestmark = pytest.mark.vtk


def frame(ids, values, quality=None, arrays=()):
    ids = np.asarray(ids, np.uint32)
    v = np.asarray(values, np.float32)
    n = len(ids)
    q = np.zeros(n, np.uint8) if quality is None else np.asarray(quality, np.uint8)
    now = time.time_ns()
    return Frame(ids, v, np.full(n, now, np.int64), v, v, np.ones(n, np.uint32), q,
                 np.ones(n, np.uint64), list(arrays), now)


@pytest.fixture
def rig(plotter, source):
    doc = line_doc()
    props = {"tag": "line/temp", "unit": "°C", "range_min": 0.0, "range_max": 100.0,
             "warn_high": 70.0, "alarm_high": 90.0}
    apply(doc, Batch(tuple(SetField("sensor", f"prop:{k}", v) for k, v in props.items())))
    sv = SceneVisual(plotter, source)
    sv.rebuild(doc)
    feed = SensorFeed()
    feed.set_streams([Stream(0, "line/temp", unit="°C"), Stream(1, "cab/thermal", "array", (3, 4), "°C")], [])
    ov = SensorOverlays(plotter.renderer, sv, feed, lambda: doc)
    ov.set_document(doc)
    yield doc, sv, feed, ov
    ov.close()
    sv.close()


def color(sv, nid):
    return np.array(sv.block_state(nid)["color"])


def test_value_colours_the_bound_group_parts_through_the_colour_map(rig):
    _doc, sv, feed, ov = rig
    feed.apply(frame([0], [50.0]))
    mid = colormap_table("turbo")[int(0.5 * 255)]
    assert color(sv, "r1") == pytest.approx(mid) and color(sv, "r2") == pytest.approx(mid)
    assert color(sv, "cab") == pytest.approx((0.1, 0.2, 0.9))  # not bound: its own colour
    assert ov.labels.text("sensor") == "50.0 °C"  # compact until looked at
    ov.board.set_focus(["line"])  # the bound group selected: the label names the sensor
    assert ov.labels.text("sensor") == "Temp\n50.0 °C"
    feed.apply(frame([0], [5.0]))
    assert color(sv, "r1") == pytest.approx(colormap_table("turbo")[int(0.05 * 255)])
    assert ov.legend.title == "Temp\n(°C)"


def test_state_display_and_selection_tint_on_top(rig):
    doc, sv, feed, ov = rig
    _, ch = apply(doc, SetField("sensor", "prop:display", "state"))
    sv.apply(doc, ch)
    ov.on_changes(doc, ch)
    feed.apply(frame([0], [75.0]))
    assert color(sv, "r1") == pytest.approx(LEVEL_COLORS[1])
    sv.set_selection(["r1"])
    tinted = LEVEL_COLORS[1] + (np.array(ACCENT) - LEVEL_COLORS[1]) * SELECT_TINT
    assert color(sv, "r1") == pytest.approx(tinted)
    sv.set_selection([])
    feed.apply(frame([0], [95.0]))
    assert color(sv, "r2") == pytest.approx(LEVEL_COLORS[2])
    # Hysteresis: 89 is below the alarm threshold but not by 2 % of the range.
    feed.apply(frame([0], [89.0]))
    assert color(sv, "r2") == pytest.approx(LEVEL_COLORS[2])
    feed.apply(frame([0], [60.0]))
    assert color(sv, "r2") == pytest.approx(LEVEL_COLORS[0])


def test_bad_and_offline_data_is_grey_and_hatched_not_an_old_value(rig):
    _doc, sv, feed, ov = rig
    feed.apply(frame([0], [50.0]))
    assert ov.colors.hatch.line_count == 0
    feed.apply(frame([0], [51.0], [BAD]))
    assert color(sv, "r1") == pytest.approx(STALE_COLOR)
    assert ov.labels.text("sensor") == "bad"
    assert ov.colors.hatch.line_count > 0
    feed.disconnected()
    assert ov.labels.text("sensor") == "offline"
    assert feed.current.quality[0] == OFFLINE
    feed.apply(frame([0], [52.0]))
    assert ov.labels.text("sensor") == "52.0 °C"
    assert ov.colors.hatch.line_count == 0


def test_old_sample_turns_stale_on_tick(rig):
    _doc, sv, feed, ov = rig
    f = frame([0], [50.0])
    f.t_last[:] = time.time_ns() - 60 * 10**9  # a minute old, by the server's clock
    feed.apply(f)
    assert ov.labels.text("sensor") == "stale"
    assert color(sv, "r1") == pytest.approx(STALE_COLOR)


def test_unbinding_gives_parts_their_own_colour_back(rig):
    doc, sv, feed, ov = rig
    feed.apply(frame([0], [50.0]))
    _, ch = apply(doc, RemoveNode("sensor"))
    sv.apply(doc, ch)
    ov.on_changes(doc, ch)
    assert color(sv, "r1") == pytest.approx(DEFAULT_COLOR)
    assert ov.labels.text("sensor") is None


def test_heat_map_drapes_the_array_on_the_bound_part(rig):
    doc, sv, feed, ov = rig
    _, ch = apply(doc, AddNode(Node("cam", ROOT_ID, "Z", kind="sensor", name="Thermal", props={
        "tag": "cab/thermal", "bound_to": "cab", "display": "heatmap",
        "range_min": 20.0, "range_max": 80.0})))
    ov.on_changes(doc, ch)
    img = np.linspace(20, 80, 12, dtype=np.float32).reshape(3, 4)
    feed.apply(frame([], [], arrays=[ArraySample(1, time.time_ns(), img.ravel())]))
    cols = ov.heatmaps.colors["cam"].astype(int)
    assert cols.shape == (12, 3)
    table = colormap_table("turbo")
    assert cols[0] == pytest.approx((table[0] * 255).astype(int), abs=1)
    assert cols[-1] == pytest.approx((table[255] * 255).astype(int), abs=1)
    bounds = ov.heatmaps.actors["cam"].GetMapper().GetInput().GetBounds()
    part = sv.node_bounds(["cab"])
    assert bounds[2] < part[2]  # in front of the part's -y face
    assert color(sv, "cab") == pytest.approx((0.1, 0.2, 0.9))  # the part keeps its colour
    assert ov.labels.text("cam") == "max 80.0 °C"


def test_face_grid_is_on_the_largest_upright_face():
    pts, face = face_grid((0, 0, 0, 2, 1, 1), np.eye(4), 2, 3)
    assert face == "-y" and pts.shape == (12, 3)
    assert pts[0] == pytest.approx((0, -0.014, 1), abs=1e-6)  # top-left, row 0 at the top
    assert pts[-1] == pytest.approx((2, -0.014, 0), abs=1e-6)


def test_alarm_outlines_pulse_until_acknowledged(rig):
    doc, _sv, _feed, ov = rig
    _, ch = apply(doc, AddNode(Node("al1", ROOT_ID, "Y", kind="alarm", props={
        "sensor": "sensor", "level": 2, "state": "active", "reason": "high"})))
    ov.on_changes(doc, ch)
    assert ov.alarms.line_count(2, False) == 24  # r1 and r2 outlined
    ov.board.alarms.pulse(0.0)
    dim = ov.alarms.lines[(2, False)].actor.GetProperty().GetOpacity()
    ov.board.alarms.pulse(0.5)
    assert ov.alarms.lines[(2, False)].actor.GetProperty().GetOpacity() > dim
    _, ch = apply(doc, SetField("al1", "prop:ack_by", "Ada"))
    ov.on_changes(doc, ch)
    assert ov.alarms.line_count(2, False) == 0 and ov.alarms.line_count(2, True) == 24


def test_alarms_draw_over_everything_and_name_their_sensor(rig, plotter):
    doc, _sv, feed, ov = rig
    _, ch = apply(doc, AddNode(Node("al1", ROOT_ID, "Y", kind="alarm", props={
        "sensor": "sensor", "level": 2, "state": "active", "reason": "high"})))
    ov.on_changes(doc, ch)
    feed.apply(frame([0], [95.0]))
    top = ov.top.renderer
    assert top.GetLayer() > plotter.renderer.GetLayer()
    assert top.HasViewProp(ov.alarms.lines[(2, False)].actor)  # through enclosures
    assert top.HasViewProp(ov.labels.labels["sensor"].actor)
    assert ov.labels.text("sensor") == "Temp\n95.0 °C"  # in alarm: named, never compact
    assert top.GetActiveCamera() is plotter.renderer.GetActiveCamera()
    plotter.render()  # draws with both layers
    feed.apply(frame([0], [20.0]))  # back to normal: the label returns to the scene
    assert not top.HasViewProp(ov.labels.labels["sensor"].actor)
    assert plotter.renderer.HasViewProp(ov.labels.labels["sensor"].actor)

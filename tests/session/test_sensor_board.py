"""The sensor overlay models and sensor commands without Qt or VTK: what the board decides
to show for given frames, and the ops the panels send."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from tests.plant import small_plant
from twin_app.core.document import Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Batch, SetField, apply
from twin_app.core.permissions import refusal
from twin_app.core.samples import Frame, Stream
from twin_app.core.sensors import BAD, LEVEL_COLORS, STALE_COLOR
from twin_app.session.sensor_commands import acknowledge, bind_sensor, edit_sensor, set_fault
from twin_app.session.sensor_overlays import SensorBoard, value_text
from twin_app.session.sensors import SensorFeed


def frame(ids, values, quality=None) -> Frame:
    ids = np.asarray(ids, np.uint32)
    v = np.asarray(values, np.float32)
    n = len(ids)
    now = time.time_ns()
    q = np.zeros(n, np.uint8) if quality is None else np.asarray(quality, np.uint8)
    return Frame(ids, v, np.full(n, now, np.int64), v, v, np.ones(n, np.uint32), q,
                 np.ones(n, np.uint64), [], now)


@pytest.fixture
def board():
    doc, _ = small_plant()
    feed = SensorFeed()
    feed.set_streams([Stream(0, "a/temp", unit="°C"), Stream(1, "b/temp", unit="°C")], [])
    op, _label, sid = bind_sensor(doc, "line", "Line temperature", {
        "tag": "a/temp", "range_min": 0.0, "range_max": 100.0, "warn_high": 60.0,
        "alarm_high": 90.0})
    apply(doc, op)
    b = SensorBoard(feed)
    b.set_document(doc)
    return doc, feed, b, sid


def test_a_binding_colours_the_parts_under_the_bound_node(board):
    _doc, feed, b, _sid = board
    feed.apply(frame([0], [50.0]))
    assert sorted(b.colors.ids) == ["conv", "r1", "r2"]  # the group's parts, not the cabinet
    assert b.colors.rgb.shape == (3, 3)


def test_the_deepest_binding_wins_for_a_part(board):
    doc, feed, b, _sid = board
    op, _l, sid2 = bind_sensor(doc, "r1", "Robot temperature", {
        "tag": "b/temp", "display": "state", "warn_high": 10.0})
    _, ch = apply(doc, op)
    b.on_changes(doc, ch)
    feed.apply(frame([0, 1], [50.0, 20.0]))
    rgb = dict(zip(b.colors.ids, b.colors.rgb.tolist(), strict=True))
    assert rgb["r1"] == pytest.approx(LEVEL_COLORS[1])  # r1 shows its own sensor's state
    assert rgb["r2"] != pytest.approx(LEVEL_COLORS[1])
    assert b.level(sid2) == 1


def test_bad_quality_greys_and_lists_the_parts_as_bad(board):
    _doc, feed, b, sid = board
    feed.apply(frame([0], [50.0], [BAD]))
    assert b.colors.rgb[0] == pytest.approx(STALE_COLOR)
    assert sorted(b.colors.bad) == ["conv", "r1", "r2"]
    row = next(r for r in b.rows() if r.node == sid)
    assert row.quality_name == "bad" and row.unit == "°C"


def test_spark_keeps_recent_values(board):
    _doc, feed, b, sid = board
    for v in (1.0, 2.0, 3.0):
        feed.apply(frame([0], [v]))
    row = next(r for r in b.rows() if r.node == sid)
    assert row.spark[-3:].tolist() == [1.0, 2.0, 3.0] and row.value == 3.0


def test_value_text_reads_like_a_person_writes():
    assert value_text(123.456, "bar") == "123 bar"
    assert value_text(23.456, "°C") == "23.5 °C"
    assert value_text(2.345, "A") == "2.35 A"
    assert value_text(math.nan, "A") == "—"
    assert value_text(1.0, "bool") == "on"


def test_sensor_commands_check_numbers_and_build_ordinary_ops(board):
    doc, _feed, _b, sid = board
    with pytest.raises(ValueError, match="maximum must be above"):
        bind_sensor(doc, "r1", "x", {"tag": "a/temp", "range_min": 5.0, "range_max": 1.0})
    with pytest.raises(ValueError, match="choose the measurement"):
        bind_sensor(doc, "r1", "x", {"tag": ""})
    cmd = edit_sensor(doc, sid, {"warn_high": 70.0, "alarm_high": 90.0})
    assert cmd is not None and cmd[0] == SetField(sid, "prop:warn_high", 70.0)
    assert edit_sensor(doc, sid, {"warn_high": 60.0}) is None  # nothing changes
    cmd = edit_sensor(doc, sid, {"warn_high": None})
    assert cmd is not None and cmd[0] == SetField(sid, "prop:warn_high", None)
    fault = set_fault(doc, sid, "bearing")
    assert fault is not None and fault[0] == SetField(sid, "prop:sim_fault", "bearing")


def test_acknowledging_is_allowed_to_people_and_only_once(board):
    doc, _feed, _b, sid = board
    apply(doc, AddNode(Node("al", ROOT_ID, "Z", kind="alarm", props={
        "sensor": sid, "level": 2, "state": "active"})))
    cmd = acknowledge(doc, "al", "Ada", " valve ", 123)
    assert cmd is not None
    op, label = cmd
    assert label == "Acknowledge alarm on Line temperature"
    assert refusal("designer", op, doc) is None
    assert isinstance(op, Batch) and SetField("al", "prop:ack_comment", "valve") in op.ops
    apply(doc, op)
    assert acknowledge(doc, "al", "Bo", "", 124) is None

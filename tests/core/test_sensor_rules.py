"""Sensor rules in the document, alarm levels with hysteresis, samples and stored chunks."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from twin_app.core import Node
from twin_app.core.document import Document
from twin_app.core.ids import ROOT_ID
from twin_app.core.samples import NO_TIME, Aggregate, clean, decode_chunk, encode_chunk
from twin_app.core.sensors import (
    ALARM,
    BAD,
    GOOD,
    NORMAL,
    WARNING,
    SensorSpec,
    next_levels,
    thresholds,
)


def spec(**props) -> SensorSpec:
    base = {"tag": "t", "range_min": 0.0, "range_max": 100.0}
    s = SensorSpec.from_node(Node("s", "p", "V", kind="sensor", props={**base, **props}))
    assert s is not None
    return s


def run(s: SensorSpec, values: list[float]) -> list[int]:
    """Levels after each one-sample tick."""
    lv = np.zeros(1, np.int8)
    out = []
    for v in values:
        a = np.array([v])
        lv = next_levels(lv, a, a, a, *thresholds([s]))
        out.append(int(lv[0]))
    return out


def test_spec_reads_props_with_defaults():
    s = spec(warn_high=60, alarm_high=80.0, unit="°C", fault_hz="29.5, 178", display="nonsense")
    assert (s.warn_high, s.alarm_high, s.unit, s.bound_to) == (60.0, 80.0, "°C", "p")
    assert math.isnan(s.warn_low) and s.hysteresis == 2.0 and s.stale_s == 5.0
    assert s.display == "value" and s.fault_hz == (29.5, 178.0)
    assert SensorSpec.from_node(Node("s", "p", "V", kind="part", props={"tag": "t"})) is None
    assert SensorSpec.from_node(Node("s", "p", "V", kind="sensor", props={})) is None
    assert spec(bound_to="motor").bound_to == "motor"


def test_levels_rise_at_once_and_fall_only_past_the_hysteresis():
    s = spec(warn_high=60.0, alarm_high=80.0, hysteresis=5.0)
    assert run(s, [50, 60, 79, 80, 76, 75.5, 74, 56, 54]) == [
        NORMAL, WARNING, WARNING, ALARM, ALARM, ALARM, WARNING, WARNING, NORMAL]


def test_low_thresholds_and_nan_keep_the_level():
    s = spec(warn_low=20.0, alarm_low=10.0, hysteresis=1.0)
    assert run(s, [50, 15, float("nan"), 9, 10.5, 11.5, 30]) == [
        NORMAL, WARNING, WARNING, ALARM, ALARM, WARNING, NORMAL]


def test_a_spike_between_frames_raises_even_if_the_latest_is_normal():
    s = spec(alarm_high=80.0)
    lv = next_levels(np.zeros(1, np.int8), np.array([10.0]), np.array([99.0]), np.array([10.0]), *thresholds([s]))
    assert lv[0] == ALARM


def test_clean_sorts_and_drops_duplicates_late_and_marks_nonfinite():
    t_last = np.array([NO_TIME, 5], np.int64)
    sid = np.array([1, 0, 0, 1, 0, 1], np.uint32)
    t = np.array([6, 3, 1, 4, 3, 7], np.int64)
    v = np.array([1, 2, 3, 4, np.inf, 5], np.float32)
    s2, t2, v2, q2 = clean(sid, t, v, np.zeros(6, np.uint8), t_last)
    assert s2.tolist() == [0, 0, 1, 1] and t2.tolist() == [1, 3, 6, 7]
    assert q2.tolist() == [GOOD] * 4  # the inf at t=3 was a duplicate and is gone
    assert v2.tolist() == [3.0, 2.0, 1.0, 5.0]
    _, _, v3, q3 = clean(np.zeros(2, np.uint32), np.array([1, 2]), np.array([np.nan, -np.inf], np.float32),
                         np.zeros(2, np.uint8), np.full(1, NO_TIME, np.int64))
    assert q3.tolist() == [BAD, BAD] and np.isnan(v3).all()


def test_aggregate_keeps_min_max_until_taken():
    agg = Aggregate()
    for vals in ([1.0, 9.0, 2.0], [3.0]):
        sid = np.zeros(len(vals), np.uint32)
        t = np.arange(len(vals), dtype=np.int64) + int(agg.t_last[0] if len(agg) else 0) + 1
        agg.add(*clean(sid, t, np.array(vals, np.float32), np.zeros(len(vals), np.uint8),
                       agg.t_last if len(agg) else np.full(1, NO_TIME, np.int64)))
    f = agg.take()
    assert (f.vmin[0], f.vmax[0], f.latest[0], f.count[0], f.seq[0]) == (1.0, 9.0, 3.0, 4, 4)
    assert len(agg.take()) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=500),
       st.lists(st.integers(0, 10**9), min_size=1, max_size=500))
def test_chunk_round_trip_is_exact(values, steps):
    n = min(len(values), len(steps))
    t = 1_700_000_000_000_000_000 + np.cumsum(np.array(steps[:n], np.int64) + 1)
    v = np.array(values[:n], np.float32)
    q = (np.arange(n) % 3).astype(np.uint8)
    t2, v2, q2 = decode_chunk(encode_chunk(t, v, q))
    assert t2.tolist() == t.tolist() and q2.tolist() == q.tolist()
    assert v2.view(np.uint32).tolist() == v.view(np.uint32).tolist()


def test_regular_float_sensor_stores_in_under_four_bytes_a_sample():
    n = 10_000
    t = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 1_000_000
    rng = np.random.default_rng(0)
    v = (60 + np.cumsum(rng.normal(0, 0.01, n)) + rng.normal(0, 0.05, n)).astype(np.float32)
    assert len(encode_chunk(t, v, np.zeros(n, np.uint8))) / n < 4.0


def test_alarm_ops_follow_the_isa_lifecycle():
    from sync_server.sensors.alarms import alarm_ops, alarms_of
    from sync_server.sensors.hub import Transition
    from twin_app.core.ops import AddNode, apply

    doc = Document()
    apply(doc, AddNode(Node("pump", ROOT_ID, "V", kind="part", name="Pump")))
    apply(doc, AddNode(Node("s", "pump", "V", kind="sensor", name="Pump temp", props={"tag": "p/t"})))

    def step(level, reason="high", v=90.0):
        for op in alarm_ops(doc, [Transition("s", "p/t", level, reason, v, 80.0, 1)]):
            apply(doc, op)
        return [(n.props["level"], n.props["state"]) for n in alarms_of(doc).values()]

    assert step(1) == [(1, "active")]
    assert step(2) == [(2, "active")]
    assert step(0) == [(2, "cleared")]  # not acknowledged: stays listed
    assert step(1) == [(1, "active")]  # trips again before anyone acknowledged
    (alarm,) = alarms_of(doc).values()
    from twin_app.core.ops import SetField

    apply(doc, SetField(alarm.id, "prop:ack_by", "Olu"))
    assert step(2) == [(2, "active")] and "ack_by" not in alarms_of(doc)[("s", "limit")].props  # escalation needs a new ack
    apply(doc, SetField(alarm.id, "prop:ack_by", "Olu"))
    assert step(0) == []  # acknowledged and back to normal: gone
    assert step(1, "stale") == [(1, "active")]

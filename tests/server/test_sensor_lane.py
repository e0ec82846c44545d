"""The sensor lane end to end: a source process pushes, the server records and fans out,
clients see values, alarms are raised, acknowledged and cleared as synced nodes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.netutil import wait_all
from tests.sensorkit import Pusher, now_ns
from twin_app import protocol
from twin_app.core import AddNode, Node, SetField, new_id
from twin_app.core.sensors import BAD, GOOD, STALE

pytestmark = pytest.mark.net


def live(*clients) -> None:
    for c in clients:
        assert c.wait_for(lambda c=c: c.state == "live", 15), c.state_detail


def add_sensor(client, tag: str, **props) -> str:
    """A part with a sensor under it, added the way the UI does (two ops)."""
    part_id, sensor_id = new_id(), new_id()
    client.submit(AddNode(Node(part_id, "root", "V", kind="part", name="Pump")), "add part")
    rules = {"tag": tag, "unit": "°C", "range_min": 0.0, "range_max": 100.0, **props}
    client.submit(AddNode(Node(sensor_id, part_id, "V", kind="sensor", name="Pump temperature",
                               props=rules)), "add sensor")
    return sensor_id


def alarms(client) -> list[Node]:
    return [n for n in client.store.doc.nodes.values() if n.kind == "alarm"]


def value(client, tag):
    return client.sensors.value(tag)


def test_pushed_samples_reach_clients_and_raise_ack_and_clear_an_alarm(server, make_client, room_name):
    a = make_client(room_name, name="Ana")
    live(a)  # the owner creates the room; an operator may only join it
    b = make_client(room_name, token="operator-token", name="Olu")
    live(b)
    add_sensor(a, "pump/temp", warn_high=50.0, alarm_high=80.0, hysteresis=2.0)
    src = Pusher(server.endpoint)
    try:
        # Samples until the hub knows the room's sensor; then the value shows on both.
        def push(v: float) -> None:
            src.push(["pump/temp"], [0], [now_ns()], [v])

        def shows(v: float):
            return lambda: all((x := value(c, "pump/temp")) and math.isclose(x[0], v, rel_tol=1e-6) for c in (a, b))

        push(20.0)
        assert a.wait_for(lambda: value(a, "pump/temp") is not None, 10)
        push(21.0)
        assert wait_all([a, b], shows(21.0), 10)
        assert not alarms(a) and not alarms(b)

        push(60.0)  # warning
        assert wait_all([a, b], lambda: [n.props.get("level") for n in alarms(b)] == [1], 10)
        push(95.0)  # escalates to alarm: the same alarm node, level 2
        assert wait_all([a, b], lambda: [n.props.get("level") for n in alarms(b)] == [2], 10)
        alarm = alarms(b)[0]
        assert alarm.props["reason"] == "high" and alarm.props["state"] == "active"
        assert alarm.props["threshold"] == 80.0 and alarm.props["value"] == 95.0

        # The operator acknowledges with a comment; the designer sees who did it.
        for k, v in (("ack_by", "Olu"), ("ack_t", now_ns()), ("ack_comment", "checking the pump")):
            b.submit(SetField(alarm.id, f"prop:{k}", v), "acknowledge alarm")
        assert wait_all([a, b], lambda: [n.props.get("ack_by") for n in alarms(a)] == ["Olu"], 10)

        # Back below threshold minus hysteresis: cleared, and since acknowledged, removed.
        push(79.0)  # inside the hysteresis band of the alarm threshold: still an alarm…
        assert wait_all([a, b], shows(79.0), 10)
        assert [n.props.get("level") for n in alarms(a)] == [2]
        push(30.0)
        assert wait_all([a, b], lambda: not alarms(a) and not alarms(b), 10)
    finally:
        src.close()


def test_clients_cannot_forge_or_delete_alarms(server, make_client, room_name):
    a = make_client(room_name, name="Ana")
    live(a)
    add_sensor(a, "pump/temp2", warn_high=50.0)
    src = Pusher(server.endpoint)
    try:
        src.push(["pump/temp2"], [0], [now_ns()], [10.0])
        assert a.wait_for(lambda: value(a, "pump/temp2") is not None, 10)
        src.push(["pump/temp2"], [0], [now_ns()], [70.0])
        assert a.wait_for(lambda: len(alarms(a)) == 1, 10)
        alarm = alarms(a)[0]
        refused = []
        a.on_nack.append(lambda p, code, reason: refused.append(code))
        from twin_app.core import RemoveNode

        # Each is applied optimistically, refused by the server and rolled back.
        for i, op in enumerate([RemoveNode(alarm.id), SetField(alarm.id, "prop:level", 0),
                                AddNode(Node(new_id(), "root", "W", kind="alarm", name="fake"))]):
            a.submit(op, "tamper")
            assert a.wait_for(lambda i=i: len(refused) == i + 1 and not a.store.pending, 10)
        assert set(refused) == {protocol.E_FORBIDDEN}
        assert len(alarms(a)) == 1 and alarms(a)[0].props["level"] == 1
    finally:
        src.close()


def test_duplicates_out_of_order_and_garbage_are_recorded_once_and_never_crash(server, make_client, room_name):
    a = make_client(room_name, name="Ana")
    live(a)
    add_sensor(a, "line/x", stale_s=3600.0)  # samples from 10 s ago are not stale here
    src = Pusher(server.endpoint)
    t0 = now_ns() - 10_000_000_000
    try:
        # Times 1,2,2,1,3 (ms after t0): the duplicate and the late one are dropped.
        ts = [t0 + k * 1_000_000 for k in (1, 2, 2, 1, 3)]
        src.push(["line/x"], [0] * 5, ts, [1.0, 2.0, 2.5, 9.0, 3.0])
        src.push(["line/x"], [0, 0], [t0 + 2_000_000, t0 + 4_000_000], [7.0, float("nan")])  # retransmit + NaN
        # Garbage: wrong column lengths, an index past the tags, a viewer pushing.
        src.send(protocol.SENSOR_PUSH, {"tags": ["line/x"], "n": 3}, [b"\0" * 4, b"", b"", b""])
        assert src.recv(5).body["code"] == protocol.E_BAD_BODY
        src.push(["line/x"], [5], [t0 + 9_000_000], [1.0])
        assert src.recv(5).body["code"] == protocol.E_BAD_BODY
        viewer = Pusher(server.endpoint, token="viewer-token", name="nosy")
        viewer.push(["line/x"], [0], [t0 + 9_000_000], [1.0])
        assert viewer.recv(5).body["code"] == protocol.E_FORBIDDEN
        viewer.close()

        got = []
        assert a.wait_for(lambda: (v := value(a, "line/x")) is not None and v[2] == BAD, 10)
        a.sensors.query(["line/x"], t0, t0 + 10_000_000, 1000, got.append)
        assert a.wait_for(lambda: bool(got), 10)
        hist = got[0]["line/x"]
        assert hist.raw
        assert [int(t - t0) // 1_000_000 for t in hist.t] == [1, 2, 3, 4]
        assert list(hist.vmin[:3]) == [1.0, 2.0, 3.0] and math.isnan(hist.vmin[3])
        assert server.alive()
    finally:
        src.close()


def test_silent_sensor_goes_stale_and_raises_a_stale_alarm(server, make_client, room_name):
    a = make_client(room_name, name="Ana")
    live(a)
    add_sensor(a, "fan/speed", stale_s=0.5)
    src = Pusher(server.endpoint)
    try:
        src.push(["fan/speed"], [0], [now_ns()], [12.0])
        assert a.wait_for(lambda: (v := value(a, "fan/speed")) is not None and v[2] == STALE, 10)
        assert a.wait_for(lambda: [n.props.get("reason") for n in alarms(a)] == ["stale"], 10)
        src.push(["fan/speed"], [0], [now_ns()], [12.5])
        assert a.wait_for(lambda: (v := value(a, "fan/speed")) is not None and v[2] == GOOD, 10)
        assert a.wait_for(lambda: [n.props.get("state") for n in alarms(a)] == ["cleared"], 10)
    finally:
        src.close()


def test_history_query_returns_an_envelope_that_keeps_spikes(server, make_client, room_name):
    a = make_client(room_name, name="Ana")
    live(a)
    add_sensor(a, "press/force", stale_s=3600.0)
    src = Pusher(server.endpoint)
    try:
        t0 = now_ns() - 60_000_000_000
        n = 20_000
        t = t0 + np.arange(n, dtype=np.int64) * 1_000_000
        v = np.sin(np.arange(n) / 50.0)
        v[12_345] = 42.0  # one spike among 20 000 samples
        for i in range(0, n, 5000):
            src.push(["press/force"], np.zeros(5000, np.uint32), t[i:i + 5000], v[i:i + 5000])
        got = []
        assert a.wait_for(lambda: (x := value(a, "press/force")) is not None and x[1] == t[-1], 10)
        a.sensors.query(["press/force"], t0, int(t[-1]), 200, got.append)
        assert a.wait_for(lambda: bool(got), 10)
        hist = got[0]["press/force"]
        assert not hist.raw and len(hist.t) <= 100
        assert float(hist.vmax.max()) == 42.0
        assert float(hist.vmin.min()) == pytest.approx(-1.0, abs=1e-3)
    finally:
        src.close()


@pytest.fixture
def demo(tmp_path):
    from tests.netutil import ServerProcess

    srv = ServerProcess(tmp_path / "demo", extra=["--demo"]).start()
    yield srv
    srv.stop()


def test_demo_server_simulates_every_sensor_within_its_range(demo):
    from twin_app.core.sensors import sensor_specs
    from twin_app.net import SyncClient

    c = SyncClient(demo.endpoint, "demo", "owner-token", "Ana")
    c.start()
    try:
        live(c)
        specs = [s for s in sensor_specs(c.store.doc).values() if s.sensor_type != "thermal"]
        assert len(specs) >= 20
        assert c.wait_for(lambda: all(c.sensors.value(s.tag) is not None for s in specs), 15)
        assert c.sensors.sources["simulator"].online
        for s in specs:
            v, _t, q = c.sensors.value(s.tag)
            assert q == GOOD or q == STALE  # a channel may be in one of its rare dropouts
            assert s.range_min - 0.2 * (s.range_max - s.range_min) <= v <= s.range_max, (s.tag, v)
        thermal = [s for s in sensor_specs(c.store.doc).values() if s.sensor_type == "thermal"]
        assert thermal
        assert c.wait_for(lambda: c.sensors.array(thermal[0].tag) is not None, 10)
        assert c.sensors.array(thermal[0].tag).shape == (24, 32)
        # A vibration channel also streams its waveform at full rate, for the spectrum.
        vib = next(s for s in specs if s.sensor_type == "vibration")
        assert c.wait_for(lambda: c.sensors.value(vib.tag + "/wave") is not None, 10)
    finally:
        c.close()


def test_injected_bearing_fault_shows_as_a_spectrum_peak_at_the_bearing_frequency(demo):
    import subprocess
    import sys
    import time

    from twin_app.core.sensors import sensor_specs
    from twin_app.net import SyncClient

    c = SyncClient(demo.endpoint, "demo", "owner-token", "Ana")
    c.start()
    try:
        live(c)
        vib = next(s for s in sensor_specs(c.store.doc).values() if s.tag.endswith("spindle/vibration"))
        shaft, bpfo = vib.fault_hz[:2]

        def spectrum_at(hz_list):
            got = []
            t1 = time.time_ns()
            c.sensors.query([vib.tag + "/wave"], t1 - 2_000_000_000, t1, 100_000, got.append)
            assert c.wait_for(lambda: bool(got), 10)
            h = got[0][vib.tag + "/wave"]
            assert h.raw and len(h.t) > 3000
            x = h.vmin - h.vmin.mean()
            mag = np.abs(np.fft.rfft(x * np.hanning(len(x))))
            f = np.fft.rfftfreq(len(x), d=float(np.median(np.diff(h.t))) / 1e9)
            noise = float(np.median(mag))
            return [float(mag[np.argmin(np.abs(f - hz))]) / noise for hz in hz_list]

        assert c.wait_for(lambda: c.sensors.value(vib.tag + "/wave") is not None, 10)
        c.wait_for(lambda: False, 2.2)
        before_shaft, before_bpfo = spectrum_at([shaft, bpfo])
        assert before_shaft > 20 and before_bpfo < 10  # a healthy spindle: shaft line, no bearing line
        run = subprocess.run([sys.executable, "-m", "sync_server", "fault", "--connect", demo.endpoint,
                              "--room", "demo", "--token", "owner-token", "--tag", vib.tag, "--fault", "bearing"],
                             capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
        assert c.wait_for(lambda: c.store.doc.nodes[vib.node].props.get("sim_fault") == "bearing", 10)
        c.wait_for(lambda: False, 8.0)  # the fault grows over a minute; 8 s in it already shows
        (after_bpfo,) = spectrum_at([bpfo])
        assert after_bpfo > 3 * max(before_bpfo, 1.0)
    finally:
        c.close()


def test_a_sensor_bound_in_a_simulated_room_is_simulated_at_once(demo):
    from twin_app.net import SyncClient

    c = SyncClient(demo.endpoint, "demo", "owner-token", "Ana")
    c.start()
    try:
        live(c)
        part = next(n for n in c.store.doc.nodes.values() if n.kind == "part" and n.mesh)
        c.submit(AddNode(Node(new_id(), part.id, "V", kind="sensor", name="New probe", props={
            "tag": "demo/new/probe", "sensor_type": "temperature", "range_min": 0.0, "range_max": 50.0})),
            "bind sensor")
        assert c.wait_for(lambda: (v := c.sensors.value("demo/new/probe")) is not None and 0 <= v[0] <= 50, 10)
    finally:
        c.close()


def test_a_bridge_that_leaves_takes_its_source_offline_and_its_values_show_it(server, make_client, room_name):
    from twin_app.core.sensors import OFFLINE

    a = make_client(room_name, name="Ana")
    live(a)
    add_sensor(a, "yard/flow", stale_s=3600.0)
    src = Pusher(server.endpoint, name="yard-bridge")
    try:
        src.push(["yard/flow"], [0], [now_ns()], [3.0])
        assert a.wait_for(lambda: (v := value(a, "yard/flow")) is not None and v[2] == GOOD, 10)
        assert a.sensors.sources["yard-bridge"].online
        src.send(protocol.BYE, {})
        assert a.wait_for(lambda: not a.sensors.sources["yard-bridge"].online, 10)
        assert a.wait_for(lambda: value(a, "yard/flow")[2] == OFFLINE, 10)
        assert "disconnected" in a.sensors.sources["yard-bridge"].detail
    finally:
        src.close()


def test_a_silent_thermal_camera_goes_stale(demo):
    from twin_app.core import SetField
    from twin_app.core.sensors import sensor_specs
    from twin_app.net import SyncClient

    c = SyncClient(demo.endpoint, "demo", "owner-token", "Ana")
    c.start()
    try:
        live(c)
        cam = next(s for s in sensor_specs(c.store.doc).values() if s.display == "heatmap")
        assert c.wait_for(lambda: c.sensors.array(cam.tag) is not None, 10)
        assert c.sensors.value(cam.tag)[2] == GOOD
        c.submit(SetField(cam.node, "prop:stale_s", 1.0), "stale after 1 s")
        c.submit(SetField(cam.node, "prop:sim_fault", "dropout"), "camera dies")
        assert c.wait_for(lambda: c.sensors.value(cam.tag)[2] == STALE, 10)
        c.submit(SetField(cam.node, "prop:sim_fault", None), "camera back")
        assert c.wait_for(lambda: c.sensors.value(cam.tag)[2] == GOOD, 10)
    finally:
        c.close()

"""MQTT source with Sparkplug B payloads, against a real Mosquitto broker: an edge node
(this test) publishes births, data and deaths; the source is the host application."""

from __future__ import annotations

import math

import pytest

from sync_server.sensors.mqtt import MqttSource
from sync_server.sensors.proto import sparkplug_b_pb2 as pb
from sync_server.sensors.sparkplug import REBIRTH_METRIC, metric_value
from tests.sensors.kit import Publisher, RecordingSink, Subscriber
from twin_app.core.sensors import BAD, GOOD, OFFLINE, UNCERTAIN

pytestmark = pytest.mark.net

T0 = 1_764_670_000_000  # ms
NS = 1_000_000
FLOAT, DOUBLE, BOOLEAN, INT32, INT64, UINT64, STRING = 9, 10, 11, 3, 4, 8, 12


def payload(seq: int | None, metrics: list[dict], ts: int = T0) -> bytes:
    p = pb.Payload(timestamp=ts)
    if seq is not None:
        p.seq = seq
    for spec in metrics:
        m = p.metrics.add()
        for k, v in spec.items():
            setattr(m, k, v)
    return p.SerializeToString()


class EdgeNode:
    """Group G, node N with device 'press': what a real edge node would publish."""

    def __init__(self, pub: Publisher) -> None:
        self.pub = pub
        self.seq = 0
        self.bdseq = 0

    def send(self, kind: str, metrics: list[dict], device: str | None = None, seq: int | None = -1,
             ts: int = T0) -> None:
        if seq == -1:
            seq = self.seq
            self.seq = (self.seq + 1) % 256
        topic = f"spBv1.0/G/{kind}/N" + (f"/{device}" if device else "")
        self.pub.publish(topic, payload(seq, metrics, ts))

    def birth(self, ts: int = T0) -> None:
        self.seq = 0
        self.send("NBIRTH", [
            {"name": "bdSeq", "datatype": UINT64, "long_value": self.bdseq},
            {"name": "Node Control/Rebirth", "datatype": BOOLEAN, "boolean_value": False},
            {"name": "Temperature", "alias": 1, "datatype": FLOAT, "float_value": 20.5},
            {"name": "Running", "alias": 2, "datatype": BOOLEAN, "boolean_value": True},
            {"name": "Offset", "alias": 3, "datatype": INT32, "int_value": (-7) & 0xFFFFFFFF},
            {"name": "Label", "alias": 4, "datatype": STRING, "string_value": "line 1"},
        ], ts=ts)
        self.send("DBIRTH", [
            {"name": "Force", "alias": 10, "datatype": DOUBLE, "double_value": 1.25},
            {"name": "Cycles", "alias": 11, "datatype": INT64, "long_value": (-3) & 0xFFFFFFFFFFFFFFFF},
        ], device="press", ts=ts)

    def death(self, bdseq: int) -> None:
        self.send("NDEATH", [{"name": "bdSeq", "datatype": UINT64, "long_value": bdseq}], seq=None)


@pytest.fixture
def host(broker, sink):
    src = MqttSource("edge", broker.url, ["spBv1.0/G/#"], "sparkplug", reconnect_min_s=1,
                     reconnect_max_s=1)
    src.start(sink)
    sink.wait(lambda s: s.online("edge") is True, what="the host to subscribe")
    yield src
    src.stop()


@pytest.fixture
def node(broker):
    pub = Publisher(broker, "edge-node")
    yield EdgeNode(pub)
    pub.close()


def test_metric_values_decode_signed_types():
    m = pb.Payload.Metric(int_value=(-7) & 0xFFFFFFFF)
    assert metric_value(m, INT32) == -7.0
    assert metric_value(m, 7) == float((-7) & 0xFFFFFFFF)  # UInt32 stays unsigned
    assert metric_value(pb.Payload.Metric(long_value=(-3) & (2**64 - 1)), INT64) == -3.0
    assert metric_value(pb.Payload.Metric(string_value="x"), STRING) is None
    assert metric_value(pb.Payload.Metric(long_value=T0), 13) is None  # DateTime
    assert math.isnan(metric_value(pb.Payload.Metric(is_null=True), FLOAT))


def test_births_aliases_and_data(host, node, sink: RecordingSink, caplog):
    node.birth()
    node.send("NDATA", [{"alias": 1, "float_value": 21.0, "timestamp": T0 + 10}])
    node.send("DDATA", [{"alias": 10, "double_value": 2.5}], device="press", ts=T0 + 20)
    node.send("NDATA", [{"alias": 2, "boolean_value": False, "timestamp": T0 + 30}])
    sink.wait(lambda s: len(s.samples) >= 8, what="birth and data samples")
    assert sink.of("G/N/Temperature") == [(T0 * NS, 20.5, GOOD), ((T0 + 10) * NS, 21.0, GOOD)]
    assert sink.of("G/N/Running") == [(T0 * NS, 1.0, GOOD), ((T0 + 30) * NS, 0.0, GOOD)]
    assert sink.of("G/N/Offset") == [(T0 * NS, -7.0, GOOD)]
    assert sink.of("G/N/press/Force") == [(T0 * NS, 1.25, GOOD), ((T0 + 20) * NS, 2.5, GOOD)]
    assert sink.of("G/N/press/Cycles") == [(T0 * NS, -3.0, GOOD)]
    # bdSeq, node controls and non-numeric metrics are not streams.
    assert sink.tags() == {"G/N/Temperature", "G/N/Running", "G/N/Offset", "G/N/press/Force",
                           "G/N/press/Cycles"}
    assert sum("Label" in r.getMessage() for r in caplog.records) == 1
    assert host._host.counts["rebirths"] == 0


def test_sequence_gap_asks_for_rebirth_and_marks_uncertain(broker, host, node, sink: RecordingSink):
    cmds = Subscriber(broker, "spBv1.0/G/NCMD/#")
    try:
        node.birth()
        node.seq += 3  # three messages lost
        node.send("NDATA", [{"alias": 1, "float_value": 30.0, "timestamp": T0 + 100}])
        [(topic, data)] = cmds.wait(1)
        assert topic == "spBv1.0/G/NCMD/N"
        cmd = pb.Payload.FromString(data)
        assert [(m.name, m.boolean_value) for m in cmd.metrics] == [(REBIRTH_METRIC, True)]
        node.send("NDATA", [{"alias": 1, "float_value": 31.0, "timestamp": T0 + 200}])
        sink.wait(lambda s: len(s.of("G/N/Temperature")) == 3)
        assert [q for _, _, q in sink.of("G/N/Temperature")] == [GOOD, UNCERTAIN, UNCERTAIN]
        # The node answers with its births: good again.
        node.birth(ts=T0 + 300)
        node.send("NDATA", [{"alias": 1, "float_value": 32.0, "timestamp": T0 + 400}])
        sink.wait(lambda s: len(s.of("G/N/Temperature")) == 5)
        assert [q for _, _, q in sink.of("G/N/Temperature")][3:] == [GOOD, GOOD]
        assert len(cmds.messages) == 1  # one request, not one per message
    finally:
        cmds.close()


def test_data_before_birth_asks_for_rebirth(broker, host, node, sink: RecordingSink):
    cmds = Subscriber(broker, "spBv1.0/G/NCMD/#")
    try:
        node.send("NDATA", [{"alias": 1, "float_value": 30.0}])
        cmds.wait(1)
        node.birth()
        sink.wait(lambda s: len(s.samples) >= 5)
        assert host._host.counts["unknown"] == 1
        assert "G/N/Temperature" in sink.tags()
    finally:
        cmds.close()


def test_deaths_mark_streams_offline(host, node, sink: RecordingSink):
    node.bdseq = 5
    node.birth()
    sink.wait(lambda s: len(s.samples) >= 5)
    node.send("DDEATH", [], device="press")
    sink.wait(lambda s: len(s.of("G/N/press/Force")) == 2)
    t, v, q = sink.of("G/N/press/Force")[-1]
    assert math.isnan(v) and q == OFFLINE and t > T0 * NS
    assert len(sink.of("G/N/Temperature")) == 1
    # A death certificate of an earlier session (a late will) changes nothing.
    node.death(4)
    node.send("NDATA", [{"alias": 1, "float_value": 22.0, "timestamp": T0 + 50}])
    sink.wait(lambda s: len(s.of("G/N/Temperature")) == 2)
    assert sink.of("G/N/Temperature")[-1] == ((T0 + 50) * NS, 22.0, GOOD)
    assert host._host.counts["stale_deaths"] == 1
    node.death(5)
    sink.wait(lambda s: len(s.of("G/N/Temperature")) == 3)
    for tag in ("G/N/Temperature", "G/N/Running", "G/N/Offset", "G/N/press/Cycles"):
        t, v, q = sink.of(tag)[-1]
        assert math.isnan(v) and q == OFFLINE, tag


def test_garbage_and_unknown_aliases(host, node, sink: RecordingSink, caplog):
    node.birth()
    for _ in range(3):
        node.pub.publish("spBv1.0/G/NDATA/N", b"\xff\xff\xff garbage")
    node.send("NDATA", [{"alias": 99, "float_value": 1.0}])
    node.send("NDATA", [{"alias": 99, "float_value": 2.0}])
    node.send("NDATA", [{"alias": 1, "float_value": 25.0, "timestamp": T0 + 1}, {"alias": 2, "is_null": True,
                                                                                "timestamp": T0 + 1}])
    sink.wait(lambda s: len(s.of("G/N/Temperature")) == 2)
    counts = host._host.counts
    assert counts["garbage"] == 3 and counts["unknown"] == 2
    assert sum("undecodable" in r.getMessage() for r in caplog.records) == 1
    assert sum("alias 99" in r.getMessage() for r in caplog.records) == 1
    _, v, q = sink.of("G/N/Running")[-1]
    assert math.isnan(v) and q == BAD


def test_broker_loss_marks_everything_offline(broker, host, node, sink: RecordingSink):
    node.birth()
    sink.wait(lambda s: len(s.samples) >= 5)
    node.pub.close()
    broker.kill()
    sink.wait(lambda s: s.online("edge") is False and len(s.samples) >= 10, what="offline samples")
    for tag in ("G/N/Temperature", "G/N/press/Force"):
        _, v, q = sink.of(tag)[-1]
        assert math.isnan(v) and q == OFFLINE
    broker.start()
    sink.wait(lambda s: s.online("edge") is True, timeout=15)
    pub = Publisher(broker, "edge-node-2")
    try:
        node.pub = pub
        node.bdseq = 1
        node.birth(ts=T0 + 1000)
        sink.wait(lambda s: s.of("G/N/Temperature")[-1][2] == GOOD)
    finally:
        pub.close()

"""MQTT source with JSON payloads, against a real Mosquitto broker."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from sync_server.sensors.mqtt import MqttSource, PayloadError, decode_json, time_ns
from sync_server.sensors.tags import MappedSink, TagMap, TagRule
from tests.sensors.kit import Publisher, RecordingSink
from twin_app.core.sensors import BAD, GOOD, OFFLINE, UNCERTAIN

pytestmark = pytest.mark.net

T0_MS = 1_764_670_000_000  # 2025-12-02, in ms
NS = 1_000_000


def start(broker, sink, topics=("plant/#",), **kw) -> MqttSource:
    src = MqttSource("plant", broker.url, list(topics), **kw)
    src.start(sink)
    sink.wait(lambda s: s.online("plant") is True, what="the source to subscribe")
    return src


def test_time_formats():
    assert time_ns(T0_MS) == T0_MS * NS
    assert time_ns(T0_MS / 1000) == T0_MS * NS
    assert time_ns(T0_MS * 1000) == T0_MS * NS
    assert time_ns(T0_MS * NS) == T0_MS * NS
    assert time_ns("2025-12-02T10:06:40Z") == 1_764_670_000 * 10**9
    assert time_ns("2025-12-02T11:06:40.5+01:00") == 1_764_670_000_500 * NS
    assert time_ns("2025-12-02T10:06:40") == 1_764_670_000 * 10**9  # naive = UTC
    for bad in ("yesterday", True, -5, float("nan"), [1]):
        with pytest.raises(PayloadError):
            time_ns(bad)


def test_payload_shapes():
    now = 42
    assert decode_json("a", b"21.5", now) == [("a", now, 21.5, GOOD)]
    assert decode_json("a", b"true", now) == [("a", now, 1.0, GOOD)]
    assert decode_json("a", b'{"value": 3, "ts": 1764670000123, "q": "uncertain"}', now) == \
        [("a", 1_764_670_000_123 * NS, 3.0, UNCERTAIN)]
    assert decode_json("a", b'{"v": 3, "t": "2025-12-02T10:06:40Z", "quality": 2}', now) == \
        [("a", 1_764_670_000 * 10**9, 3.0, BAD)]
    got = decode_json("env", b'{"temp": 21.5, "hum": {"value": 40, "q": "bad"}, "ts": 1764670000}', now)
    assert got == [("env/temp", 1_764_670_000 * 10**9, 21.5, GOOD), ("env/hum", 1_764_670_000 * 10**9, 40.0, BAD)]
    assert decode_json("a", b'[{"value": 1, "ts": 1764670000}, {"value": 2, "ts": 1764670001}]', now) == \
        [("a", 1_764_670_000 * 10**9, 1.0, GOOD), ("a", 1_764_670_001 * 10**9, 2.0, GOOD)]
    # Non-finite values pass (the hub marks them bad); null is a bad sample.
    assert math.isinf(decode_json("a", b"Infinity", now)[0][2])
    assert math.isnan(decode_json("a", b'{"value": NaN}', now)[0][2])
    assert decode_json("a", b'{"value": null}', now)[0][3] == BAD
    for garbage in (b"\xff\xfe", b"hello", b'{"value": "hot"}', b"{}", b"[]", b'{"ts": 5}',
                    b'{"value": 1, "q": "great"}', b'"21.5"', b"[" * 100_000, b"1" + b"0" * 400,
                    b'{"value": 1, "ts": 1e400}'):
        with pytest.raises(PayloadError):
            decode_json("a", garbage, now)


def test_array_frames():
    frames: list = []
    assert decode_json("cam", b'{"frame": [[1, 2, 3], [4, null, 6]], "ts": 1764670000}', 5, frames) == []
    [(tag, t, a, q)] = frames
    assert (tag, t, q, a.shape, a.dtype) == ("cam", 1_764_670_000 * 10**9, GOOD, (2, 3), np.float32)
    assert a[0].tolist() == [1, 2, 3] and math.isnan(a[1, 1])
    frames.clear()
    decode_json("cam", json.dumps({"frame": list(range(12)), "shape": [3, 4], "q": "uncertain"}).encode(), 5, frames)
    assert frames[0][2].shape == (3, 4) and frames[0][3] == UNCERTAIN
    for bad in (b'{"frame": []}', b'{"frame": [[1, 2], [3]]}', b'{"frame": [["a"]]}',
                b'{"frame": [1, 2, 3], "shape": [2, 2]}', b'{"frame": [[[1]]]}', b'{"frame": 5}'):
        with pytest.raises(PayloadError):
            decode_json("cam", bad, 5, [])


def test_json_end_to_end(broker, sink: RecordingSink):
    src = start(broker, sink)
    pub = Publisher(broker)
    try:
        pub.publish("plant/line1/press/temp", json.dumps({"value": 61.5, "ts": T0_MS}))
        pub.publish("plant/line1/press/temp", json.dumps({"value": 62.0, "ts": T0_MS + 100}))
        pub.publish("plant/line1/env", json.dumps({"temp": 21.5, "hum": 40, "ts": (T0_MS + 5) / 1000}))
        before = time.time_ns()
        pub.publish("plant/line1/press/running", "1")
        pub.publish("plant/line1/cam", json.dumps({"frame": [[20.5, 21.0], [22.0, 80.5]], "ts": T0_MS}))
        sink.wait(lambda s: len(s.samples) >= 5 and len(s.arrays) == 1, what="5 samples and a frame")
        assert sink.of("plant/line1/press/temp") == [(T0_MS * NS, 61.5, GOOD), ((T0_MS + 100) * NS, 62.0, GOOD)]
        assert sink.of("plant/line1/env/temp") == [((T0_MS + 5) * NS, 21.5, GOOD)]
        assert sink.of("plant/line1/env/hum") == [((T0_MS + 5) * NS, 40.0, GOOD)]
        [(t, v, q)] = sink.of("plant/line1/press/running")
        assert v == 1.0 and q == GOOD and before <= t <= time.time_ns()  # stamped on arrival
        [(tag, t, a, q)] = sink.arrays
        assert (tag, t, q, a.tolist()) == ("plant/line1/cam", T0_MS * NS, GOOD, [[20.5, 21.0], [22.0, 80.5]])
    finally:
        pub.close()
        src.stop()
    assert sink.status[-1] == ("plant", False, "stopped")


def test_garbage_nan_duplicates_out_of_order(broker, sink: RecordingSink, caplog):
    """Bad payloads are counted and logged once per topic; values and times the hub judges
    (non-finite, repeated, late) are passed on untouched, in arrival order."""
    src = start(broker, sink)
    pub = Publisher(broker)
    try:
        for _ in range(3):
            pub.publish("plant/junk", b"\x00\xffnot json")
        pub.publish("plant/other-junk", b'{"value": "very hot"}')
        pub.publish("plant/t", json.dumps({"value": 1.0, "ts": T0_MS + 2}))
        pub.publish("plant/t", json.dumps({"value": 2.0, "ts": T0_MS + 2}))  # duplicate time
        pub.publish("plant/t", json.dumps({"value": 3.0, "ts": T0_MS + 1}))  # late
        pub.publish("plant/t", b'{"value": Infinity, "ts": 1764670000003}')
        pub.publish("plant/t", b'{"value": NaN, "ts": 1764670000004}')
        pub.publish("plant/t", json.dumps({"value": 6.0, "ts": T0_MS + 5, "q": "bad"}))
        sink.wait(lambda s: len(s.of("plant/t")) == 6, what="6 samples of plant/t")
    finally:
        pub.close()
        src.stop()
    got = sink.of("plant/t")
    assert [t - T0_MS * NS for t, _, _ in got] == [2 * NS, 2 * NS, 1 * NS, 3 * NS, 4 * NS, 5 * NS]
    assert [v for _, v, _ in got][:3] == [1.0, 2.0, 3.0]
    assert math.isinf(got[3][1]) and math.isnan(got[4][1]) and got[5][1:] == (6.0, BAD)
    assert src.counts["garbage"] == 4
    assert src.garbage_by_topic == {"plant/junk": 3, "plant/other-junk": 1}
    warned = [r.getMessage() for r in caplog.records if "ignored a payload" in r.getMessage()]
    assert len(warned) == 2 and any("plant/junk" in w for w in warned)
    assert sink.tags() == {"plant/t"}


def test_mapping_renames_scales_and_drops(broker, sink: RecordingSink, caplog):
    tags = TagMap({"plant/press/force": TagRule("line1/press/force", scale=0.001, offset=1.0, unit="kN")},
                  passthrough=False, source="plant")
    src = MqttSource("plant", broker.url, ["plant/#"])
    src.start(MappedSink(sink, tags))
    sink.wait(lambda s: s.online("plant") is True)
    pub = Publisher(broker)
    try:
        pub.publish("plant/press/unknown", "5")
        pub.publish("plant/press/unknown", "6")
        pub.publish("plant/press/force", json.dumps({"value": 2500, "ts": T0_MS}))
        sink.wait(lambda s: len(s.samples) >= 1)
    finally:
        pub.close()
        src.stop()
    assert sink.samples == [("line1/press/force", T0_MS * NS, 3.5, GOOD)]
    assert sink.units == {"line1/press/force": "kN"}
    assert tags.dropped == 2
    assert sum("plant/press/unknown" in r.getMessage() for r in caplog.records) == 1


def test_broker_killed_and_restarted(broker, sink: RecordingSink):
    """The source goes offline when the broker dies, back online when it returns, and
    nothing is delivered twice."""
    src = start(broker, sink, reconnect_min_s=1, reconnect_max_s=1)
    pub = Publisher(broker, "pub-1")
    try:
        for i in range(5):
            pub.publish("plant/t", json.dumps({"value": i, "ts": T0_MS + i}))
        sink.wait(lambda s: len(s.samples) == 5)
        pub.close()
        broker.kill()
        sink.wait(lambda s: s.online("plant") is False, what="offline")
        offline = [s for s in sink.status if not s[1]][-1]
        assert "lost the broker" in offline[2] or "cannot reach" in offline[2]
        broker.start()
        sink.wait(lambda s: s.online("plant") is True, timeout=15, what="online again")
        pub = Publisher(broker, "pub-2")
        for i in range(5, 10):
            pub.publish("plant/t", json.dumps({"value": i, "ts": T0_MS + i}))
        sink.wait(lambda s: len(s.samples) >= 10)
    finally:
        pub.close()
        src.stop()
    got = sink.of("plant/t")
    assert [v for _, v, _ in got] == [float(i) for i in range(10)]
    assert len({t for t, _, _ in got}) == 10
    assert src.counts["connects"] == 2
    states = [on for n, on, _ in sink.status if n == "plant"]
    assert states[:2] == [False, True] and True in states[states.index(False, 1):]
    assert OFFLINE not in {q for _, _, q in got}


def test_unreachable_broker_is_offline_and_stops_cleanly(sink: RecordingSink):
    from tests.sensors.kit import free_port
    src = MqttSource("plant", f"mqtt://127.0.0.1:{free_port()}", ["plant/#"])
    src.start(sink)
    sink.wait(lambda s: any("cannot reach" in d for _, _, d in s.status), what="a failed attempt")
    src.stop()
    assert sink.online("plant") is False and sink.status[-1][2] == "stopped"


def test_tls_and_password(tmp_path, sink: RecordingSink):
    """A broker that wants TLS (own CA) and a password: the right settings connect; a
    wrong password or an unknown CA leave the source offline, saying why."""
    from tests.sensors.kit import Broker, make_tls_files

    ca, cert, key = make_tls_files(tmp_path)
    b = Broker(tmp_path, users={"twin": "s3cret", "pub": "pub"}, tls=(ca, cert, key)).start()
    try:
        url = f"mqtts://127.0.0.1:{b.tls_port}"
        good = MqttSource("good", url, ["plant/#"], username="twin", password="s3cret", ca_file=str(ca))
        bad_pw = MqttSource("bad-pw", url, ["plant/#"], username="twin", password="nope", ca_file=str(ca))
        bad_ca = MqttSource("bad-ca", url, ["plant/#"], username="twin", password="s3cret")
        for src in (good, bad_pw, bad_ca):
            src.start(sink)
        try:
            sink.wait(lambda s: s.online("good") is True, what="the TLS source online")
            pub = Publisher(b, auth=("pub", "pub"))
            try:
                pub.publish("plant/t", json.dumps({"value": 1.5, "ts": T0_MS}))
            finally:
                pub.close()
            sink.wait(lambda s: s.of("plant/t") == [(T0_MS * NS, 1.5, GOOD)])
            sink.wait(lambda s: any(n == "bad-pw" and "refused" in d for n, _, d in s.status), what="refusal")
            sink.wait(lambda s: any(n == "bad-ca" and "certificate" in d.lower() for n, _, d in s.status),
                      what="a certificate error")
        finally:
            for src in (good, bad_pw, bad_ca):
                src.stop()
        assert not any(on for n, on, _ in sink.status if n in ("bad-pw", "bad-ca"))
    finally:
        b.stop()

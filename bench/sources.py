"""``twin-bench sources``: what one process can take in from sensor sources.

* ``json_msgs_per_s`` / ``sparkplug_metrics_per_s``: the MQTT source's message handler
  (decode, batch, deliver to a sink that counts) fed directly, without the network: small
  JSON payloads ``{"value": …, "ts": …}`` on 100 topics; Sparkplug ``NDATA`` with 10
  aliased metrics each after one ``NBIRTH``. Baseline in the same process:
  ``json_loads_per_s`` (``json.loads`` of the same payloads and nothing else), so
  ``json_handler_ratio`` is our cost over the bare parse.
* ``bridge_samples_per_s``: a bridge's ``ServerSink`` handing batches of 1 000 samples to
  a real ``twin-sync serve`` over ZeroMQ (until all are sent and confirmed by a ping).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt

from bench.sync import Server
from sync_server.sensors.bridge import ServerSink
from sync_server.sensors.mqtt import MqttSource
from sync_server.sensors.proto import sparkplug_b_pb2 as pb
from sync_server.sensors.sparkplug import SparkplugHost
from sync_server.sensors.tags import Batcher


class _Count:
    def __init__(self) -> None:
        self.n = 0

    def push(self, tags: Any, idx: Any, t_ns: Any, values: Any, quality: Any, units: Any = None) -> None:
        self.n += len(idx)

    def push_array(self, tag: str, t_ns: int, values: Any, quality: int) -> None:
        self.n += 1

    def source_status(self, name: str, online: bool, detail: str = "") -> None:
        pass


def _message(topic: str, payload: bytes) -> mqtt.MQTTMessage:
    m = mqtt.MQTTMessage(topic=topic.encode())
    m.payload = payload
    return m


def _handler_rate(fmt: str, messages: list[mqtt.MQTTMessage]) -> tuple[int, float]:
    src = MqttSource("bench", "mqtt://127.0.0.1:1", ["#"], fmt)
    sink = _Count()
    src._sink = sink
    src._batcher = Batcher(sink, 0.01)
    src._batcher.start()
    if fmt == "sparkplug":
        src._host = SparkplugHost(src._emit, lambda topic, payload: None, "bench")
    t0 = time.perf_counter()
    for m in messages:
        src._on_message(None, None, m)
    src._batcher.stop()
    return sink.n, time.perf_counter() - t0


def _json(n: int) -> dict[str, Any]:
    payloads = [json.dumps({"value": i * 0.5, "ts": 1_764_670_000_000 + i}).encode() for i in range(n)]
    t0 = time.perf_counter()
    for p in payloads:
        json.loads(p)
    bare = time.perf_counter() - t0
    got, dt = _handler_rate("json", [_message(f"plant/m{i % 100}", p) for i, p in enumerate(payloads)])
    assert got == n, (got, n)
    return {"json_msgs_per_s": round(n / dt), "json_loads_per_s": round(n / bare),
            "json_handler_ratio": round(dt / bare, 2)}


def _sparkplug(n: int) -> dict[str, Any]:
    birth = pb.Payload(timestamp=1_764_670_000_000, seq=0)
    for k in range(10):
        m = birth.metrics.add()
        m.name, m.alias, m.datatype, m.double_value = f"M{k}", k, 10, 0.0
    msgs = [_message("spBv1.0/G/NBIRTH/N", birth.SerializeToString())]
    for i in range(1, n // 10):
        p = pb.Payload(timestamp=1_764_670_000_000 + i, seq=i % 256)
        for k in range(10):
            m = p.metrics.add()
            m.alias, m.double_value = k, i * 0.1
        msgs.append(_message("spBv1.0/G/NDATA/N", p.SerializeToString()))
    got, dt = _handler_rate("sparkplug", msgs)
    return {"sparkplug_metrics_per_s": round(got / dt)}


def _bridge(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        srv = Server(Path(tmp) / "data", extra=["--token", "bench-source:source"])
        srv.start()
        try:
            sink = ServerSink(srv.endpoint, "bench-source", name="bench", max_queued=n * 2)
            sink.start()
            if not sink.connected.wait(10):
                raise RuntimeError("the bridge sink could not connect")
            tags = [f"bench/s{i}" for i in range(100)]
            idx = (np.arange(1000) % 100).astype(np.uint32)
            t_base = time.time_ns()
            t0 = time.perf_counter()
            for k in range(n // 1000):
                t = t_base + (k * 1000 + np.arange(1000, dtype=np.int64)) * 1000
                sink.push(tags, idx, t, np.random.default_rng(k).random(1000), np.zeros(1000, np.uint8),
                          source="bench")
            while (sink.counts["sent"] < n or sink._unconfirmed_n) and time.perf_counter() - t0 < 120:
                time.sleep(0.005)
            dt = time.perf_counter() - t0
            sent = sink.counts["sent"]
            sink.stop()
        finally:
            srv.stop()
    return {"bridge_samples_per_s": round(sent / dt), "bridge_samples_sent": sent}


def run(quick: bool) -> dict[str, Any]:
    n = 50_000 if quick else 200_000
    out: dict[str, Any] = {}
    out.update(_json(n))
    out.update(_sparkplug(n))
    out.update(_bridge(1_000_000 if quick else 4_000_000))
    return out

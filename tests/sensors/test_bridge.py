"""``twin-sync bridge``: sources in their own process, feeding a server over ZeroMQ; MQTT 5
shared subscriptions split one broker's messages between several bridges."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections import Counter

import numpy as np
import pytest

from sync_server.sensors.bridge import ServerSink
from tests.sensors.kit import Publisher, PushCollector, free_port, wait_until
from twin_app.core.sensors import GOOD

pytestmark = pytest.mark.net

T0_MS = 1_764_670_000_000
NS = 1_000_000


def mapping(tmp_path, broker, share: str | None = None):
    p = tmp_path / "mapping.toml"
    p.write_text(textwrap.dedent(f"""\
        [[source]]
        name = "plant"
        type = "mqtt"
        url = "{broker.url}"
        topics = ["plant/#"]
        {f'share = "{share}"' if share else ""}

        [[map]]
        from = "plant/press/temp"
        tag = "line1/press/temp"
        unit = "°C"
        """))
    return p


class Bridge:
    """``twin-sync bridge`` in a child process."""

    def __init__(self, config, endpoint: str, name: str, token: str = "source-token") -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync_server", "bridge", "--config", str(config), "--connect", endpoint,
             "--token", token, "--name", name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(self) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.terminate()
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


@pytest.fixture
def collector():
    c = PushCollector().start()
    yield c
    c.stop()


def test_bridge_process_pushes_mapped_samples(tmp_path, broker, collector: PushCollector):
    bridge = Bridge(mapping(tmp_path, broker), collector.endpoint, "bridge-a")
    try:
        collector.wait(lambda c: c.online("plant") is True, what="the source online")
        pub = Publisher(broker)
        try:
            pub.publish("plant/press/temp", json.dumps({"value": 61.5, "ts": T0_MS}))
            pub.publish("plant/press/force", json.dumps({"value": 3.0, "ts": T0_MS}))
            pub.publish("plant/junk", b"\x00garbage")
        finally:
            pub.close()
        collector.wait(lambda c: len(c.samples) >= 2, what="2 samples")
    finally:
        code, out, err = bridge.stop()
    assert code == 0, err
    assert sorted(collector.samples) == [("bridge-a", "line1/press/temp", T0_MS * NS, 61.5, GOOD),
                                         ("bridge-a", "plant/press/force", T0_MS * NS, 3.0, GOOD)]
    assert collector.units == {"line1/press/temp": "°C"}
    # What a person running it reads: the sources, the server, each source's state.
    assert "1 source(s) (plant)" in out
    assert f"connected to {collector.endpoint} as 'bridge-a' (role source)" in out
    assert "source plant: online (connected to 127.0.0.1:" in out
    assert "source plant: OFFLINE (stopped)" in out
    assert collector.push_sources == {"plant"}  # the server knows whose streams these are
    # Stopping says so: the server shows the source offline rather than stale values.
    assert collector.online("plant") is False
    assert "ignored a payload on plant/junk" in err


def test_two_bridges_share_one_subscription(tmp_path, broker, collector: PushCollector):
    """Two bridge processes in one MQTT 5 shared-subscription group: each gets a share,
    together every message exactly once."""
    config = mapping(tmp_path, broker, share="twinroom")
    bridges = [Bridge(config, collector.endpoint, "bridge-a"), Bridge(config, collector.endpoint, "bridge-b")]
    n = 400
    try:
        for b in bridges:
            # Each bridge's share of the subscription is a source of its own.
            collector.wait(lambda c, b=b: c.online(f"plant@{b.name}") is True, what=f"{b.name} online")
        pub = Publisher(broker)
        try:
            for i in range(n):
                pub.publish(f"plant/m{i % 8}", json.dumps({"value": i, "ts": T0_MS + i}))
        finally:
            pub.close()
        collector.wait(lambda c: len(c.samples) >= n, what=f"{n} samples")
    finally:
        results = [b.stop() for b in bridges]
    assert all(code == 0 for code, _, _ in results), results
    values = Counter(int(v) for _, _, _, v, _ in collector.samples)
    assert sorted(values) == list(range(n)) and set(values.values()) == {1}  # exactly once
    per_bridge = Counter(peer for peer, *_ in collector.samples)
    assert set(per_bridge) == {"bridge-a", "bridge-b"} and min(per_bridge.values()) > n // 10, per_bridge
    for _peer, tag, t, v, _ in collector.samples:
        assert tag == f"plant/m{int(v) % 8}" and t == (T0_MS + int(v)) * NS
    assert collector.push_sources == {"plant@bridge-a", "plant@bridge-b"}


def test_unreachable_server_drops_oldest_and_counts(collector: PushCollector):
    """While the server cannot be reached the queue stays bounded: the oldest samples go
    (counted); once it answers, the newest arrive."""
    port = free_port()
    sink = ServerSink(f"tcp://127.0.0.1:{port}", "source-token", name="bounded", max_queued=100)
    sink.start()
    try:
        sink.source_status("replay", True, "")
        for k in range(10):
            i = np.arange(k * 50, (k + 1) * 50)
            sink.push(["x"], np.zeros(50, np.uint32), (T0_MS * NS + i).astype(np.int64), i.astype(np.float64),
                      np.zeros(50, np.uint8))
        assert sink.counts["dropped"] == 400
        assert not sink.connected.is_set()
        late = PushCollector(port).start()
        try:
            late.wait(lambda c: len(c.samples) == 100, what="the newest 100 samples")
            assert [v for *_, v, _ in late.samples] == [float(i) for i in range(400, 500)]
            assert late.online("replay") is True
        finally:
            late.stop()
    finally:
        sink.stop()


def test_server_restart_loses_nothing_and_resends_states(collector: PushCollector):
    """Samples sent while the server restarts are sent again after the new HELLO (a
    sample that arrived twice is dropped by the hub); source states are repeated."""
    sink = ServerSink(collector.endpoint, "source-token", name="restarts")
    sink.start()

    def push(k: int) -> None:
        sink.push(["y"], np.zeros(1, np.uint32), np.array([T0_MS * NS + k], np.int64), np.array([float(k)]),
                  np.zeros(1, np.uint8), source="plc")

    try:
        sink.source_status("plc", True, "connected")
        push(0)
        collector.wait(lambda c: c.online("plc") is True and len(c.samples) == 1)
        collector.frozen.set()  # the server hangs, then dies with what it had not read
        push(1)
        sent = sink.counts["messages"]
        wait_until(lambda: sink.counts["messages"] > sent, what="sample 1 sent")
        collector.stop()
        again = PushCollector(collector.port).start()
        try:
            push(2)
            again.wait(lambda c: c.online("plc") is True and {s[3] for s in c.samples} >= {1.0, 2.0},
                       what="the samples sent around the restart")
            assert again.hellos == ["restarts"]
            assert {s[2] for s in again.samples} <= {T0_MS * NS + k for k in range(3)}
        finally:
            again.stop()
    finally:
        sink.stop()


def test_bad_token_and_bad_file_end_the_bridge_in_words(tmp_path, broker, collector: PushCollector):
    b = Bridge(mapping(tmp_path, broker), collector.endpoint, "intruder", token="wrong")
    out, _err = b.proc.communicate(timeout=30)
    assert b.proc.returncode == 1
    assert "refused the token" in out
    (tmp_path / "broken.toml").write_text('[[source]]\nname = "a"\ntype = "mqtt"\nurl = "mqtt://x"\ntopcs = ["t"]\n')
    r = subprocess.run([sys.executable, "-m", "sync_server", "bridge", "--config", str(tmp_path / "broken.toml"),
                        "--connect", collector.endpoint, "--token", "source-token"],
                       check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "line 5" in r.stdout and "did you mean 'topics'" in r.stdout


def test_bridge_feeds_a_real_server_and_clients_see_values_and_offline(
        tmp_path, broker, server, make_client, room_name):
    """MQTT → bridge process → server hub → a joined client: the value shows on the bound
    sensor; the broker dying shows the source offline and the stream's quality offline."""
    from twin_app.core import AddNode, Node, new_id
    from twin_app.core.sensors import OFFLINE

    client = make_client(room_name, name="Ana")
    assert client.wait_for(lambda: client.state == "live", 15), client.state_detail
    part, sensor = new_id(), new_id()
    client.submit(AddNode(Node(part, "root", "V", kind="part", name="Press")), "add part")
    client.submit(AddNode(Node(sensor, part, "V", kind="sensor", name="Oil temperature",
                               props={"tag": "line1/press/temp", "unit": "°C"})), "add sensor")
    feed = client.sensors
    bridge = Bridge(mapping(tmp_path, broker), server.endpoint, "bridge-a")
    pub = Publisher(broker)
    try:
        assert client.wait_for(lambda: "plant" in feed.sources and feed.sources["plant"].online, 20)
        # Until the hub has the room's sensor, a sample may arrive before it is bound.
        ms = time.time_ns() // NS
        for k in range(50):
            pub.publish("plant/press/temp", json.dumps({"value": 61.5 + k, "ts": ms + k}))
            if client.wait_for(lambda: feed.value("line1/press/temp") is not None, 0.2):
                break
        last = feed.value("line1/press/temp")
        assert last is not None and last[2] == GOOD
        pub.publish("plant/press/temp", json.dumps({"value": 99.0, "ts": ms + 100}))
        assert client.wait_for(lambda: feed.value("line1/press/temp")[0] == 99.0, 10)
        assert feed.stream("line1/press/temp").unit == "°C"
        pub.close()
        broker.kill()
        assert client.wait_for(lambda: not feed.sources["plant"].online, 15)
        assert client.wait_for(lambda: feed.value("line1/press/temp")[2] == OFFLINE, 10)
        broker.start()
        assert client.wait_for(lambda: feed.sources["plant"].online, 20)
        pub = Publisher(broker, "publisher-2")
        pub.publish("plant/press/temp", json.dumps({"value": 70.0, "ts": time.time_ns() // NS}))
        assert client.wait_for(lambda: feed.value("line1/press/temp")[:3:2] == (70.0, GOOD), 10)
    finally:
        pub.close()
        code, _, err = bridge.stop()
    assert code == 0, err
    assert client.wait_for(lambda: not feed.sources["plant"].online, 10)


def test_a_token_that_may_not_push_ends_the_bridge_in_words(tmp_path, broker, server):
    b = Bridge(mapping(tmp_path, broker), server.endpoint, "designer-bridge", token="designer-token")
    out, _err = b.proc.communicate(timeout=60)
    assert b.proc.returncode == 1
    assert "may not push sensor samples" in out and "role source" in out

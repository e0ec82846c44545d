"""OPC UA source against a real asyncua server started by the test."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from sync_server.sensors.opcua import OpcUaSource, quality_of
from tests.sensors.kit import OpcServer, RecordingSink
from twin_app.core.sensors import BAD, GOOD, UNCERTAIN

pytestmark = pytest.mark.net

T0 = (time.time_ns() // 10**9 + 3600) * 10**9  # an hour ahead: after the initial values
FORCE, TEMP, RUNNING, LABEL = ("ns=2;s=Press.Force", "ns=2;s=Press.Temperature", "ns=2;s=Press.Running",
                               "ns=2;s=Press.Label")
BAD_SENSOR_FAILURE = 0x808B0000
UNCERTAIN_LAST_USABLE = 0x40900000


@pytest.fixture(scope="module")
def opc_server():
    """One server for the tests that only write values (each writes its own variables)."""
    srv = OpcServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def own_server():
    """A server the test may stop and start."""
    srv = OpcServer().start()
    yield srv
    srv.stop()


def start(url: str, sink: RecordingSink, nodes=(FORCE, TEMP, RUNNING, LABEL)) -> OpcUaSource:
    src = OpcUaSource("plc", url, list(nodes), sampling_ms=10, publishing_ms=20,
                      reconnect_min_s=0.1, reconnect_max_s=0.5, watchdog_s=0.3, timeout_s=2)
    src.start(sink)
    return src


def test_status_code_severity():
    assert quality_of(0) == GOOD
    assert quality_of(UNCERTAIN_LAST_USABLE) == UNCERTAIN
    assert quality_of(BAD_SENSOR_FAILURE) == BAD
    assert quality_of(0xC0000000) == BAD


def test_values_and_status_codes(opc_server: OpcServer, sink: RecordingSink, caplog):
    src = start(opc_server.url, sink)
    try:
        sink.wait(lambda s: s.online("plc") is True, what="connected")
        # The initial values arrive with the subscription.
        sink.wait(lambda s: {FORCE, TEMP, RUNNING} <= s.tags(), what="initial values")
        opc_server.write("Press.Force", 12.5, ts_ns=T0 + 1_000_000)
        opc_server.write("Press.Force", 13.5, status=UNCERTAIN_LAST_USABLE, ts_ns=T0 + 2_000_000)
        opc_server.write("Press.Force", 0.0, status=BAD_SENSOR_FAILURE, ts_ns=T0 + 3_000_000)
        opc_server.write("Press.Running", True, ts_ns=T0 + 4_000_000)
        sink.wait(lambda s: len(s.of(FORCE)) >= 4 and len(s.of(RUNNING)) >= 2, what="changes")
    finally:
        src.stop()
    force = [x for x in sink.of(FORCE) if x[0] >= T0]
    assert force[:2] == [(T0 + 1_000_000, 12.5, GOOD), (T0 + 2_000_000, 13.5, UNCERTAIN)]
    # A Bad status carries no usable value: the sample is a bad NaN.
    [(t, v, q)] = force[2:]
    assert t == T0 + 3_000_000 and math.isnan(v) and q == BAD
    assert sink.of(RUNNING)[-1] == (T0 + 4_000_000, 1.0, GOOD)
    assert LABEL not in sink.tags()  # text is not a measurement
    assert sum("Press.Label" in r.getMessage() for r in caplog.records) == 1
    assert sink.status[-1] == ("plc", False, "stopped")


def test_bad_status_without_a_value_is_a_bad_nan(opc_server: OpcServer, sink: RecordingSink):
    from asyncua import ua
    src = start(opc_server.url, sink, [TEMP])
    try:
        sink.wait(lambda s: len(s.of(TEMP)) >= 1)
        opc_server.write("Press.Temperature", ua.Variant(), status=BAD_SENSOR_FAILURE, ts_ns=T0)
        sink.wait(lambda s: len(s.of(TEMP)) >= 2)
    finally:
        src.stop()
    t, v, q = sink.of(TEMP)[-1]
    assert t == T0 and math.isnan(v) and q == BAD


def test_array_values_become_array_samples(opc_server: OpcServer, sink: RecordingSink):
    from asyncua import ua
    cam = "ns=2;s=Press.Camera"
    src = start(opc_server.url, sink, [cam])
    try:
        sink.wait(lambda s: len(s.arrays) >= 1, what="the initial frame")
        opc_server.write("Press.Camera", ua.Variant([20.0, 21.0, 22.0, 30.0, 31.0, 90.5], ua.VariantType.Double,
                                                    Dimensions=[2, 3]), ts_ns=T0)
        sink.wait(lambda s: len(s.arrays) >= 2, what="the new frame")
    finally:
        src.stop()
    tag, t, a, q = sink.arrays[-1]
    assert (tag, t, q) == (cam, T0, GOOD)
    assert a.dtype == np.float32 and a.tolist() == [[20.0, 21.0, 22.0], [30.0, 31.0, 90.5]]
    assert sink.arrays[0][2].shape == (1, 6)  # no dimensions given: one row


def test_server_lost_and_back(own_server: OpcServer, sink: RecordingSink):
    opc_server = own_server
    src = start(opc_server.url, sink, [FORCE])
    try:
        sink.wait(lambda s: s.online("plc") is True)
        opc_server.write("Press.Force", 1.0, ts_ns=T0 + 1_000_000)
        sink.wait(lambda s: (T0 + 1_000_000, 1.0, GOOD) in s.of(FORCE))
        opc_server.stop()
        sink.wait(lambda s: s.online("plc") is False, timeout=15, what="offline")
        opc_server.start()
        sink.wait(lambda s: s.online("plc") is True, timeout=20, what="online again")
        opc_server.write("Press.Force", 2.0, ts_ns=T0 + 2_000_000)
        sink.wait(lambda s: (T0 + 2_000_000, 2.0, GOOD) in s.of(FORCE))
    finally:
        src.stop()
    assert src.counts["connects"] == 2
    offline = [d for n, on, d in sink.status if not on and "lost" in d]
    assert offline, sink.status


def test_unreachable_server_is_offline_and_never_fatal(sink: RecordingSink):
    from tests.sensors.kit import free_port
    src = start(f"opc.tcp://127.0.0.1:{free_port()}/", sink, [FORCE])
    try:
        sink.wait(lambda s: any("cannot reach" in d for _, _, d in s.status), what="a failed attempt")
        assert sink.online("plc") is False
    finally:
        src.stop()

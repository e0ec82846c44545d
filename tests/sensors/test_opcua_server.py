"""OPC UA end to end: an asyncua server, the sync server's OPC UA source (from a mapping
file), a joined client. A Bad status code reaches the client as bad quality."""

from __future__ import annotations

import time

import pytest

from tests.netutil import ServerProcess
from tests.sensors.kit import OpcServer
from twin_app.core import AddNode, Node, new_id
from twin_app.core.sensors import BAD, GOOD

pytestmark = pytest.mark.net

BAD_SENSOR_FAILURE = 0x808B0000


def test_opcua_value_and_bad_status_reach_a_client(tmp_path):
    from twin_app.net import SyncClient

    opc = OpcServer().start()
    mapping = tmp_path / "plc.toml"
    mapping.write_text(
        '[[source]]\nname = "press-plc"\ntype = "opcua"\n'
        f'url = "{opc.url}"\nnodes = ["ns=2;s=Press.Force"]\nsampling_ms = 20\n\n'
        '[[map]]\nfrom = "ns=2;s=Press.Force"\ntag = "line/press/force"\nscale = 0.001\nunit = "kN"\n')
    srv = ServerProcess(tmp_path / "server", extra=["--sensors", str(mapping)]).start()
    c = SyncClient(srv.endpoint, "plant", "owner-token", "Ana")
    c.start()
    try:
        assert c.wait_for(lambda: c.state == "live", 15)
        c.submit(AddNode(Node(new_id(), "root", "V", kind="sensor", name="Press force",
                              props={"tag": "line/press/force", "stale_s": 3600.0})), "bind")
        t0 = (time.time_ns() // 10**9 + 60) * 10**9
        opc.write("Press.Force", 12500.0, ts_ns=t0)

        def value():
            return c.sensors.value("line/press/force")

        assert c.wait_for(lambda: (v := value()) is not None and v[1] == t0, 20)
        assert value()[0] == pytest.approx(12.5) and value()[2] == GOOD
        assert c.sensors.stream("line/press/force").unit == "kN"
        assert c.sensors.sources["press-plc"].online
        opc.write("Press.Force", 0.0, status=BAD_SENSOR_FAILURE, ts_ns=t0 + 1_000_000)
        assert c.wait_for(lambda: value()[1] == t0 + 1_000_000, 20)
        assert value()[2] == BAD
    finally:
        c.close()
        srv.stop()
        opc.stop()

"""A client reports what its application applied, not what its network thread received:
one that falls behind looks behind to everyone, the server stops queueing for it past the
lag limit (bounded memory on both sides), and it repairs once it catches up."""

from __future__ import annotations

import pytest

from tests.netutil import ServerProcess, wait_all
from twin_app.core import AddNode, Node, SetField
from twin_app.net import SyncClient

pytestmark = pytest.mark.net


def test_a_client_whose_application_lags_looks_behind_and_then_catches_up(tmp_path):
    srv = ServerProcess(tmp_path / "srv", ["--lag-limit", "2000", "--hb-ms", "100"]).start()
    slow = SyncClient(srv.endpoint, "line", "owner-token", "Busy screen")
    fast = SyncClient(srv.endpoint, "line", "designer-token", "Designer")
    try:
        slow.start()
        assert slow.wait_for(lambda: slow.state == "live")
        fast.start()
        assert fast.wait_for(lambda: fast.state == "live" and slow.session in fast.peers)
        fast.submit(AddNode(Node("press", "root", "V", kind="part", name="Press")), "add")
        for i in range(6000):
            fast.submit(SetField("press", "prop:stroke", i), "stroke")
        assert fast.wait_for(lambda: fast.unacked_count == 0, 60)
        # The slow client's application applied nothing meanwhile (its owner never ran):
        # the room sees it far behind, although its network thread kept receiving.
        assert fast.wait_for(lambda: fast.peers[slow.session].behind >= 2000, 20), fast.peers[slow.session]
        assert slow.store.last_seq < 100
        # Once it runs again it catches up, through repair of what the server held back.
        assert slow.wait_for(lambda: slow.store.last_seq == 6001, 30)
        assert slow.counters["catchups"] + slow.counters["joins"] > 1  # it did repair
        assert fast.wait_for(lambda: fast.store.last_seq == 6001, 30)
        assert slow.store.doc.hash() == fast.store.doc.hash()
        assert wait_all([fast, slow], lambda: fast.peers[slow.session].behind == 0, 20)
    finally:
        fast.close()
        slow.close()
        srv.stop()

"""Soak: a minute of concurrent editing while the server is killed and restarted and people
come and go. Nothing acknowledged is lost, nothing is applied twice, everyone converges."""

from __future__ import annotations

import random
import sqlite3
import time

import pytest

from tests.netutil import ServerProcess, wait_all
from twin_app.core import AddNode, InvalidOp, Node, RemoveNode, Reparent, SetField, new_id
from twin_app.core.fracindex import key_between
from twin_app.net import SyncClient

pytestmark = [pytest.mark.net, pytest.mark.slow]


def random_edit(rng: random.Random, client: SyncClient) -> None:
    doc = client.store.doc
    ids = sorted(doc.nodes)
    a, b = rng.choice(ids), rng.choice(ids)
    kind = rng.random()
    if kind < 0.4 or len(ids) < 20:
        op = AddNode(Node(new_id(), a, key_between(None, None), kind="part", name="p"))
    elif kind < 0.5:
        op = RemoveNode(a)
    elif kind < 0.6:
        op = Reparent(a, b, key_between(None, None))
    else:
        op = SetField(a, rng.choice(["name", "prop:temp", "visible"]),
                      rng.choice(["x", "y"]) if kind < 0.8 else (rng.random() if kind < 0.9 else rng.random() < 0.5))
    try:
        client.submit(op, "soak")
    except InvalidOp:
        pass  # refused locally against this client's view


def test_minute_of_editing_with_server_kills(tmp_path):
    rng = random.Random(7)
    srv = ServerProcess(tmp_path / "data").start()
    clients = [SyncClient(srv.endpoint, "soak", "owner-token", f"c{i}", state_dir=tmp_path / f"c{i}")
               for i in range(3)]
    acked: dict[str, set[int]] = {}
    for c in clients:
        acked[c.client_id] = set()
        # Acks naming their seq are for edits the server logged (a duplicate resend's ack
        # may name none: that edit was handled before, perhaps refused).
        c.on_ack.append(lambda cseq, seq, cid=c.client_id: acked[cid].add(cseq) if seq else None)
        c.start()
    try:
        assert wait_all(clients, lambda: all(c.state == "live" for c in clients), 20)
        end = time.monotonic() + 45
        next_kill = time.monotonic() + 10
        kills = 0
        while time.monotonic() < end:
            c = rng.choice(clients)
            random_edit(rng, c)
            c.wait_for(lambda: False, 0.002)
            if time.monotonic() > next_kill and kills < 3:
                srv.kill()
                kills += 1
                srv.start()
                next_kill = time.monotonic() + 10
        assert kills == 3
        def settled() -> bool:
            return all(c.state == "live" and c.unacked_count == 0 and not c.store.pending for c in clients) \
                and len({c.store.last_seq for c in clients}) == 1 \
                and all(c.server_hash[0] == c.store.last_seq for c in clients)
        assert wait_all(clients, settled, 60)
        assert len({c.store.doc.hash() for c in clients} | {c.server_hash[1] for c in clients}) == 1
        db = sqlite3.connect(tmp_path / "data" / "rooms" / "soak.db")
        dup = db.execute("SELECT client_id, cseq FROM ops GROUP BY client_id, cseq HAVING count(*) > 1").fetchall()
        logged = {}
        for cid, cseq in db.execute("SELECT client_id, cseq FROM ops"):
            logged.setdefault(cid, set()).add(cseq)
        seqs = [s for (s,) in db.execute("SELECT seq FROM ops ORDER BY seq")]
        db.close()
        assert dup == [], "applied twice"
        for cid, got in acked.items():
            assert got <= logged.get(cid, set()), "an acknowledged edit was lost"
        assert seqs == list(range(1, len(seqs) + 1))
        assert sum(len(v) for v in acked.values()) > 300
    finally:
        for c in clients:
            c.close()
        srv.stop()

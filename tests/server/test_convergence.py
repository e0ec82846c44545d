"""Property-based convergence: random concurrent op streams from three real clients.

Each client edits what *it* currently sees (so edits conflict: the same property, moves
into each other, edits of nodes someone deleted), events are processed at random moments,
and at the end every replica and the server hold the same document hash.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.netutil import ServerProcess, wait_all
from twin_app.core import AddNode, Batch, InvalidOp, Node, RemoveNode, Reparent, SetField, new_id
from twin_app.core.fracindex import key_between
from twin_app.net import SyncClient

pytestmark = [pytest.mark.net]

_rooms = itertools.count()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory):
    srv = ServerProcess(Path(tmp_path_factory.mktemp("conv"))).start()
    yield srv
    srv.stop()


action = st.tuples(
    st.integers(0, 2),  # which client
    st.sampled_from(["add", "add", "remove", "move", "name", "color", "transform", "prop", "batch", "pump"]),
    st.integers(0, 10_000),  # picks the target node
    st.integers(0, 10_000),  # picks the second node / value
)


def make_op(client: SyncClient, kind: str, a: int, b: int):
    doc = client.store.doc
    ids = sorted(doc.nodes)
    target = ids[a % len(ids)]
    other = ids[b % len(ids)]
    if kind == "add":
        return AddNode(Node(new_id(), target, key_between(None, None), kind="part", name=f"n{b}"))
    if kind == "remove":
        return RemoveNode(target)
    if kind == "move":
        return Reparent(target, other, key_between(None, None) if b % 2 else "k")
    if kind == "name":
        return SetField(target, "name", f"name{b % 7}")
    if kind == "color":
        return SetField(target, "color", (b % 3 / 2, 0.5, 1.0))
    if kind == "transform":
        return SetField(target, "transform", (b % 5, 0, 0, 0, 0, 0, 1, 1, 1, 1))
    if kind == "prop":
        return SetField(target, "prop:mass", float(b % 11))
    return Batch((SetField(target, "visible", bool(b % 2)), SetField(other, "opacity", 0.5)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(action, min_size=5, max_size=60))
def test_replicas_converge_to_the_server(shared_server, actions):
    room = f"conv{next(_rooms)}"
    clients = [SyncClient(shared_server.endpoint, room, "owner-token", f"c{i}") for i in range(3)]
    try:
        for c in clients:
            c.start()
        assert wait_all(clients, lambda: all(c.state == "live" for c in clients))
        for who, kind, a, b in actions:
            c = clients[who]
            if kind == "pump":
                c.process_events()
                continue
            try:
                c.submit(make_op(c, kind, a, b), kind)
            except InvalidOp:
                pass  # invalid against this client's view: refused locally, never sent
        assert wait_all(
            clients,
            lambda: all(c.unacked_count == 0 and not c.store.pending for c in clients)
            and len({c.store.last_seq for c in clients}) == 1
            and all(c.server_hash[0] == c.store.last_seq for c in clients),
            30,
        )
        hashes = {c.store.doc.hash() for c in clients} | {c.server_hash[1] for c in clients}
        assert len(hashes) == 1, hashes
        # Equal by construction, not by repair: no client had to resync.
        assert all(c.divergences == 0 and c.counters["joins"] == 1 for c in clients)
        for c in clients:  # never a cycle, never an orphan
            doc = c.store.doc
            assert all(doc.is_ancestor("root", nid) for nid in doc.nodes)
    finally:
        for c in clients:
            c.close()

"""Convergence of optimistic client replicas against a sequencing server, simulated in-process.

A simulated server (a Document plus a seq counter) applies submitted ops in arrival order and
rejects the ones that do not apply. Several ``ClientStore`` replicas edit at random, submit
with random delays, and receive the sequenced stream (and their own nacks) in order. Every op
crosses a real msgpack round trip, as on the network. Checked after every step:

* every replica holds a proper tree (never a cycle);
* a replica's document is exactly the server's document at the replica's ``last_seq`` with
  its pending ops applied on top, in submit order (so a nacked edit is rolled back);
* whenever a replica notifies its observers, every property with a pending local write shows
  that local value (no flicker back to an older remote value);

and at quiescence every replica equals the server.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.core_kit import assert_tree_ok
from tests.core.sim_kit import (
    DataChooser,
    RandomChooser,
    Simulation,
    local,
    pair,
    values_seen,
)
from twin_app.core.document import Node
from twin_app.core.ops import AddNode, Batch, RemoveNode, Reparent, SetField


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(min_value=3, max_value=4))
def test_replicas_converge_on_random_interleavings(data: st.DataObject, n_clients: int) -> None:
    sim = Simulation(n_clients)
    ch = DataChooser(data)
    for _ in range(data.draw(st.integers(1, 60))):
        sim.step(ch)
    sim.quiesce()


@pytest.mark.parametrize("seed", range(6))
def test_replicas_converge_long_random_run(seed: int) -> None:
    sim = Simulation(4)
    ch = RandomChooser(seed)
    for _ in range(400):
        sim.step(ch)
    sim.quiesce()
    assert sim.server.seq > 50
    assert sim.server.rejected > 0  # conflicts really happened


# -- targeted scenarios ---------------------------------------------------------------
def test_pending_value_is_not_overwritten_by_an_earlier_remote_value() -> None:
    sim, a, b = pair()
    seen = values_seen(a, "robot", "color")
    local(b, SetField("robot", "color", (0.0, 1.0, 0.0)))  # green, sequenced first
    sim.send(b)
    local(a, SetField("robot", "color", (1.0, 0.0, 0.0)))  # red, pending
    a.receive()  # b's green arrives while a's red is pending
    assert a.store.doc.nodes["robot"].color == (1.0, 0.0, 0.0)
    sim.send(a)
    a.receive()  # a's own op: acknowledged
    assert a.store.pending == []
    b.receive()
    b.receive()
    # Notified on the local edit and on the remote one beneath it (the ack changes
    # nothing): never green, not even for one notification.
    assert seen == [(1.0, 0.0, 0.0)] * 2
    sim.quiesce()
    assert sim.server.doc.nodes["robot"].color == (1.0, 0.0, 0.0)


def test_later_remote_value_wins_after_ack() -> None:
    sim, a, b = pair()
    local(a, SetField("robot", "name", "mine"))
    sim.send(a)
    local(b, SetField("robot", "name", "theirs"))
    sim.send(b)
    a.receive()  # ack of mine
    assert a.store.doc.nodes["robot"].name == "mine"
    a.receive()  # theirs, sequenced after mine: last writer wins
    assert a.store.doc.nodes["robot"].name == "theirs"
    sim.quiesce()


def test_nacked_edit_rolls_back_and_later_pending_edits_stay() -> None:
    sim, a, b = pair()
    seen = values_seen(a, "robot", "name")
    local(b, RemoveNode("st2"))  # b removes station 2 (and the conveyor)
    sim.send(b)
    local(a, SetField("conveyor", "name", "Belt"))  # a renames the conveyor: will be refused
    local(a, SetField("robot", "name", "Arm"))
    sim.send(a)
    sim.send(a)
    a.receive()  # b's removal: a's rename becomes inert
    assert "conveyor" not in a.store.doc
    assert a.store.pending[0].inverse is None
    a.receive()  # the nack
    assert [p.op for p in a.store.pending] == [SetField("robot", "name", "Arm")]
    assert a.store.doc.nodes["robot"].name == "Arm"
    sim.quiesce()
    assert seen[-1] == "Arm"


def test_nack_of_an_applied_edit_restores_the_server_value() -> None:
    sim, a, _ = pair()
    seen = values_seen(a, "robot", "prop:part_number")
    # A batch that applies locally but that the server refuses (simulated rejection).
    local(a, Batch((SetField("robot", "prop:part_number", None), SetField("robot", "name", "x"))))
    assert a.store.doc.nodes["robot"].props.get("part_number") is None
    cseq, _ = a.outbox.popleft()
    a.inbox.append(("nack", cseq, "forbidden"))
    a.receive()
    assert a.store.pending == []
    assert a.store.doc.nodes["robot"].props["part_number"] == "R-100"
    assert a.store.doc.hash() == sim.server.doc.hash()
    assert seen == [None, "R-100"]


def test_concurrent_cross_moves_never_make_a_cycle() -> None:
    sim, a, b = pair()
    local(a, Reparent("st1", "st2", "V"))  # a: station 1 into station 2
    local(b, Reparent("st2", "st1", "V"))  # b: station 2 into station 1
    sim.send(a)
    sim.send(b)  # refused: cycle
    b.receive()
    assert_tree_ok(b.store.doc)
    assert b.store.pending[0].inverse is None
    sim.quiesce()
    assert sim.server.rejected == 1
    assert sim.server.doc.nodes["st1"].parent == "st2"


def test_concurrent_adds_at_the_same_position_order_identically() -> None:
    sim, a, b = pair()
    local(a, AddNode(Node("zz-a", "st1", "W")))
    local(b, AddNode(Node("aa-b", "st1", "W")))  # same key, different id
    sim.send(b)
    sim.send(a)
    sim.quiesce()
    assert a.store.doc.children("st1") == b.store.doc.children("st1") == ["robot", "aa-b", "zz-a"]


def test_edit_under_a_concurrently_removed_parent() -> None:
    sim, a, b = pair()
    local(a, AddNode(Node("new", "st1", "W")))
    local(b, RemoveNode("line"))
    sim.send(b)
    sim.send(a)  # parent gone: refused
    sim.quiesce()
    assert "new" not in a.store.doc and "line" not in a.store.doc
    assert sim.server.rejected == 1


def test_property_deleted_then_rejected_batch_keeps_hashes_equal() -> None:
    # A failing batch that deleted a property before failing is rolled back on the server;
    # the rollback must not leave the server's hash different from the replicas'.
    sim, a, b = pair()
    local(b, Reparent("st2", "st1", "V"))
    sim.send(b)
    local(a, Batch((SetField("robot", "prop:mass", None), Reparent("st1", "st2", "V"))))
    sim.send(a)  # refused by the server: cycle after b's move
    sim.quiesce()
    assert sim.server.rejected == 1


def test_resync_before_the_ack_drops_the_decided_edit() -> None:
    # The edit is sequenced, then a snapshot taken after it arrives before its OPS entry
    # could: the snapshot contains it, so it must not stay pending (it would hide every
    # later remote write to the same field).
    sim, a, b = pair()
    local(a, SetField("robot", "name", "mine"))
    sim.send(a)
    a.inbox.clear()  # its OPS entry was on the old connection
    sim.reconnect(a)
    a.receive()
    assert a.store.pending == []
    assert a.store.doc.nodes["robot"].name == "mine"
    local(b, SetField("robot", "name", "theirs"))
    sim.send(b)
    a.receive()
    assert a.store.doc.nodes["robot"].name == "theirs"
    sim.quiesce()


def test_reconnect_resends_only_undecided_edits() -> None:
    sim, a, b = pair()
    local(b, RemoveNode("st2"))
    sim.send(b)
    local(a, SetField("conveyor", "name", "Belt"))  # refused: the conveyor is gone
    local(a, SetField("robot", "name", "Arm"))      # applied
    local(a, SetField("robot", "name", "Arm 2"))    # never sent
    sim.send(a)
    sim.send(a)
    sim.reconnect(a)  # the nack and both entries are lost with the connection
    assert [cseq for cseq, _ in a.outbox] == [3]
    a.receive()
    assert [p.op for p in a.store.pending] == [SetField("robot", "name", "Arm 2")]
    sim.quiesce()
    assert sim.server.doc.nodes["robot"].name == "Arm 2"

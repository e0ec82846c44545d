"""An in-process model of the sync protocol for convergence tests.

``Simulation`` holds a sequencing ``Server`` (a Document plus a seq counter, applying ops in
arrival order and refusing those that do not apply) and ``Replica`` clients wrapping a real
``ClientStore``. Ops cross a real msgpack round trip. A replica can ask for a fresh snapshot
on its connection (a resync: what is already on the way still arrives, before the snapshot)
or reconnect (a new connection: what was on the way is lost, the snapshot comes first and
the edits the server has not decided are sent again), as the network client does. ``Simulation.check`` asserts that each
replica's document is exactly the server's state at its ``last_seq`` plus its pending ops;
each replica's observer asserts that pending local values are what it shows.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import msgpack
from hypothesis import strategies as st

from tests.core.core_kit import assert_tree_ok, plant
from twin_app.core import fracindex, snapshot
from twin_app.core.changes import ChangeSet
from twin_app.core.document import IDENTITY, Document, Node
from twin_app.core.errors import InvalidOp, UndoConflict
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import (
    AddNode,
    Batch,
    Op,
    RemoveNode,
    Reparent,
    SetField,
    apply,
    check_field,
    iter_primitive,
    op_from_wire,
    op_to_wire,
)
from twin_app.core.store import ClientStore

T = TypeVar("T")


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...


def pick(ch: Chooser, items: Sequence[T]) -> T:
    return items[ch.integer(0, len(items) - 1)]


class RandomChooser:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class DataChooser:
    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))


# Small value pools so that concurrent writes often hit the same property.
VALUES: dict[str, list[Any]] = {
    "name": ["A", "B", "C", ""],
    "color": [None, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0, 0, 1)],
    "opacity": [1.0, 0.5, 0, 0.25],
    "visible": [True, False],
    "transform": [IDENTITY, (1, 0, 0, 0, 0, 0, 1, 1, 1, 1), (0.0, 2.0, 0.0, 0.0, 0.0, 0.7071, 0.7071, 2.0, 2.0, 2.0)],
    "mesh": [None, "ab" * 32, "cd" * 32],
    "prop:mass": [None, 1, 2.5, 3],
    "prop:part_number": [None, "P-1", "P-2"],
    "prop:bbox": [None, (0.0, 0.0, 0.0, 1.0, 1.0, 1.0), (0, 0, 0, 2, 2, 2)],
    "prop:ok": [None, True, False],
}
KINDS = ["group", "part", "sensor", "comment"]


def wire_round_trip(op: Op) -> Any:
    """The op as the other side receives it: op_to_wire → msgpack bytes → op_from_wire."""
    return msgpack.unpackb(msgpack.packb(op_to_wire(op), use_bin_type=True), raw=False)


def draw_primitive(ch: Chooser, doc: Document, fresh: str) -> Op:
    ids = sorted(doc.nodes)
    movable = [i for i in ids if i != ROOT_ID] or [ROOT_ID]
    what = ch.integer(0, 9)
    if what <= 1:  # add
        parent = pick(ch, ids)
        keys = [k for k, _ in doc.child_keys(parent)]
        i = ch.integer(0, len(keys))
        lo = keys[i - 1] if i else None
        hi = keys[i] if i < len(keys) else None
        order = lo if lo is not None and lo == hi else fracindex.key_between(lo, hi)
        return AddNode(Node(fresh, parent, order, pick(ch, KINDS), name=pick(ch, VALUES["name"])))
    if what == 2:
        return RemoveNode(pick(ch, movable))
    if what <= 4:  # reparent (possibly into a cycle: concurrent moves make those)
        nid, parent = pick(ch, movable), pick(ch, ids)
        keys = [k for k, _ in doc.child_keys(parent)]
        lo = keys[-1] if keys and ch.integer(0, 1) else None
        return Reparent(nid, parent, fracindex.key_between(lo, None))
    fld = pick(ch, sorted(VALUES))
    return SetField(pick(ch, ids), fld, pick(ch, VALUES[fld]))


def draw_edit(ch: Chooser, doc: Document, fresh: str) -> Op:
    if ch.integer(0, 2) == 0:
        n = ch.integer(2, 4)
        return Batch(tuple(draw_primitive(ch, doc, f"{fresh}.{k}") for k in range(n)))
    return draw_primitive(ch, doc, fresh)


@dataclass
class Server:
    doc: Document
    seq: int = 0
    states: list[list[bytes]] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    rejected: int = 0
    last_cseq: dict[str, int] = field(default_factory=dict)  # per client: last one applied

    def __post_init__(self) -> None:
        self.states.append(snapshot.encode(self.doc))
        self.hashes.append(self.doc.hash())

    def submit(self, client_id: str, cseq: int, wire: Any) -> tuple[Any, ...]:
        # Clients send their edits in client-seq order and never resend a decided one.
        assert cseq > self.last_cseq.get(client_id, 0), (client_id, cseq)
        try:
            apply(self.doc, op_from_wire(wire))
        except InvalidOp as exc:
            self.rejected += 1
            return ("nack", cseq, exc.code)
        self.seq += 1
        self.last_cseq[client_id] = cseq
        self.states.append(snapshot.encode(self.doc))
        self.hashes.append(self.doc.hash())
        assert_tree_ok(self.doc)
        return ("op", self.seq, client_id, cseq, wire)

    def doc_at(self, seq: int) -> Document:
        return snapshot.decode(self.states[seq])

    def snapshot(self, client_id: str) -> tuple[Any, ...]:
        """The SNAPSHOT a joining client gets: the state now and its decided client seq."""
        return ("snapshot", self.seq, self.states[self.seq], self.last_cseq.get(client_id, 0))


class Replica:
    def __init__(self, client_id: str, doc: Document) -> None:
        self.store = ClientStore(client_id, snapshot.copy_document(doc))
        self.outbox: deque[tuple[int, Any]] = deque()
        self.inbox: deque[tuple[Any, ...]] = deque()
        self.emits = 0
        self.fresh = 0
        self.store.subscribe(self._on_change)

    @property
    def id(self) -> str:
        return self.store.client_id

    def expected_pending_values(self) -> dict[tuple[str, str], Any]:
        """(node, field) → the value this user's active pending ops leave there."""
        out: dict[tuple[str, str], Any] = {}
        for p in self.store.pending:
            if p.inverse is None:
                continue  # inert: does not apply on the current base
            for prim in iter_primitive(p.op):
                if isinstance(prim, SetField):
                    out[(prim.id, prim.field)] = check_field(prim.field, prim.value)
                elif isinstance(prim, AddNode):
                    for (nid, fld) in list(out):
                        if nid == prim.node.id:
                            out[(nid, fld)] = check_field(fld, prim.node.get(fld))
        return out

    def _on_change(self, changes: ChangeSet) -> None:
        assert changes
        self.emits += 1
        doc = self.store.doc
        for (nid, fld), value in self.expected_pending_values().items():
            n = doc.get(nid)
            if n is not None:
                assert n.get(fld) == value, f"{self.id}: pending {nid}.{fld} shows {n.get(fld)!r}"

    def edit(self, ch: Chooser) -> None:
        self.fresh += 1
        op = draw_edit(ch, self.store.doc, f"{self.id}n{self.fresh}")
        before = self.store.doc.hash()
        try:
            p = self.store.local(op, "edit")
        except InvalidOp:
            assert self.store.doc.hash() == before
            return
        self.outbox.append((p.cseq, wire_round_trip(p.op)))

    def undo(self, redo: bool) -> None:
        before = self.store.doc.hash()
        try:
            p = self.store.redo() if redo else self.store.undo()
        except UndoConflict as exc:
            assert "Cannot" in str(exc)
            assert self.store.doc.hash() == before
            return
        if p is not None:
            self.outbox.append((p.cseq, wire_round_trip(p.op)))

    def receive(self) -> None:
        event = self.inbox.popleft()
        if event[0] == "snapshot":
            _, seq, state, decided = event
            self.store.reset(snapshot.decode(state), seq, decided)
            assert all(p.cseq > decided for p in self.store.pending)
            return
        if event[0] == "nack":
            cseq = event[1]
            assert any(p.cseq == cseq for p in self.store.pending)
            dropped = self.store.reject(cseq)
            assert dropped is not None and dropped.cseq == cseq
            assert all(p.cseq != cseq for p in self.store.pending)
        else:
            _, seq, client_id, cseq, wire = event
            if seq <= self.store.last_seq:
                return  # already in the snapshot this replica loaded: never apply twice
            assert seq == self.store.last_seq + 1  # in order, no gaps
            self.store.remote(seq, client_id, cseq, op_from_wire(wire))
            assert self.store.last_seq == seq
            if client_id == self.id:
                assert all(p.cseq != cseq for p in self.store.pending)


class Simulation:
    def __init__(self, n_clients: int, doc: Document | None = None) -> None:
        base = doc if doc is not None else plant()
        self.server = Server(snapshot.copy_document(base))
        self.replicas = [Replica(f"c{i}", base) for i in range(n_clients)]

    def send(self, r: Replica) -> None:
        cseq, wire = r.outbox.popleft()
        event = self.server.submit(r.id, cseq, wire)
        if event[0] == "nack":
            r.inbox.append(event)
        else:
            for other in self.replicas:
                other.inbox.append(event)

    def resync(self, r: Replica) -> None:
        """``r`` asks for a snapshot on its live connection (after what is on the way)."""
        r.inbox.append(self.server.snapshot(r.id))

    def reconnect(self, r: Replica) -> None:
        """``r`` loses its connection and joins again on a new one.

        Messages on the way are lost; the snapshot arrives first; the edits the server
        has not decided (client seq above the snapshot's) are sent again, in order, ahead
        of the ones never sent.
        """
        r.inbox.clear()
        event = self.server.snapshot(r.id)
        r.inbox.append(event)
        decided = event[3]
        unsent = {cseq for cseq, _ in r.outbox}
        resend = [(p.cseq, wire_round_trip(p.op)) for p in r.store.pending
                  if p.cseq > decided and p.cseq not in unsent]
        r.outbox.extendleft(reversed(resend))

    def step(self, ch: Chooser) -> None:
        r = pick(ch, self.replicas)
        action = ch.integer(0, 11)
        if action == 10:
            self.resync(r)
        elif action == 11:
            self.reconnect(r)
        elif action <= 3:
            r.edit(ch)
        elif action == 4:
            r.undo(redo=ch.integer(0, 2) == 0)
        elif action <= 6:
            if r.outbox:
                self.send(r)
        elif r.inbox:
            r.receive()
        self.check()

    def check(self) -> None:
        for r in self.replicas:
            store = r.store
            assert_tree_ok(store.doc)
            # doc == server state at last_seq + pending ops, applied in submit order.
            expected = self.server.doc_at(store.last_seq)
            for p in store.pending:
                try:
                    apply(expected, p.op)
                except InvalidOp:
                    assert p.inverse is None, "an op that does not apply must be inert"
                else:
                    assert p.inverse is not None, "an op that applies must not be inert"
            assert store.doc.hash() == expected.hash()
            assert store.doc.nodes == expected.nodes

    def quiesce(self) -> None:
        while any(r.outbox or r.inbox for r in self.replicas):
            for r in self.replicas:
                while r.outbox:
                    self.send(r)
            for r in self.replicas:
                while r.inbox:
                    r.receive()
                    self.check()
        final = self.server.doc
        for r in self.replicas:
            assert r.store.pending == []
            assert r.store.last_seq == self.server.seq
            assert r.store.doc.hash() == final.hash(), f"{r.id} diverged"
            assert r.store.doc.nodes == final.nodes


def local(r: Replica, op: Op, label: str = "edit") -> None:
    """Make a local edit on ``r`` and queue it for the server."""
    p = r.store.local(op, label)
    r.outbox.append((p.cseq, wire_round_trip(p.op)))


def values_seen(r: Replica, nid: str, fld: str) -> list[Any]:
    """Start recording the value of ``nid.fld`` at every notification of ``r``'s store."""
    seen: list[Any] = []

    def listener(_: ChangeSet) -> None:
        n = r.store.doc.get(nid)
        seen.append(None if n is None else n.get(fld))

    r.store.subscribe(listener)
    return seen


def pair() -> tuple[Simulation, Replica, Replica]:
    """A simulation with two replicas of the sample plant."""
    sim = Simulation(2)
    return sim, sim.replicas[0], sim.replicas[1]

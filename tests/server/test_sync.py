"""End-to-end sync over real sockets: edits, acks, convergence, roles, limits."""

from __future__ import annotations

import sqlite3

import pytest

from tests.netutil import wait_all
from twin_app.core import AddNode, Batch, Node, RemoveNode, Reparent, SetField, new_id
from twin_app.core.errors import UndoConflict

pytestmark = pytest.mark.net


def part(name: str, parent: str = "root", order: str = "V", kind: str = "part") -> Node:
    return Node(new_id(), parent, order, kind=kind, name=name)


def live(*clients) -> None:
    for c in clients:
        assert c.wait_for(lambda c=c: c.state == "live", 15), c.state_detail


def settled(*clients) -> bool:
    heads = {c.head_seq for c in clients}
    return all(c.unacked_count == 0 and not c.store.pending for c in clients) and all(
        c.store.last_seq == max(heads) for c in clients
    )


def test_edit_reaches_others_and_is_acked_durable(server, make_client, room_name):
    a, b = make_client(room_name, name="Ada"), make_client(room_name, name="Bo")
    live(a, b)
    acks = []
    a.on_ack.append(lambda cseq, seq: acks.append((cseq, seq)))
    n = part("Conveyor 1")
    p = a.submit(AddNode(n), "Add Conveyor 1")
    assert n.id in a.store.doc  # optimistic: shown at once
    assert b.wait_for(lambda: n.id in b.store.doc)
    assert a.wait_for(lambda: acks)
    assert acks[0][0] == p.cseq
    # "An ack means durable": the op is in the room's SQLite log once acked.
    db = sqlite3.connect(server.data / "rooms" / f"{room_name}.db")
    row = db.execute("SELECT cseq, client_id FROM ops WHERE seq = ?", (acks[0][1],)).fetchone()
    db.close()
    assert row == (p.cseq, a.client_id)


def test_all_op_kinds_converge_and_hash_matches_server(server, make_client, room_name):
    a, b = make_client(room_name), make_client(room_name)
    live(a, b)
    g1, g2, x = part("Line 1", kind="group"), part("Line 2", kind="group", order="W"), part("Robot")
    a.submit(Batch((AddNode(g1), AddNode(g2))), "groups")
    a.submit(AddNode(Node(x.id, g1.id, "V", kind="part", name="Robot")), "robot")
    assert b.wait_for(lambda: x.id in b.store.doc)
    b.submit(Reparent(x.id, g2.id, "V"), "move")
    b.submit(SetField(x.id, "color", (1.0, 0.5, 0.0)), "colour")
    b.submit(SetField(x.id, "transform", (1, 2, 3, 0, 0, 0, 1, 1, 1, 1)), "move")
    b.submit(SetField(x.id, "prop:part_number", "RB-0001"), "pn")
    assert wait_all([a, b], lambda: settled(a, b))  # x has left g1 before g1 goes
    a.submit(RemoveNode(g1.id), "remove")
    assert wait_all([a, b], lambda: settled(a, b))
    assert a.store.doc.hash() == b.store.doc.hash()
    # The server publishes its hash in heartbeats; the clients check it and would resync.
    assert a.wait_for(lambda: a.head_seq == a.store.last_seq)
    assert a.store.doc.nodes[x.id].parent == g2.id
    assert a.store.doc.nodes[x.id].props == {"part_number": "RB-0001"}


def test_concurrent_reparent_cycle_one_wins(server, make_client, room_name):
    a, b = make_client(room_name), make_client(room_name)
    live(a, b)
    p1, p2 = part("A", kind="group"), part("B", kind="group", order="W")
    a.submit(Batch((AddNode(p1), AddNode(p2))), "add")
    assert b.wait_for(lambda: p2.id in b.store.doc)
    nacks = []
    a.on_nack.append(lambda p, code, reason: nacks.append(code))
    b.on_nack.append(lambda p, code, reason: nacks.append(code))
    a.submit(Reparent(p1.id, p2.id, "V"), "A under B")
    b.submit(Reparent(p2.id, p1.id, "V"), "B under A")
    assert wait_all([a, b], lambda: settled(a, b))
    assert nacks == ["cycle"]
    assert a.store.doc.hash() == b.store.doc.hash()
    doc = a.store.doc
    for nid in (p1.id, p2.id):
        assert doc.is_ancestor("root", nid)


def test_pending_local_value_does_not_flicker(server, make_client, room_name):
    a, b = make_client(room_name), make_client(room_name)
    live(a, b)
    n = part("Press")
    a.submit(AddNode(n), "add")
    assert b.wait_for(lambda: n.id in b.store.doc)
    seen = []
    b.store.subscribe(lambda ch: seen.append(b.store.doc.nodes[n.id].name) if n.id in ch.nodes else None)
    a.submit(SetField(n.id, "name", "from A"), "A")
    assert a.wait_for(lambda: a.unacked_count == 0)  # A's edit is sequenced; b has not seen it
    b.submit(SetField(n.id, "name", "from B"), "B")  # sequenced after A's: wins
    assert wait_all([a, b], lambda: settled(a, b))
    assert a.store.doc.nodes[n.id].name == b.store.doc.nodes[n.id].name == "from B"
    assert "from A" not in seen  # B never showed A's older value over its pending edit


def test_viewer_edit_refused_and_rolled_back(server, make_client, room_name):
    owner = make_client(room_name)
    live(owner)
    n = part("Cell")
    owner.submit(AddNode(n), "add")
    assert owner.wait_for(lambda: owner.unacked_count == 0)
    viewer = make_client(room_name, token="viewer-token")
    live(viewer)
    assert viewer.role == "viewer"
    refused = []
    viewer.on_nack.append(lambda p, code, reason: refused.append((p.label, code)))
    viewer.submit(SetField(n.id, "name", "hacked"), "Rename")
    assert viewer.store.doc.nodes[n.id].name == "hacked"  # optimistic...
    assert viewer.wait_for(lambda: refused)
    assert refused == [("Rename", "forbidden")]
    assert viewer.store.doc.nodes[n.id].name == "Cell"  # ...rolled back
    assert owner.store.doc.nodes[n.id].name == "Cell"


def test_operator_may_comment_but_not_edit_parts(server, make_client, room_name):
    owner = make_client(room_name)
    live(owner)
    n = part("Spindle")
    owner.submit(AddNode(n), "add")
    op = make_client(room_name, token="operator-token")
    live(op)
    assert op.wait_for(lambda: n.id in op.store.doc)
    codes = []
    op.on_nack.append(lambda p, code, reason: codes.append(code))
    c = Node(new_id(), n.id, "V", kind="comment", name="Noise here", props={"text": "rattles"})
    op.submit(AddNode(c), "comment")
    op.submit(SetField(n.id, "visible", False), "hide")
    assert op.wait_for(lambda: codes and op.unacked_count == 0)
    assert codes == ["forbidden"]
    assert owner.wait_for(lambda: c.id in owner.store.doc)


def test_wrong_token_refused(server, make_client, room_name):
    errors = []
    c = make_client(room_name, token="not-a-token")
    c.on_error.append(lambda code, reason: errors.append(code))
    assert c.wait_for(lambda: c.state == "failed")
    assert "auth_failed" in errors
    assert not c.store.doc.children("root")


def test_token_limited_to_rooms(tmp_path):
    from tests.netutil import ServerProcess
    from twin_app.net import SyncClient

    srv = ServerProcess(tmp_path / "d", ["--token", "site-b:designer:alpha"]).start()
    try:
        ok = SyncClient(srv.endpoint, "alpha", "site-b", "B")
        no = SyncClient(srv.endpoint, "beta", "site-b", "B")
        for c in (ok, no):
            c.start()
        assert ok.wait_for(lambda: ok.state == "live")
        assert no.wait_for(lambda: no.state == "failed")
        for c in (ok, no):
            c.close()
    finally:
        srv.stop()


def test_undo_is_a_new_op_and_refuses_over_others_changes(server, make_client, room_name):
    a, b = make_client(room_name), make_client(room_name)
    live(a, b)
    n = part("Fence")
    a.submit(AddNode(n), "Add Fence")
    assert b.wait_for(lambda: n.id in b.store.doc)
    a.submit(SetField(n.id, "color", (1.0, 1.0, 0.0)), "Paint fence yellow")
    assert a.store.history.undo_label() == "Paint fence yellow"
    a.undo()
    assert wait_all([a, b], lambda: settled(a, b))
    assert b.store.doc.nodes[n.id].color is None  # the undo reached b as an ordinary op
    a.redo()
    assert wait_all([a, b], lambda: settled(a, b))
    assert b.store.doc.nodes[n.id].color == (1.0, 1.0, 0.0)
    b.submit(SetField(n.id, "color", (0.0, 0.0, 1.0)), "Paint fence blue")
    assert wait_all([a, b], lambda: settled(a, b))
    with pytest.raises(UndoConflict, match=r"colour|color"):
        a.undo()
    assert a.store.doc.nodes[n.id].color == (0.0, 0.0, 1.0)


@pytest.fixture
def limited(tmp_path):
    """A client on a server started with extra limit flags; yields (client, nack codes)."""
    from tests.netutil import ServerProcess
    from twin_app.net import SyncClient

    made = []

    def start(*flags: str):
        srv = ServerProcess(tmp_path / f"d{len(made)}", list(flags)).start()
        c = SyncClient(srv.endpoint, "r", "owner-token", "limited")
        c.limited_data = srv.data
        made.append((srv, c))
        c.start()
        live(c)
        codes: list[str] = []
        c.on_nack.append(lambda p, code, reason: codes.append(code))
        return c, codes

    yield start
    for srv, c in made:
        c.close()
        srv.stop()


def test_rate_limited_edits_are_kept_and_resent_in_order(limited):
    c, codes = limited("--ops-per-s", "50")
    notices: list[str] = []
    c.on_error.append(lambda code, reason: notices.append(code))
    n = part("x")
    c.submit(AddNode(n), "add")
    cseqs = [c.submit(SetField(n.id, "name", f"n{i}"), "rename").cseq for i in range(160)]
    assert c.wait_for(lambda: c.unacked_count == 0, 30)
    assert notices[:1] == ["rate_limited"]  # said once, not per edit
    assert codes == []  # nothing rolled back
    assert c.store.pending == []
    assert c.store.doc.nodes[n.id].name == "n159"  # the user's last edit wins
    db = sqlite3.connect(c.limited_data / "rooms" / "r.db")
    logged = [cs for (cs,) in db.execute("SELECT cseq FROM ops WHERE client_id = ? ORDER BY seq", (c.client_id,))]
    db.close()
    assert logged[1:] == cseqs  # each applied once, in the order it was made


def test_a_batch_larger_than_the_rate_burst_is_refused_not_retried(limited):
    c, codes = limited("--ops-per-s", "50")
    n = part("x")
    c.submit(AddNode(n), "add")
    c.submit(Batch(tuple(SetField(n.id, "name", f"n{i}") for i in range(150))), "big")
    c.submit(SetField(n.id, "name", "after"), "rename")
    assert c.wait_for(lambda: c.unacked_count == 0, 20)
    assert codes == ["too_large"]
    assert c.store.doc.nodes[n.id].name == "after"


def test_document_size_limit_nacks(limited):
    c, codes = limited("--max-nodes", "5")
    for i in range(6):
        c.submit(AddNode(part(f"p{i}")), "add")
    assert c.wait_for(lambda: c.unacked_count == 0, 20)
    assert codes == ["doc_too_large", "doc_too_large"]  # root + 4 fit
    assert len(c.store.doc) == 5


def test_resync_before_the_ack_leaves_nothing_pending(server, make_client, room_name):
    a, b = make_client(room_name, name="Ada"), make_client(room_name, name="Bo")
    live(a, b)
    n = part("Robot")
    a.submit(AddNode(n), "add")
    assert wait_all([a, b], lambda: settled(a, b))
    for i in range(5):
        # The edit and the resync leave in one go: the server sequences the edit, then
        # answers the JOIN with a snapshot that already holds it, before its ACK.
        a.submit(SetField(n.id, "name", f"mine {i}"), "rename")
        a.resync()
        assert a.wait_for(lambda: a.state == "live" and a.unacked_count == 0, 15)
        assert a.store.pending == []
        assert a.store.doc.nodes[n.id].name == f"mine {i}"
        # A later write by someone else shows: nothing of ours is left on top of it.
        b.submit(SetField(n.id, "name", f"theirs {i}"), "rename")
        assert a.wait_for(lambda i=i: a.store.doc.nodes[n.id].name == f"theirs {i}", 10)
        assert wait_all([a, b], lambda: settled(a, b))
        assert a.store.doc.hash() == b.store.doc.hash()

"""A handle drag sends live edits and leaves one undo entry back to where it started."""

from __future__ import annotations

from twin_app.session.drag import HandleDrag
from twin_app.session.local import LocalClient


def _at(x: float) -> tuple[float, ...]:
    return (x, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)


def _drag(client: LocalClient, xs: list[float]) -> HandleDrag:
    store = client.store
    drag = HandleDrag.begin(store, "r2", "Move")
    assert drag is not None
    for x in xs:
        drag.move_to(_at(x))
        op = drag.step(store)
        if op is not None:
            client.submit(op, drag.label)
    drag.finish(store)
    return drag


def test_a_drag_is_one_undo_entry_back_to_the_start(plant):
    doc, blobs = plant
    client = LocalClient(doc, blobs)
    client.submit(*_rename(client))
    drag = _drag(client, [3.5, 4.0, 4.5, 5.0])
    store = client.store
    assert store.doc.nodes["r2"].transform[0] == 5.0
    assert [e.label for e in store.history.undo_entries] == ["Rename Robot 1", "Move Robot 2"]
    assert drag.label == "Move Robot 2"
    client.undo()
    assert store.doc.nodes["r2"].transform[0] == 3.0
    assert store.history.undo_label() == "Rename Robot 1"
    client.redo()
    assert store.doc.nodes["r2"].transform[0] == 5.0


def test_a_drag_back_to_the_start_leaves_no_undo_entry(plant):
    doc, blobs = plant
    client = LocalClient(doc, blobs)
    _drag(client, [4.0, 3.0])
    assert client.store.doc.nodes["r2"].transform[0] == 3.0
    assert client.store.history.undo_entries == []


def test_no_edit_while_the_handle_has_not_moved(plant):
    doc, blobs = plant
    client = LocalClient(doc, blobs)
    drag = HandleDrag.begin(client.store, "r2", "Rotate")
    assert drag is not None and drag.label == "Rotate Robot 2"
    assert drag.step(client.store) is None
    drag.move_to(_at(3.0))
    assert drag.step(client.store) is None
    assert HandleDrag.begin(client.store, "gone", "Move") is None


def _rename(client: LocalClient):
    from twin_app.session import commands

    cmd = commands.rename(client.store.doc, "r1", "Robot A")
    assert cmd is not None
    return cmd

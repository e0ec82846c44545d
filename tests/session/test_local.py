"""The in-process client sequences edits at once and refuses them as a server would."""

from __future__ import annotations

import pytest

from twin_app.core.errors import InvalidOp
from twin_app.core.ops import SetField
from twin_app.session import commands
from twin_app.session.local import LocalClient


def test_an_edit_is_applied_sequenced_and_undoable(plant):
    doc, blobs = plant
    client = LocalClient(doc, blobs)
    client.submit(*commands.rename(client.store.doc, "r1", "Robot A"))
    assert client.store.doc.nodes["r1"].name == "Robot A"
    assert client.head_seq == 1 and client.unacked_count == 0
    client.undo()
    assert client.store.doc.nodes["r1"].name == "Robot 1"
    client.redo()
    assert client.store.doc.nodes["r1"].name == "Robot A"
    assert client.head_seq == 3


def test_a_viewer_edit_is_rolled_back_and_reported_as_a_nack(plant):
    doc, blobs = plant
    client = LocalClient(doc, blobs, role="viewer")
    refused: list[tuple[str, str, str]] = []
    client.on_nack.append(lambda p, code, why: refused.append((p.label, code, why)))
    client.submit(SetField("r1", "name", "Robot A"), "Rename Robot 1")
    assert client.store.doc.nodes["r1"].name == "Robot 1"
    assert [(label, code) for label, code, _ in refused] == [("Rename Robot 1", "forbidden")]
    assert client.head_seq == 0


def test_an_invalid_edit_raises_and_changes_nothing(plant):
    doc, blobs = plant
    client = LocalClient(doc, blobs)
    before = client.store.doc.hash()
    with pytest.raises(InvalidOp):
        client.submit(SetField("no-such-node", "name", "x"), "Rename")
    assert client.store.doc.hash() == before and client.head_seq == 0


def test_assets_are_content_addressed(plant):
    doc, blobs = plant
    client = LocalClient(doc, blobs)
    digest = client.assets.put(b"mesh bytes")
    assert client.assets.get(digest) == b"mesh bytes"
    assert all(client.assets.get(h) == b for h, b in blobs.items())

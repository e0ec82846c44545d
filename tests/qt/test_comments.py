"""Comments are nodes under the "comments" group, store the view, and filter by state."""

from __future__ import annotations

import pytest

from twin_app.core.ops import AddNode
from twin_app.qt.comments import CommentsPanel
from twin_app.session.local import LocalClient

pytestmark = pytest.mark.qt

CAM = (10.0, -10.0, 8.0, 1.0, 2.0, 0.5, 0.0, 0.0, 1.0)


@pytest.fixture
def comments(qtbot, plant):
    doc, blobs = plant
    client = LocalClient(doc, blobs)
    ctx = {"sel": ["r1"]}
    panel = CommentsPanel(lambda: client.store.doc,
                          lambda op, label, undoable=True: client.submit(op, label),
                          lambda: ("Ada", CAM, list(ctx["sel"])))
    client.store.subscribe(panel.on_changes)
    qtbot.addWidget(panel)
    return client, panel, ctx


def test_first_comment_creates_group_and_pins_to_part(comments):
    client, panel, _ = comments
    panel.editor.setPlainText("Check clearance to the fence")
    cid = panel.add_thread()
    doc = client.store.doc
    assert doc.nodes["comments"].parent == "root"
    node = doc.nodes[cid]
    assert node.kind == "comment" and node.parent == "comments"
    assert node.props["text"] == "Check clearance to the fence"
    assert node.props["author"] == "Ada"
    assert node.props["target"] == "r1"
    assert node.props["camera"] == CAM
    assert node.props["resolved"] is False
    assert isinstance(node.props["created"], int)
    (container, _), (op, label) = client.submitted[-2:]
    assert isinstance(container, AddNode) and container.node.kind == "annotation"
    assert isinstance(op, AddNode) and op.node.id == cid and label == "Add comment"
    assert panel.tree.topLevelItemCount() == 1
    assert panel.editor.toPlainText() == ""


def test_comment_on_point_when_nothing_selected(comments):
    client, panel, ctx = comments
    ctx["sel"] = []
    cid = panel.add_thread("Add a guard rail here")
    node = client.store.doc.nodes[cid]
    assert "target" not in node.props
    assert node.props["point"] == CAM[3:6]


def test_reply_resolve_filter_and_goto(comments, qtbot):
    client, panel, _ = comments
    cid = panel.add_thread("Is this reachable?")
    panel.select(cid)
    rid = panel.reply("Yes, with the long arm")
    assert client.store.doc.nodes[rid].parent == cid
    assert panel.tree.topLevelItem(0).childCount() == 1
    panel.select(cid)
    panel.toggle_resolved()
    assert client.store.doc.nodes[cid].props["resolved"] is True
    assert panel.tree.topLevelItemCount() == 0  # "Open" filter hides it
    panel.filter.setCurrentIndex(1)  # Resolved
    assert panel.tree.topLevelItemCount() == 1
    with qtbot.waitSignal(panel.sig_goto) as sig:
        panel.go_to(rid)
    assert sig.args == [CAM, "r1"]
    assert "1 resolved" in panel.count.text()


def test_remote_comment_appears(comments):
    client, panel, _ = comments
    from twin_app.session import commands

    client.remote(commands.comments_container(client.store.doc))
    op, _, _ = commands.add_comment(client.store.doc, "From Bob", "Bob", CAM)
    client.remote(op)
    assert panel.tree.topLevelItemCount() == 1
    assert panel.tree.topLevelItem(0).text(1) == "Bob"

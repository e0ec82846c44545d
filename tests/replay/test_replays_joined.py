"""A person replays a recorded session from the Replays view of a window joined to a real
server: open it, play, drag the timeline, step to the next event, look through a
participant's camera, compare two moments — each through the real widgets."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.qt.person import click, key, type_text
from tests.replay.kit import reference_hashes
from twin_app.core import SetField
from twin_app.replay.files import FileRecording
from twin_app.session import commands

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


def bo_session(room_server, tmp_path, qtbot):
    """Bo moves Robot 2 across the floor while looking at it, then comments on it."""
    from twin_app.net import SyncClient

    bo = SyncClient(room_server.endpoint, "plant", "designer-token", "Bo", state_dir=tmp_path / "bo",
                    color=(0.2, 0.6, 0.9))
    bo.start()
    assert bo.wait_for(lambda: bo.state == "live", 15)
    cameras = []
    for i in range(6):
        cam = [10.0 + i, -8.0, 6.0, 3.0 + i * 0.5, 0.0, 0.0, 0.0, 0.0, 1.0]
        cameras.append(cam)
        bo.set_presence(camera=cam, selection=["r2"])
        bo.submit(SetField("r2", "transform", (3.0 + i * 0.5, 0, 0, 0, 0, 0, 1, 1, 1, 1)), "move Robot 2")
        bo.wait_for(lambda: False, 0.3)
    first = commands.comments_container(bo.store.doc)
    if first is not None:
        bo.submit(first, "comments")
    op, label, _cid = commands.add_comment(bo.store.doc, "Robot 2 sits too close", "Bo", cameras[-1], target="r2")
    bo.submit(op, label)
    bo.submit(SetField("cab", "color", (0.9, 0.5, 0.1)), "recolour cabinet")
    assert bo.wait_for(lambda: bo.unacked_count == 0, 10)
    bo.wait_for(lambda: False, 0.3)
    return bo, cameras


def test_a_person_replays_a_session_from_the_replays_view(join, room_server, qtbot, tmp_path):
    _ada, a = join("Ada")
    bo, cameras = bo_session(room_server, tmp_path, qtbot)
    try:
        a.act_replays.trigger()  # File ▸ Replays…
        dlg = a.replays.dialog
        qtbot.waitUntil(lambda: dlg.isVisible() and dlg.tree.topLevelItemCount() >= 1)
        # The room's privacy switch, seen and changed by everyone in it (Ada is an owner).
        assert dlg.record_box.isChecked() and "plant" in dlg.record_box.text()
        click(dlg.record_box)
        assert bo.wait_for(lambda: bo.store.doc.get("root").props.get("record_presence") is False, 10)
        click(dlg.record_box)
        assert bo.wait_for(lambda: bo.store.doc.get("root").props.get("record_presence") is True, 10)
        assert dlg.record_box.isChecked()
        rooms = {dlg.tree.topLevelItem(i).text(0): dlg.tree.topLevelItem(i)
                 for i in range(dlg.tree.topLevelItemCount())}
        plant = rooms["plant"]
        session = plant.child(0)
        assert "Ada" in session.text(4) and "Bo" in session.text(4)  # participants…
        assert "s" in session.text(2)  # …and duration
        dlg.tree.setCurrentItem(session)
        click(dlg.open_btn)
        w, panel = a.replays.replays[-1][0], a.replays.replays[-1][1]
        qtbot.waitExposed(w)
        qtbot.waitUntil(w.scene_ready, timeout=20000)
        replay = panel.replay
        ix = replay.index
        assert {"Ada", "Bo"} <= {p.name for p in ix.participants}
        assert "comment" in [m.kind for m in ix.marks]
        # The replay is shown by the same window and renderer as live, read-only.
        assert w.viewport.visual is not a.viewport.visual and w.client.role == "viewer"
        assert w.client.store.doc.get("r2").transform[0] == 3.0  # the start of the session

        path = room_server.data / "rooms" / "plant.db"
        ref = reference_hashes(path)

        # Play at 1× from just before Bo's first move until it shows.
        rec = FileRecording(path)
        (first_move,) = rec.db.execute("SELECT min(t_ns) FROM ops WHERE client_id = ?", (bo.client_id,)).fetchone()
        panel.seek(first_move - 100_000_000)
        panel.speed_box.setFocus()
        QTest.keyClick(panel.speed_box, Qt.Key.Key_Home)  # the slowest speed: 0.25×
        assert panel.speed == 0.25
        click(panel.play_btn)
        assert panel.playing and panel.play_btn.text() == "Pause"
        qtbot.waitUntil(lambda: w.client.store.doc.get("r2").transform[0] > 3.0, timeout=10000)
        click(panel.play_btn)
        assert not panel.playing
        assert w.client.store.doc.hash() == ref[replay.seq]

        # Drag the timeline from near the start to two thirds along.
        tl = panel.timeline
        y = tl.height() // 2
        x0, x1 = int(tl.x_of(ix.t0)) + 2, int(tl.x_of(ix.t0 + (ix.t1 - ix.t0) * 2 // 3))
        QTest.mousePress(tl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x0, y))
        for x in range(x0, x1, max(1, (x1 - x0) // 8)):
            QTest.mouseMove(tl, QPoint(x, y))
        QTest.mouseRelease(tl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x1, y))
        assert replay.t_ns == tl.t_of(x1)
        assert w.client.store.doc.hash() == ref[rec.seq_at(replay.t_ns)]
        assert "seq" in w.seq_label.text()

        # Step to the next event, by button and by key.
        later = sorted({m.t_ns for m in ix.marks if m.t_ns > replay.t_ns})
        click(panel.next_btn)
        assert replay.t_ns == later[0]
        assert w.client.store.doc.hash() == ref[rec.seq_at(later[0])]
        earlier = max(m.t_ns for m in ix.marks if m.t_ns < later[0])
        key(w.viewport, "J")  # back to the previous event…
        assert replay.t_ns == earlier
        key(w.viewport, "L")  # …and on to the next one again
        assert replay.t_ns == later[0]

        # View through Bo: the viewport takes Bo's recorded camera at the playhead.
        states = [t for (t,) in rec.db.execute(
            "SELECT t_ns FROM presence WHERE event = 'state' AND client_id = ? ORDER BY t_ns", (bo.client_id,))]
        panel.seek(states[2] + 1000)  # just after Bo's third recorded camera
        i = panel.through_box.findText("View through Bo")
        assert i > 0
        panel.through_box.setCurrentIndex(i)
        bo_now = next(p for p in replay.presence if p.name == "Bo")
        assert bo_now.camera is not None and list(bo_now.camera) in cameras[1:4]
        assert w.viewport.camera()[:3] == pytest.approx(bo_now.camera[:3], abs=1e-6)
        assert "Bo" in w.people.names()  # Bo is listed as present at that moment

        # Compare the start with the end: Robot 2 moved, the cabinet was recoloured.
        key(w.viewport, "Home")
        click(panel.a_btn)
        key(w.viewport, "End")
        click(panel.b_btn)
        click(panel.compare_btn)
        lines = [panel.diff_list.item(k).text() for k in range(panel.diff_list.count())]
        assert "Moved: Robot 2" in lines and "Recoloured: Cabinet" in lines, lines
        assert {"r2", "cab"} <= set(w.selection)  # highlighted in the 3D view and the tree

        # Fork a live room from the moment shown: it starts as the document was then.
        panel.seek(later[0])
        a.replays.open_forked = False  # (a person would get a new window on it)
        type_text(panel.fork_name, "plant-what-if", enter=False)
        click(panel.fork_btn)
        from twin_app.net import SyncClient

        check = SyncClient(room_server.endpoint, "plant-what-if", "viewer-token", "Check", state_dir=tmp_path / "chk")
        check.start()
        try:
            assert check.wait_for(lambda: check.synced and check.store.doc.hash() == w.client.store.doc.hash(), 15)
        finally:
            check.close()

        # Nothing can be edited in a replay.
        before = w.client.store.doc.hash()
        w.set_selection(["r1"])
        w.act_delete.trigger()
        assert w.client.store.doc.hash() == before and "r1" in w.client.store.doc
        w.close()
    finally:
        bo.close()

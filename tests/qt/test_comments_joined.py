"""Comments as people post them: typed into the panel, posted with the button, Ctrl+Enter or
Edit → Add Comment, on windows joined to a real server; every role that may comment can post
the first comment of a room, and two first comments at once both land."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


def thread_texts(w) -> list[str]:
    tree = w.comments.tree
    return [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]


def test_comment_button_posts_and_the_other_person_sees_it(join, qtbot):
    _ada, a = join("Ada")
    _bo, b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    a.set_selection(["r1"])
    qtbot.keyClicks(a.comments.editor, "Check clearance to the fence")
    qtbot.mouseClick(a.comments.add_btn, Qt.MouseButton.LeftButton)
    assert a.comments.editor.toPlainText() == ""
    assert a.comments.count.text().startswith("1 open")
    assert thread_texts(a) == ["Check clearance to the fence"]
    qtbot.waitUntil(lambda: thread_texts(b) == ["Check clearance to the fence"], timeout=10000)
    assert b.comments.count.text().startswith("1 open")
    assert b.comments.tree.topLevelItem(0).text(1) == "Ada"
    assert "Robot 1" in b.comments.tree.topLevelItem(0).toolTip(0)


def test_ctrl_enter_and_the_add_comment_action_post(join, qtbot):
    _ada, a = join("Ada")
    qtbot.keyClicks(a.comments.editor, "Guard rail here")
    qtbot.keyClick(a.comments.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert thread_texts(a) == ["Guard rail here"]
    # Add Comment with an empty editor puts the cursor there and says what to do.
    a.act_comment.trigger()
    assert a.comments.editor.hasFocus() or a.docks["Comments"].isVisible()
    assert "Ctrl+Enter" in a.statusBar().currentMessage()
    qtbot.keyClicks(a.comments.editor, "Second thought")
    a.act_comment.trigger()
    assert thread_texts(a) == ["Guard rail here", "Second thought"]
    qtbot.waitUntil(lambda: not a.client.store.pending, timeout=10000)
    assert a.comments.count.text().startswith("2 open")


@pytest.mark.parametrize("token", ["operator-token", "instructor-token"])
def test_operator_and_instructor_post_the_first_comment(join, qtbot, token):
    client, w = join("Olu", token)
    _ada, a = join("Ada")
    qtbot.keyClicks(w.comments.editor, "Leak at the press")
    qtbot.mouseClick(w.comments.add_btn, Qt.MouseButton.LeftButton)
    assert thread_texts(w) == ["Leak at the press"]
    qtbot.waitUntil(lambda: not client.store.pending, timeout=10000)
    assert thread_texts(w) == ["Leak at the press"]  # not rolled back by a refusal
    assert "refused" not in "\n".join(w.notes.visible_texts())
    qtbot.waitUntil(lambda: thread_texts(a) == ["Leak at the press"], timeout=10000)


def test_two_first_comments_at_the_same_moment_both_land(join, qtbot):
    ada, a = join("Ada")
    bo, b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    qtbot.keyClicks(a.comments.editor, "From Ada")
    qtbot.keyClicks(b.comments.editor, "From Bo")
    # Both click before either window has heard of the other's comment.
    qtbot.mouseClick(a.comments.add_btn, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(b.comments.add_btn, Qt.MouseButton.LeftButton)
    want = ["From Ada", "From Bo"]
    for w in (a, b):
        qtbot.waitUntil(lambda w=w: sorted(thread_texts(w)) == want, timeout=10000)
    qtbot.waitUntil(lambda: not ada.store.pending and not bo.store.pending, timeout=10000)
    for w in (a, b):
        assert sorted(thread_texts(w)) == want
        assert "refused" not in "\n".join(w.notes.visible_texts())
    assert ada.store.doc.hash() == bo.store.doc.hash()
    # Undoing her comment removes only hers, never the shared container with Bo's in it.
    a.act_undo.trigger()
    qtbot.waitUntil(lambda: thread_texts(b) == ["From Bo"], timeout=10000)
    assert not a.act_undo.isEnabled()


def reply_texts(w) -> list[str]:
    top = w.comments.tree.topLevelItem(0)
    return [top.child(i).text(0) for i in range(top.childCount())] if top else []


def test_reply_button_posts_a_reply_under_the_thread(join, qtbot):
    _ada, a = join("Ada")
    _bo, b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    qtbot.keyClicks(a.comments.editor, "Check clearance to the fence")
    qtbot.mouseClick(a.comments.add_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: thread_texts(b) == ["Check clearance to the fence"], timeout=10000)
    # Bo clicks the thread, types an answer and clicks Reply.
    tree = b.comments.tree
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=tree.visualItemRect(tree.topLevelItem(0)).center())
    assert b.comments.reply_btn.isEnabled()
    qtbot.keyClicks(b.comments.editor, "Done: 40 cm")
    qtbot.mouseClick(b.comments.reply_btn, Qt.MouseButton.LeftButton)
    assert b.comments.editor.toPlainText() == ""
    assert reply_texts(b) == ["Done: 40 cm"]
    assert tree.currentItem().text(0) == "Done: 40 cm"
    qtbot.waitUntil(lambda: reply_texts(a) == ["Done: 40 cm"], timeout=10000)
    assert a.comments.tree.topLevelItem(0).child(0).text(1) == "Bo"
    assert thread_texts(a) == ["Check clearance to the fence"]
    assert a.comments.count.text().startswith("1 open")


"""Every action of the main window, found from the window itself (menus, toolbars, panels,
context menus), is triggered on a window joined to a real server, and every keyboard
shortcut reaches its action. A new action is covered without touching this file; one that
stays disabled throughout fails the walk until it is given the state that enables it."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QFileDialog,
    QProgressDialog,
    QToolButton,
)
from pytestqt.exceptions import capture_exceptions, format_captured_exceptions

from tests.qt.person import (
    Dialogs,
    Room,
    choose_file,
    click,
    click_item,
    context_menu_actions,
    context_menu_widgets,
    key,
    select_in_tree,
    type_text,
    window_actions,
)

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]

# Placeholders a menu shows when it has nothing to offer; a person cannot trigger them.
PLACEHOLDERS = {"No recent rooms"}


@pytest.fixture(scope="module")
def room(qapp, tmp_path_factory) -> Iterator[Room]:
    r = Room(tmp_path_factory.mktemp("every_action"))
    yield r
    r.close()


def label(act: QAction) -> str:
    return act.text().replace("&", "") or act.toolTip()


def ensure_selection(room: Room) -> None:
    """Select a part by clicking it in the tree if nothing is selected (edits need one)."""
    if room.win.selection:
        return
    doc = room.ada.store.doc
    part = next((n.id for n in doc.walk() if n.kind == "part"), None)
    if part is not None:
        select_in_tree(room.win, part)
        room.until(lambda: room.win.selection == [part])


def settle(room: Room) -> None:
    """Wait until workers (imports) are done and no dialog is left waiting."""
    room.until(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, 30)
    QTest.qWait(20)


def write_stl(path: Path) -> None:
    with path.open("wb") as fh:
        fh.write(b"\0" * 80 + struct.pack("<I", 1))
        fh.write(struct.pack("<12f", 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0) + b"\0\0")


def test_every_shortcut_triggers_its_action(room: Room) -> None:
    win = room.win
    missed: list[str] = []
    for act in window_actions(win):
        if act is win.act_quit:
            continue  # closes the window: pressed last, by the walk below
        for seq in act.shortcuts():
            ensure_selection(room)
            if not act.isEnabled():
                continue
            fired: list[bool] = []

            def spy(*_: object, f: list[bool] = fired) -> None:
                f.append(True)

            act.triggered.connect(spy)
            with Dialogs():
                key(win.viewport.plotter, seq)
                deadline = time.monotonic() + 0.5
                room.until(lambda f=fired, d=deadline: bool(f) or time.monotonic() > d)
            act.triggered.disconnect(spy)
            settle(room)
            if not fired:
                missed.append(f"{seq.toString()} → {label(act)}")
    assert not missed, f"shortcuts that did not trigger their action: {missed}"


def answer(tmp: Path):
    stl = tmp / "bracket.stl"
    write_stl(stl)

    def reply(dlg: QDialog) -> None:
        if isinstance(dlg, QProgressDialog):
            return  # an import in progress: let it finish
        if isinstance(dlg, QFileDialog):
            save = dlg.acceptMode() == QFileDialog.AcceptMode.AcceptSave
            choose_file(dlg, tmp / "walk.glb" if save else stl)
        else:
            dlg.reject()

    return reply


def test_walk_triggers_every_action_without_an_exception(room: Room, tmp_path: Path,
                                                        logged_exceptions) -> None:
    win = room.win
    # Give every action the state in which a person can use it: a selection, an edit to undo,
    # someone to stop following.
    ensure_selection(room)
    type_text(win.inspector.spins["position"][1], "0.5")
    room.until(win.act_undo.isEnabled)
    people = win.people.tree
    click_item(people, people.model().index(1, 0))
    click(win.people.follow_btn)
    room.until(win.act_stop_follow.isEnabled)

    failures: dict[str, str] = {}
    enabled: set[str] = set()
    disabled: set[str] = set()

    def run(name: str, do) -> None:
        n_logged = len(logged_exceptions)
        with capture_exceptions() as caught, Dialogs(answer(tmp_path)):
            do()
            settle(room)
        problems = format_captured_exceptions(caught) if caught else ""
        problems += "".join(f"{r.getMessage()}: {r.exc_info[1]!r}\n"
                            for r in logged_exceptions[n_logged:])
        if problems:
            failures[name] = problems

    actions = window_actions(win)
    for act in [a for a in actions if a is not win.act_quit]:
        ensure_selection(room)
        name = label(act)
        if not act.isEnabled():
            disabled.add(name)
            continue
        enabled.add(name)
        toggles = act.isCheckable() and not (act.actionGroup() and
                                             act.actionGroup().isExclusive())
        run(name, lambda a=act, t=toggles: (a.trigger(), t and a.trigger()))

    for widget in context_menu_widgets(win):
        ensure_selection(room)
        for text in context_menu_actions(widget):
            enabled.add(text)
            run(f"{type(widget).__name__} menu: {text}",
                lambda w=widget, t=text: context_menu_actions(w, choose=t))

    # Every button of the panels and the status bar, clicked with the mouse (the toolbar's
    # buttons are its actions, walked above; Qt's own dock and line-edit buttons are not ours).
    for button in win.findChildren(QAbstractButton):
        ensure_selection(room)
        if (button.objectName().startswith("qt_") or type(button) is QAbstractButton
                or (isinstance(button, QToolButton) and button.defaultAction() is not None)):
            continue
        name = f"{type(button).__name__} {button.text() or button.toolTip()}"
        if not (button.isVisible() and button.isEnabled()):
            continue
        enabled.add(name)
        run(name, lambda b=button: click(b))

    assert not failures, "actions that raised:\n" + "\n".join(
        f"--- {k}\n{v}" for k, v in failures.items())
    assert disabled - enabled - PLACEHOLDERS == set(), "actions never enabled in the walk"
    assert len(enabled) >= 30

    # Quit last, with its shortcut: the window closes and keeps its layout.
    room.win.activateWindow()
    key(win.viewport.plotter, QKeySequence(QKeySequence.StandardKey.Quit))
    room.until(lambda: not win.isVisible())
    assert room.settings_path.exists() and "window" in room.settings_path.read_text()

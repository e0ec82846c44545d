"""Helpers for tests that use the app as a person does.

``Room`` is a real sync server (child process) seeded with the small plant, the app window of
Ada (owner) joined to it, and Bob, a second client (designer) in the same room: what Ada does
through the window, Bob receives over the network.

A person can only reach the app through its widgets, so the helpers here press keys, click
buttons, tree rows and menu items, and answer the dialogs that open (``Dialogs``). None of
them calls a window's slot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QContextMenuEvent, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QApplication,
    QCheckBox,
    QDialog,
    QFileDialog,
    QLineEdit,
    QMenu,
    QWidget,
)

from tests.netutil import ServerProcess
from tests.plant import small_plant
from twin_app.core import roomfile
from twin_app.qt.bridge import ClientBridge
from twin_app.qt.share import ShareInfo
from twin_app.qt.window import MainWindow

ADA_COLOR = (0.9, 0.3, 0.3)
BOB_COLOR = (0.2, 0.6, 0.9)


class Room:
    """Ada's window and Bob's client in room "plant" on a real server."""

    def __init__(self, tmp: Path, *, share: bool = True) -> None:
        from twin_app.net import SyncClient

        doc, blobs = small_plant()
        seed = tmp / "plant.twinroom"
        roomfile.write(seed, doc, blobs, "plant")
        self.server = ServerProcess(tmp / "server", extra=["--seed", f"plant={seed}"]).start()
        self.settings_path = tmp / "settings.ini"
        self.bridge = ClientBridge()
        self.ada = SyncClient(self.server.endpoint, "plant", "owner-token", "Ada",
                              state_dir=tmp / "ada", color=ADA_COLOR, wakeup=self.bridge.wakeup)
        self.bridge.attach(self.ada)
        info = (ShareInfo(self.server.endpoint.removeprefix("tcp://"), "plant", "designer-token")
                if share else None)
        self.win = MainWindow(self.ada, self.bridge,
                              settings=QSettings(str(self.settings_path),
                                                 QSettings.Format.IniFormat),
                              room="plant", name="Ada", color=ADA_COLOR, share=info,
                              endpoint=self.server.endpoint)
        self.win.resize(1400, 880)
        self.win.show()
        ready: list[bool] = []
        self.win.sig_scene_ready.connect(lambda: ready.append(True))
        self.ada.start()
        self.bob = SyncClient(self.server.endpoint, "plant", "designer-token", "Bob",
                              color=BOB_COLOR)
        self.bob.start()
        self.until(lambda: bool(ready), 30)
        self.until(lambda: self.bob.synced and self.ada.session in self.bob.peers
                   and self.bob.session in self.ada.peers)
        self.win.activateWindow()
        self.until(lambda: QApplication.activeWindow() is self.win, 5)

    def until(self, cond: Callable[[], Any], timeout: float = 15.0) -> None:
        """Let both clients and the event loop run until ``cond()`` is true (or fail)."""
        deadline = time.monotonic() + timeout
        while True:
            self.bob.process_events()
            QApplication.processEvents()
            if cond():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {cond}")
            QTest.qWait(10)

    def bob_node(self, nid: str) -> Any:
        """Bob's copy of node ``nid`` (None once it is deleted)."""
        return self.bob.store.doc.get(nid)

    def close(self) -> None:
        """Close Ada's window, both clients and the server."""
        self.win.close()
        self.bridge.detach()
        self.bob.close()
        self.ada.close()
        self.server.stop()


# ====================================================================== dialogs ==
class Dialogs:
    """Answers every modal dialog and popup menu that opens, the way a person would.

    ``answer(dialog)`` gets each visible dialog on each poll until it closes; the default
    rejects it (Esc). Popup menus are closed. ``seen`` lists the class names of what was
    answered. (Dialogs are not remembered by ``id``: a new dialog can reuse a closed one's.)
    """

    def __init__(self, answer: Callable[[QDialog], None] | None = None) -> None:
        self.answer = answer or (lambda d: d.reject())
        self.seen: list[str] = []
        self._timer = QTimer()
        self._timer.setInterval(20)
        self._timer.timeout.connect(self._poll)

    def _poll(self) -> None:
        popup = QApplication.activePopupWidget()
        if isinstance(popup, QMenu):
            self.seen.append("QMenu")
            popup.close()
        for w in QApplication.topLevelWidgets():
            if isinstance(w, QDialog) and w.isVisible():
                self.seen.append(type(w).__name__)
                self.answer(w)

    def __enter__(self) -> Dialogs:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._poll()
        self._timer.stop()


def choose_file(dlg: QFileDialog, path: Path) -> None:
    """Type ``path`` into a file dialog's name box and press Open (or Save)."""
    edit = dlg.findChild(QLineEdit, "fileNameEdit")
    edit.setText(str(path))
    QTest.keyClick(edit, Qt.Key.Key_Return)


# ====================================================================== actions ==
def key(widget: QWidget, sequence: str | QKeySequence) -> None:
    """Press a key combination (e.g. "Ctrl+D") with ``widget`` focused.

    Shortcuts only reach the active window; Xvfb has no window manager to give the focus
    back when a dialog closes, so make the widget's window active first, as a click would."""
    win = widget.window()
    if QApplication.activeWindow() is not win:
        win.activateWindow()
        QTest.qWaitForWindowActive(win, 2000)
    widget.setFocus()
    QTest.keySequence(widget, QKeySequence(sequence))


def click(widget: QWidget, button: Qt.MouseButton = Qt.MouseButton.LeftButton,
          modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
          pos: QPoint | None = None) -> None:
    """Click ``widget`` at ``pos``; by default at its centre, or on its box if it is a check
    box (a wide check box ignores clicks right of its label)."""
    if pos is None:
        pos = widget.rect().center()
        if isinstance(widget, QCheckBox):
            pos = QPoint(8, widget.height() // 2)
    QTest.mouseClick(widget, button, modifiers, pos)


def type_text(widget: QWidget, text: str, enter: bool = True) -> None:
    """Select what ``widget`` shows, type ``text`` over it and (by default) press Enter."""
    widget.setFocus()
    QTest.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(widget, text)
    if enter:
        QTest.keyClick(widget, Qt.Key.Key_Return)


def item_pos(view: QAbstractItemView, index: QModelIndex) -> QPoint:
    """Where row ``index`` is drawn in ``view``'s viewport (scrolled into view first)."""
    view.scrollTo(index)
    return view.visualRect(index).center()


def click_item(view: QAbstractItemView, index: QModelIndex,
               modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
               double: bool = False) -> None:
    """Click (or double-click) the row ``index`` of ``view``."""
    pos = item_pos(view, index)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifiers, pos)
    if double:
        QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, modifiers, pos)


def tree_index(win: MainWindow, nid: str, column: int = 0) -> QModelIndex:
    """The scene tree's (filtered view) index of node ``nid``."""
    return win.outline.proxy.mapFromSource(win.scene_model.index_of(nid, column))


def select_in_tree(win: MainWindow, *nids: str) -> None:
    """Click the first node's row in the scene tree and Ctrl+click the others."""
    for i, nid in enumerate(nids):
        mods = Qt.KeyboardModifier.ControlModifier if i else Qt.KeyboardModifier.NoModifier
        click_item(win.outline.view, tree_index(win, nid), mods)


def window_actions(win: MainWindow) -> list[QAction]:
    """Every action a person can reach in ``win``: menus (opened, so that menus filled on
    demand are filled), toolbars, the panels' own actions; in menu order, each once."""
    seen: dict[int, QAction] = {}
    opened: set[int] = set()

    def add(act: QAction) -> None:
        if act.isSeparator() or id(act) in seen:
            return
        menu = act.menu()
        if isinstance(menu, QMenu):
            if id(menu) in opened:
                return
            opened.add(id(menu))
            menu.aboutToShow.emit()
            for sub in menu.actions():
                add(sub)
            return
        seen[id(act)] = act

    for act in win.menuBar().actions():
        add(act)
    # Actions the window owns but shows in no menu (shortcut-only ones), then those of
    # toolbars and panels. Menus that code builds and pops up on demand are not walked
    # here but by right-clicking (``context_menu_widgets``).
    for act in win.findChildren(QAction, options=Qt.FindChildOption.FindDirectChildrenOnly):
        add(act)
    for w in win.findChildren(QWidget):
        if not isinstance(w, QMenu):
            for act in w.actions():
                add(act)
    return list(seen.values())


def context_menu_widgets(win: MainWindow) -> list[QWidget]:
    """Widgets of ``win`` that open a context menu of their own on a right click."""
    out = []
    for w in win.findChildren(QWidget):
        policy = w.contextMenuPolicy()
        own_handler = any("contextMenuEvent" in vars(cls) for cls in type(w).__mro__
                          if cls.__module__.startswith("twin_app"))
        if policy == Qt.ContextMenuPolicy.CustomContextMenu or (
                policy == Qt.ContextMenuPolicy.DefaultContextMenu and own_handler):
            out.append(w)
    return out


def right_click_pos(widget: QWidget) -> tuple[QWidget, QPoint]:
    """Where a person right-clicks ``widget``: its current (or first) row, else its centre;
    returns the widget that receives the click and the position in it."""
    if isinstance(widget, QAbstractItemView):
        model = widget.model()
        index = widget.currentIndex()
        if not index.isValid() and model is not None and model.rowCount() > 0:
            index = model.index(0, 0)
        if index.isValid():
            return widget.viewport(), item_pos(widget, index)
    if isinstance(widget, QAbstractScrollArea):
        return widget.viewport(), widget.viewport().rect().center()
    return widget, widget.rect().center()


def context_menu_actions(widget: QWidget, choose: str | None = None) -> list[str]:
    """Right-click ``widget``; return the texts of the menu's enabled items, and click the
    item whose text is ``choose`` (else close the menu, as Esc does)."""
    target, pos = right_click_pos(widget)
    texts: list[str] = []
    clicked: list[bool] = []

    def take() -> None:
        menu = QApplication.activePopupWidget()
        if not isinstance(menu, QMenu) or clicked:
            return
        clicked.append(True)
        timer.stop()
        acts = [a for a in menu.actions() if not a.isSeparator() and a.isEnabled()]
        texts.extend(a.text() for a in acts)
        chosen = next((a for a in acts if a.text() == choose), None)
        if chosen is not None:
            QTest.mouseClick(menu, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                             menu.actionGeometry(chosen).center())
        else:
            menu.close()

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(take)
    timer.start()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, target.mapToGlobal(pos))
    QApplication.sendEvent(target, event)
    deadline = time.monotonic() + 1.0
    while not clicked and time.monotonic() < deadline:
        QTest.qWait(10)
    timer.stop()
    return texts

"""Help → Twinroom Help (F1) and Help → About: what the mouse and keys do, how to invite
someone, and which version this is.

The key list is built from the window's actions, so it always shows the shortcuts that
actually work; the rest is written here once.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

import twin_app

MOUSE = (
    ("Left-drag", "Orbit around the plant (turntable: Z stays up; trackball in View)"),
    ("Middle-drag, or Shift + left-drag", "Pan"),
    ("Wheel, or right-drag", "Zoom"),
    ("Click a part", "Select it (a group is selected from the Scene tree)"),
    ("Ctrl- or Shift-click", "Add the part to the selection, or take it out"),
    ("Click empty space", "Select nothing"),
    ("Move mode (W): drag an arrow", "Move the part along that axis"),
    ("Move mode: drag a coloured square", "Move the part in that plane"),
    ("Rotate mode (E): drag a ring", "Turn the part about that axis"),
    ("Esc while dragging", "Put the part back where it was"),
    ("Double-click a row in the Scene tree", "Rename it (or fit the view on it: Visible column)"),
)

INVITE = """
<ol>
<li>Choose <b>File → Share…</b> (or click the address in the status bar). It shows this
computer's address, the room and a token.</li>
<li>Click <b>Copy</b> and send the command to your colleague, e.g. by chat. It reads
<code>twin-app --connect tcp://your-pc:7700 --room demo --token …</code>.</li>
<li>They run it (or use <b>File → Connect to Room…</b> and paste the address and token).
They appear in the People list, their selection is outlined in their colour and their
view shows as a labelled frustum.</li>
<li>To show them what you see, use <b>People → Present</b>; to watch someone, select them
in the People list and click <b>Follow</b> (they are asked first).</li>
</ol>
<p>The room lives on the computer that shares it: keep Twinroom running there while
others work in it.</p>
"""


def key_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """(shortcut, what it does) for every action with a shortcut, sorted by the label."""
    rows = set()
    for act in actions:
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                         for k in act.shortcuts() if not k.isEmpty())
        if keys:
            label = act.text().replace("&", "").rstrip("…")
            tip = act.statusTip()
            rows.add((keys, f"{label} — {tip}" if tip else label))
    return sorted(rows, key=lambda r: r[1].lower())


def help_html(actions: Iterable[QAction]) -> str:
    """The help page as HTML."""

    def table(rows: Iterable[tuple[str, str]]) -> str:
        body = "".join(f"<tr><td><b>{html.escape(a)}</b></td><td>{html.escape(b)}</td></tr>"
                       for a, b in rows)
        return f"<table cellspacing='0' cellpadding='4'>{body}</table>"

    return (f"<h2>Twinroom</h2><p>Everyone in a room edits the same plant model live; every "
            f"edit is saved on the server that hosts the room.</p>"
            f"<h3>Mouse</h3>{table(MOUSE)}"
            f"<h3>Inviting someone</h3>{INVITE}"
            f"<h3>Keys</h3>{table(key_rows(actions))}")


class HelpDialog(QDialog):
    """A non-modal help window."""

    def __init__(self, actions: Iterable[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Twinroom Help")
        self.resize(640, 720)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(help_html(actions))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)


def about_html() -> str:
    """The About box text."""
    return (f"<h3>Twinroom {twin_app.__version__}</h3>"
            "<p>Co-design and maintain a factory's plants on one shared 3D model, live, "
            "from several sites.</p><p>Open source under the Apache License 2.0.</p>")

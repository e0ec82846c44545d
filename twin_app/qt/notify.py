"""Non-blocking notifications: toasts over the viewport and a history list.

Nothing here is modal: a refused edit, a failed undo, a follow request or "B is
presenting" appears as a toast in the top-right corner of the central area, optionally with
action buttons, and also lands in the notification history (a dock) so it can be read
later. Toasts with a ``key`` replace an earlier toast with the same key and can be
dismissed by key (a follow request disappears when the requester gives up).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

LEVEL_COLORS = {"info": "#3b82f6", "success": "#22a05a", "warning": "#d9902a",
                "error": "#d64545"}
Action = tuple[str, Callable[[], object]]


@dataclass
class Notice:
    """One notification as kept in the history."""

    when: float
    level: str
    text: str


class Toast(QFrame):
    """One toast: a coloured bar, the text, optional action buttons and a close button."""

    sig_closed = Signal()

    def __init__(self, text: str, level: str, actions: Sequence[Action],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("toast")
        self.level = level
        color = LEVEL_COLORS.get(level, LEVEL_COLORS["info"])
        self.setStyleSheet(
            f"#toast {{ background: palette(window); border: 1px solid palette(mid);"
            f" border-left: 4px solid {color}; border-radius: 4px; }}")
        self.setAutoFillBackground(True)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 4, 6)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self.buttons: dict[str, QPushButton] = {}
        for name, fn in actions:
            b = QPushButton(name)
            b.clicked.connect(functools.partial(self._run, fn))
            lay.addWidget(b)
            self.buttons[name] = b
        close = QToolButton()
        close.setText("×")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.close_toast)
        lay.addWidget(close)
        self.setMaximumWidth(460)
        self.setMinimumWidth(280)

    def _run(self, action: Callable[[], object], _checked: bool = False) -> None:
        action()
        self.close_toast()

    def close_toast(self) -> None:
        """Remove the toast."""
        self.hide()
        self.sig_closed.emit()
        self.deleteLater()


class NotificationArea(QObject):
    """Stacks toasts in the top-right corner of ``host`` and keeps a history list."""

    sig_count = Signal(int)  # unread notices

    def __init__(self, host: QWidget) -> None:
        super().__init__(host)
        self.host = host
        self.box = QWidget(host)
        self.box.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, False)
        self.stack = QVBoxLayout(self.box)
        self.stack.setContentsMargins(0, 0, 0, 0)
        self.stack.setSpacing(6)
        self.toasts: dict[str, Toast] = {}
        self.history: list[Notice] = []
        self.unread = 0
        self.list = QListWidget()
        self.list.setWordWrap(True)
        host.installEventFilter(self)
        self._place()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.host and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self._place()
        return False

    def _place(self) -> None:
        self.box.adjustSize()
        w = self.box.sizeHint().width()
        self.box.setGeometry(max(0, self.host.width() - w - 12), 12, w,
                             self.box.sizeHint().height())
        self.box.raise_()

    def notify(self, text: str, level: str = "info", actions: Sequence[Action] = (),
               timeout_ms: int = 6000, key: str | None = None) -> Toast:
        """Show a toast (sticky when ``timeout_ms`` is 0) and record it in the history."""
        if key is not None:
            self.dismiss(key)
        toast = Toast(text, level, actions, self.box)
        toast.setProperty("key", key)
        self.stack.addWidget(toast)
        toast.show()
        self.box.show()
        if key is not None:
            self.toasts[key] = toast
            toast.sig_closed.connect(lambda k=key, t=toast: self._forget(k, t))
        toast.sig_closed.connect(self._place)
        if timeout_ms > 0 and not actions:
            QTimer.singleShot(timeout_ms, lambda t=toast: _close_if_alive(t))
        self.history.append(Notice(time.time(), level, text))
        item = QListWidgetItem(f"{time.strftime('%H:%M:%S')}  {text}")
        item.setForeground(QColor(LEVEL_COLORS.get(level, "#888")))
        self.list.insertItem(0, item)
        self.unread += 1
        self.sig_count.emit(self.unread)
        self._place()
        return toast

    def _forget(self, key: str, toast: Toast) -> None:
        if self.toasts.get(key) is toast:
            del self.toasts[key]

    def dismiss(self, key: str) -> None:
        """Close the toast with ``key`` if it is showing."""
        toast = self.toasts.pop(key, None)
        if toast is not None:
            toast.close_toast()

    def visible_texts(self) -> list[str]:
        """Texts of the toasts currently shown (newest last)."""
        out = []
        for i in range(self.stack.count()):
            item = self.stack.itemAt(i)
            w = item.widget() if item is not None else None
            if isinstance(w, Toast) and not w.isHidden():
                out.append(w.label.text())
        return out

    def mark_read(self) -> None:
        """Reset the unread counter."""
        self.unread = 0
        self.sig_count.emit(0)


def _close_if_alive(toast: Toast) -> None:
    try:
        if toast.isVisible():
            toast.close_toast()
    except RuntimeError:  # already deleted by Qt
        pass

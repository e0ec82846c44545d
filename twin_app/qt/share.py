"""The Share dialog: the address, room and token others need to join, with copy buttons."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class ShareInfo:
    """How others reach this room."""

    address: str  # host:port
    room: str
    token: str = ""
    server_key: str | None = None

    @property
    def endpoint(self) -> str:
        """The connectable endpoint (``tcp://host:port``)."""
        return self.address if "://" in self.address else f"tcp://{self.address}"

    def command(self) -> str:
        """The command line that joins this room."""
        parts = ["twin-app", "--connect", self.endpoint, "--room", self.room]
        if self.token:
            parts += ["--token", self.token]
        if self.server_key:
            parts += ["--server-key", self.server_key]
        return " ".join(parts)


class ShareDialog(QDialog):
    """Shows a ``ShareInfo`` with a copy button per field."""

    def __init__(self, info: ShareInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Share this room")
        self.info = info
        intro = QLabel("Others on your network join with these details "
                       "(designer rights). Anyone with the token can edit the plant.")
        intro.setWordWrap(True)
        form = QFormLayout()
        self.fields: dict[str, QLineEdit] = {}
        rows = [("Address", info.endpoint), ("Room", info.room), ("Token", info.token)]
        if info.server_key:
            rows.append(("Server key", info.server_key))
        rows.append(("Command", info.command()))
        for label, value in rows:
            edit = QLineEdit(value)
            edit.setReadOnly(True)
            edit.setMinimumWidth(380)
            copy = QPushButton("Copy")
            copy.clicked.connect(lambda _=False, v=value: self.copy(v))
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(copy)
            form.addRow(label, row)
            self.fields[label] = edit
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(buttons)

    @staticmethod
    def copy(text: str) -> None:
        """Put ``text`` on the clipboard."""
        QGuiApplication.clipboard().setText(text)

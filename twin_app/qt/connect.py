"""The Connect dialog: server address, room, token and (optional) server key."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QWidget


class ConnectDialog(QDialog):
    """Asks where to connect."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to a room")
        self.endpoint = QLineEdit()
        self.endpoint.setPlaceholderText("tcp://host:7700")
        self.room = QLineEdit("demo")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.key = QLineEdit()
        self.key.setPlaceholderText("optional: Z85 server public key for encryption")
        form = QFormLayout(self)
        form.addRow("Server", self.endpoint)
        form.addRow("Room", self.room)
        form.addRow("Token", self.token)
        form.addRow("Server key", self.key)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> tuple[str, str, str, str]:
        """Return ``(endpoint, room, token, server key)``."""
        ep = self.endpoint.text().strip()
        if ep and "://" not in ep:
            ep = f"tcp://{ep}"
        return ep, self.room.text().strip() or "demo", self.token.text().strip(), \
            self.key.text().strip()

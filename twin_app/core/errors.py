"""Typed errors of the pure core. The edges (server, GUI) turn them into user-facing text."""

from __future__ import annotations


class InvalidOp(ValueError):
    """An operation that cannot be applied to the document as it is.

    ``code`` is a short stable machine-readable reason (it travels in NACKs), ``str(err)``
    the human explanation.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class UndoConflict(Exception):
    """Undo/redo refused because someone else changed what the edit touched since."""

"""The client-side store: the document as this user sees it, with optimistic edits.

Design notes
------------
* ``doc`` always shows the server state at ``last_seq`` with this user's pending ops
  applied on top (in submit order). Own edits therefore appear at once.
* A remote op is applied *beneath* the pending ops: undo the pending ops (newest first),
  apply the remote op, redo the pending ops. A property with a pending local write thus
  keeps the local value until that op is acknowledged or rejected — no flicker — and the
  result equals what the server will compute when it sequences our ops after the remote
  one. A pending op that no longer applies stays pending but inert (the server will reject
  it and the rejection is then a no-op locally).
* A rejected (nacked) op is removed the same way: undo the newer pending ops, drop it,
  redo the rest. Its changes roll back and the reason is reported.
* A snapshot (join or resync) says up to which client seq the server has decided this
  client's edits. Those are dropped from the pending list, never re-applied on top: the
  snapshot already contains each of them that was sequenced (their ``OPS`` entries are
  older than the snapshot, so they never arrive), and one left pending would override
  later remote writes to its fields for ever.
* All of this runs on one thread (the GUI thread in the app); the network agent only
  hands it decoded messages.
* Observers register with ``subscribe`` and get one ``ChangeSet`` per applied message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from twin_app.core.changes import ChangeSet
from twin_app.core.document import Document
from twin_app.core.errors import InvalidOp, UndoConflict
from twin_app.core.ops import Op, apply
from twin_app.core.undo import UndoEntry, UndoStack, expectations

Listener = Callable[[ChangeSet], None]


@dataclass
class PendingOp:
    """An op applied locally but not yet sequenced by the server."""

    cseq: int
    op: Op
    label: str
    inverse: Op | None  # None while the op does not apply on the current base
    entry: UndoEntry | None = None  # its undo/redo entry, kept in step with ``inverse``


class ClientStore:
    """Document + pending edits + undo for one user. Not thread-safe by design."""

    def __init__(self, client_id: str, doc: Document | None = None) -> None:
        self.client_id = client_id
        self.doc = doc if doc is not None else Document()
        self.last_seq = 0
        self.next_cseq = 1
        self.pending: list[PendingOp] = []
        self.history = UndoStack()
        self._listeners: list[Listener] = []

    # -- observation -------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(changes)`` after every change; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, changes: ChangeSet) -> ChangeSet:
        if changes:
            for listener in list(self._listeners):
                listener(changes)
        return changes

    # -- local edits -------------------------------------------------------------------
    def local(self, op: Op, label: str, *, undoable: bool = True) -> PendingOp:
        """Apply a local edit at once and queue it for the server.

        Raises ``InvalidOp`` (nothing changes) if it does not apply. Returns the pending
        entry, whose ``cseq`` identifies it in acks and nacks.
        """
        inverse, changes = apply(self.doc, op)
        pending = PendingOp(self.next_cseq, op, label, inverse)
        self.next_cseq += 1
        self.pending.append(pending)
        if undoable:
            pending.entry = UndoEntry(label, op, inverse, expectations(self.doc, op))
            self.history.record(pending.entry)
        self._emit(changes)
        return pending

    def undo(self) -> PendingOp | None:
        """Revert this user's last edit as a new op. Raises ``UndoConflict``.

        Returns ``None`` when there is nothing to undo.
        """
        return self._step(redo=False)

    def redo(self) -> PendingOp | None:
        """Re-apply the last undone edit as a new op. Raises ``UndoConflict``."""
        return self._step(redo=True)

    def _step(self, redo: bool) -> PendingOp | None:
        stack = self.history.redo_entries if redo else self.history.undo_entries
        if not stack:
            return None
        entry = self.history.take(self.doc, redo)
        try:
            inverse, changes = apply(self.doc, entry.inverse)
        except InvalidOp as exc:
            raise UndoConflict(f"Cannot {'redo' if redo else 'undo'} “{entry.label}”: {exc}.") from exc
        back = UndoEntry(entry.label, entry.inverse, inverse, expectations(self.doc, entry.inverse))
        if redo:
            self.history.record(back, clear_redo=False)
        else:
            self.history.redo_entries.append(back)
        pending = PendingOp(self.next_cseq, entry.inverse, entry.label, inverse, back)
        self.next_cseq += 1
        self.pending.append(pending)
        self._emit(changes)
        return pending

    # -- server messages ---------------------------------------------------------------
    def remote(self, seq: int, client_id: str, cseq: int, op: Op) -> ChangeSet:
        """Apply one sequenced op from the server (ours or someone else's)."""
        return self.remote_many([(seq, client_id, cseq, op)])

    def remote_many(self, entries: list[tuple[int, str, int, Op]]) -> ChangeSet:
        """Apply consecutive sequenced ops ``(seq, client id, client seq, op)``; one event.

        The pending ops are unwound once for the whole run of remote ops, not per op.
        """
        changes = ChangeSet()
        unwound = False
        for seq, client_id, cseq, op in entries:
            mine = client_id == self.client_id
            head = self.pending[0] if self.pending else None
            if not unwound and mine and head and head.cseq == cseq and head.inverse is not None:
                # Our oldest pending op, sequenced: it is already in the document, at the
                # right place (everything sequenced before it is beneath it).
                self.pending.pop(0)
                self.last_seq = seq
                continue
            if not unwound:
                self._unwind(0, changes)
                unwound = True
            try:
                apply(self.doc, op, changes)
            except InvalidOp:
                # The server applied it to its copy; ours should be equal, so this means
                # divergence, which the periodic hash check repairs with a resync.
                pass
            if mine:
                idx = next((i for i, p in enumerate(self.pending) if p.cseq == cseq), None)
                if idx is not None:
                    del self.pending[idx]
            self.last_seq = seq
        if unwound:
            self._rewind(0, changes)
        return self._emit(changes)

    def reject(self, cseq: int) -> PendingOp | None:
        """Roll back the pending op ``cseq`` (the server refused it); return it."""
        idx = next((i for i, p in enumerate(self.pending) if p.cseq == cseq), None)
        if idx is None:
            return None
        changes = ChangeSet()
        self._unwind(idx, changes)
        dropped = self.pending.pop(idx)
        self._rewind(idx, changes)
        for stack in (self.history.undo_entries, self.history.redo_entries):
            stack[:] = [e for e in stack if e.op is not dropped.op]
        self._emit(changes)
        return dropped

    def reset(self, doc: Document, seq: int, decided_cseq: int = 0) -> ChangeSet:
        """Replace the base document (a snapshot at ``seq``) and re-apply pending edits.

        ``decided_cseq`` is the snapshot's ``cseq``: every pending edit with a client seq
        up to it was decided by the server (sequenced into ``doc``, or refused) and is
        dropped instead of being applied again. Returns the (reset) change set.
        """
        self.doc = doc
        self.last_seq = seq
        changes = ChangeSet()
        changes.reset = True
        self.pending = [p for p in self.pending if p.cseq > decided_cseq]
        for p in self.pending:
            p.inverse = None
        self._rewind(0, changes)
        return self._emit(changes)

    def _unwind(self, start: int, changes: ChangeSet) -> None:
        for p in reversed(self.pending[start:]):
            if p.inverse is not None:
                apply(self.doc, p.inverse, changes)
                p.inverse = None

    def _rewind(self, start: int, changes: ChangeSet) -> None:
        for p in self.pending[start:]:
            try:
                p.inverse = apply(self.doc, p.op, changes)[0]
            except InvalidOp:
                p.inverse = None
                continue
            if p.entry is not None:
                # Re-applied over ops sequenced beneath it: undo must now restore *their*
                # values, not the ones from before (the inverse is recomputed in step).
                p.entry.inverse = p.inverse

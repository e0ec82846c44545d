"""``Replay``: a recording played into a ``ClientStore``, the same store the live views use.

Usage::

    replay = Replay(FileRecording(path, sensors))     # or RemoteRecording(...)
    replay.index                                      # the timeline (opened in < 0.5 s)
    replay.seek(t_ns)                                 # one keyframe + a short tail
    replay.advance(t_ns)                              # play forward: only the new ops
    replay.store.doc, replay.presence, replay.samples # the room at that moment
    diff = replay.compare(t_a, t_b)                   # what changed between two moments

Design notes
------------
* The engine holds one document and nothing of the history: memory is bounded by the
  document and the largest tail, whatever the recording's length. Each move asks the
  recording for "from my seq to the state at t"; the recording answers with only the ops
  after ours when we are between the nearest keyframe and t, otherwise with that keyframe
  and its tail. Seeking back therefore also costs one keyframe plus a tail.
* Ops go through ``ClientStore.remote_many`` and keyframes through ``ClientStore.reset``,
  so observers (the renderer, the scene tree) get the same ``ChangeSet``s as live.
* Sensor values at t are the recorded samples at t (the newest at or before it) of the
  tags bound by sensor nodes in the document at t; ``sensor_frame()`` turns them into a
  ``Frame`` for a ``SensorFeed``, so colours and labels follow the same rules as live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from twin_app.core import snapshot
from twin_app.core.changes import ChangeSet
from twin_app.core.document import Document, Node
from twin_app.core.errors import InvalidOp
from twin_app.core.ops import Op, apply, op_from_wire
from twin_app.core.store import ClientStore
from twin_app.replay.model import Fetch, Index, PresenceState, Recording, Sample

REPLAY_CLIENT_ID = "replay"


@dataclass
class Diff:
    """What changed from moment A to moment B (node ids, and field names for changes)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    recoloured: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # other fields
    names: dict[str, str] = field(default_factory=dict)  # id -> name (from B, or A if removed)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.moved or self.recoloured or self.changed)

    def lines(self) -> list[str]:
        """The differences in words, one per line (for a list view)."""
        out: list[str] = []
        for title, ids in (("Added", self.added), ("Removed", self.removed), ("Moved", self.moved),
                           ("Recoloured", self.recoloured)):
            out += [f"{title}: {self.names.get(i, i)}" for i in ids]
        out += [f"Changed {', '.join(f)}: {self.names.get(i, i)}" for i, f in self.changed.items()]
        return out


def diff_documents(a: Document, b: Document, kinds: frozenset[str] | None = None) -> Diff:
    """Compare two documents node by node (``kinds``: only nodes of these kinds)."""
    d = Diff()

    def wanted(n: Node) -> bool:
        return n.kind != "root" and (kinds is None or n.kind in kinds)

    for nid, nb in b.nodes.items():
        if not wanted(nb):
            continue
        d.names[nid] = nb.name or nid
        na = a.nodes.get(nid)
        if na is None:
            d.added.append(nid)
            continue
        if na.transform != nb.transform or na.parent != nb.parent:
            d.moved.append(nid)
        if na.color != nb.color or na.opacity != nb.opacity:
            d.recoloured.append(nid)
        other = [f for f in ("name", "mesh", "visible") if getattr(na, f) != getattr(nb, f)]
        other += [f"prop:{k}" for k in sorted(set(na.props) | set(nb.props)) if na.props.get(k) != nb.props.get(k)]
        if other:
            d.changed[nid] = other
    for nid, na in a.nodes.items():
        if nid not in b.nodes and wanted(na):
            d.removed.append(nid)
            d.names[nid] = na.name or nid
    return d


class Replay:
    """A recording played into ``store`` (see the module docstring)."""

    def __init__(self, recording: Recording, bins: int = 1000) -> None:
        self.recording = recording
        self.index: Index = recording.index(bins)
        self.store = ClientStore(REPLAY_CLIENT_ID)
        self.seq = -1  # -1: nothing loaded yet
        self.t_ns = self.index.t0
        self.presence: list[PresenceState] = []
        self.samples: dict[str, Sample] = {}
        self.tags: tuple[str, ...] = ()
        self._tags_dirty = True
        self.stats = {"keyframes": 0, "ops": 0, "fetches": 0}
        self.damage = ""  # why the recording cannot be replayed past some op (empty: it can)
        self.on_moved: list[Callable[[], None]] = []  # after each seek/advance

    # -- moving ---------------------------------------------------------------------------
    def seek(self, t_ns: int) -> None:
        """Show the room as it was at ``t_ns``. Raises ``RecordingError``."""
        self._move(t_ns=t_ns)

    def seek_seq(self, seq: int) -> None:
        """Show the room just after op ``seq``. Raises ``RecordingError``."""
        self._move(seq=seq)

    advance = seek  # playing forward is a seek the recording answers with a short tail

    def _move(self, *, seq: int | None = None, t_ns: int | None = None) -> None:
        changes = ChangeSet()
        while True:
            fetch = self.recording.fetch(self.seq, seq=seq, t_ns=t_ns, tags=self._wanted_tags())
            self.stats["fetches"] += 1
            self._apply(fetch, changes)
            if fetch.damaged:
                self.damage = fetch.damaged
            if not fetch.more:
                break
        self.t_ns = fetch.t_ns
        if fetch.presence is not None:
            self.presence = fetch.presence
        if self._tags_dirty:
            self._tags_dirty = False
            tags = self._current_tags()
            if tags != self.tags:
                self.tags = tags
                # The bound sensors changed with the document: ask for their values here.
                self.samples = self.recording.fetch(self.seq, seq=self.seq, tags=tags, presence=False).samples
                for cb in list(self.on_moved):
                    cb()
                return
        self.samples = fetch.samples
        for cb in list(self.on_moved):
            cb()

    def _wanted_tags(self) -> tuple[str, ...]:
        return self.tags

    def _apply(self, fetch: Fetch, changes: ChangeSet) -> None:
        if fetch.keyframe is not None:
            kf_seq, chunks = fetch.keyframe
            self.stats["keyframes"] += 1
            doc = snapshot.decode(chunks)
            self.seq = kf_seq
            self.store.reset(doc, kf_seq)
            self._tags_dirty = True
        if fetch.ops:
            run: list[tuple[int, str, int, Op]] = []
            for seq, _t, cid, wire in fetch.ops:
                try:
                    op = op_from_wire(wire)
                except InvalidOp as exc:  # a damaged row that still decodes: stop before it
                    fetch.damaged = f"op {seq} of the recording is damaged ({exc}); it can be replayed up to op {seq - 1}"
                    fetch.more = False
                    break
                run.append((seq, cid, 0, op))
                if not self._tags_dirty and _may_bind(op):
                    self._tags_dirty = True
            if run:
                self.store.remote_many(run)
                self.stats["ops"] += len(run)
                self.seq = run[-1][0]

    def _current_tags(self) -> tuple[str, ...]:
        tags = {str(n.props["tag"]) for n in self.store.doc.nodes.values()
                if n.kind == "sensor" and n.props.get("tag")}
        return tuple(sorted(tags))

    # -- reading ----------------------------------------------------------------------------
    @property
    def doc(self) -> Document:
        return self.store.doc

    def document_at(self, t_ns: int) -> Document:
        """A separate copy of the document at ``t_ns`` (this replay does not move)."""
        doc: Document | None = None
        have = -1
        while True:
            f = self.recording.fetch(have, t_ns=t_ns, presence=False)
            if f.keyframe is not None:
                doc = snapshot.decode(f.keyframe[1])
            assert doc is not None
            for _seq, _t, _cid, wire in f.ops:
                apply(doc, op_from_wire(wire))
            have = f.seq
            if not f.more:
                return doc

    def compare(self, t_a: int, t_b: int, kinds: frozenset[str] | None = None) -> Diff:
        """What changed between moments A and B (parts added, removed, moved, recoloured)."""
        return diff_documents(self.document_at(t_a), self.document_at(t_b), kinds)

    def sample_arrays(self, ids: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The samples at the playhead as columns (stream ids from ``ids`` by tag)."""
        got = [(ids[t], s) for t, s in self.samples.items() if t in ids]
        sid = np.array([i for i, _ in got], np.uint32)
        val = np.array([s.value for _, s in got], np.float32)
        tt = np.array([s.t_ns for _, s in got], np.int64)
        q = np.array([s.quality for _, s in got], np.uint8)
        return sid, val, tt, q


def _may_bind(op: Op) -> bool:
    from twin_app.core.ops import AddNode, Batch, RemoveNode, SetField

    if isinstance(op, Batch):
        return any(_may_bind(o) for o in op.ops)
    if isinstance(op, AddNode):
        return op.node.kind == "sensor" or bool(op.node.props.get("tag"))
    if isinstance(op, SetField):
        return op.field == "prop:tag"
    return isinstance(op, RemoveNode)

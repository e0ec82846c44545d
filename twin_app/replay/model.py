"""What a recording looks like from outside, and its msgpack-ready wire form.

A *recording* is a room log (``rooms/<room>.db``) plus the server's sensor log: the
ops with their seq, server time and author, keyframes, presence samples and an index of
timeline events. ``Recording`` is the interface both a file reader
(``twin_app.replay.files``) and a server connection (``twin_app.replay.remote``) offer;
the ``Replay`` engine only talks to it.

Times are ns since the Unix epoch (server clock). ``to_wire``/``from_wire`` convert the
records to plain lists and maps for the ``REPLAY_*`` messages (docs/protocol.md §13);
``from_wire`` raises ``ValueError`` on anything malformed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

MARK_KINDS = (
    "alarm_raise", "alarm_level", "alarm_ack", "alarm_clear", "alarm_end",
    "comment", "step", "join", "leave",
)


@dataclass(frozen=True, slots=True)
class Mark:
    """A timeline event: an alarm raised/escalated/acknowledged/cleared/removed, a
    comment, a guidance step change, or someone joining or leaving."""

    seq: int
    t_ns: int
    client_id: str
    kind: str
    node: str
    label: str

    def to_wire(self) -> list[Any]:
        return [self.seq, self.t_ns, self.client_id, self.kind, self.node, self.label]

    @staticmethod
    def from_wire(v: Any) -> Mark:
        seq, t, cid, kind, node, label = v
        return Mark(int(seq), int(t), str(cid), str(kind), str(node), str(label))


@dataclass(slots=True)
class Participant:
    """Someone who edited or was present: by client id (one per installation)."""

    client_id: str
    name: str
    color: tuple[float, float, float] | None = None
    role: str = ""
    ops: int = 0
    first_t: int = 0
    last_t: int = 0
    sessions: list[str] = field(default_factory=list)

    def to_wire(self) -> list[Any]:
        return [self.client_id, self.name, list(self.color) if self.color else None, self.role,
                self.ops, self.first_t, self.last_t, self.sessions]

    @staticmethod
    def from_wire(v: Any) -> Participant:
        cid, name, color, role, ops, t0, t1, sessions = v
        col = (float(color[0]), float(color[1]), float(color[2])) if color else None
        return Participant(str(cid), str(name), col, str(role), int(ops), int(t0), int(t1),
                           [str(s) for s in sessions])


@dataclass(frozen=True, slots=True)
class SessionSpan:
    """A stretch of a room's recording with no gap longer than the split (default 30 min)."""

    t0: int
    t1: int
    ops: int
    first_seq: int
    last_seq: int
    people: tuple[str, ...]

    @property
    def duration_s(self) -> float:
        return max(0.0, (self.t1 - self.t0) / 1e9)

    def to_wire(self) -> list[Any]:
        return [self.t0, self.t1, self.ops, self.first_seq, self.last_seq, list(self.people)]

    @staticmethod
    def from_wire(v: Any) -> SessionSpan:
        t0, t1, ops, a, b, people = v
        return SessionSpan(int(t0), int(t1), int(ops), int(a), int(b), tuple(str(p) for p in people))


@dataclass(slots=True)
class RoomInfo:
    """One recorded room for a list: its time range and its sessions."""

    room: str
    head_seq: int
    t0: int
    t1: int
    spans: list[SessionSpan]
    presence_recorded: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {"room": self.room, "head_seq": self.head_seq, "t0": self.t0, "t1": self.t1,
                "spans": [s.to_wire() for s in self.spans], "presence": self.presence_recorded}

    @staticmethod
    def from_wire(v: Any) -> RoomInfo:
        return RoomInfo(str(v["room"]), int(v["head_seq"]), int(v["t0"]), int(v["t1"]),
                        [SessionSpan.from_wire(s) for s in v["spans"]], bool(v.get("presence", True)))


@dataclass(slots=True)
class Index:
    """The timeline of a recording: enough to draw it, nothing that grows with its length
    except the event marks (alarms, comments, steps, joins).

    ``activity[client_id]`` counts that person's ops in each of ``bins`` equal slices of
    ``[t0, t1]`` (edit markers in their colour); ``tags`` are the sensor tags bound in the
    room at its head (the ones whose values a replay shows).
    """

    room: str
    head_seq: int
    t0: int
    t1: int
    participants: list[Participant]
    marks: list[Mark]
    bins: int
    activity: dict[str, list[int]]
    tags: list[str] = field(default_factory=list)
    presence_recorded: bool = True
    indexed_seq: int = 0

    def participant(self, client_id: str) -> Participant | None:
        return next((p for p in self.participants if p.client_id == client_id), None)

    def to_wire(self) -> dict[str, Any]:
        return {
            "room": self.room, "head_seq": self.head_seq, "t0": self.t0, "t1": self.t1,
            "participants": [p.to_wire() for p in self.participants],
            "marks": [m.to_wire() for m in self.marks], "bins": self.bins,
            "activity": self.activity, "tags": self.tags, "presence": self.presence_recorded,
            "indexed_seq": self.indexed_seq,
        }

    @staticmethod
    def from_wire(v: Any) -> Index:
        try:
            return Index(
                str(v["room"]), int(v["head_seq"]), int(v["t0"]), int(v["t1"]),
                [Participant.from_wire(p) for p in v["participants"]],
                [Mark.from_wire(m) for m in v["marks"]], int(v["bins"]),
                {str(k): [int(x) for x in xs] for k, xs in v["activity"].items()},
                [str(t) for t in v.get("tags", [])], bool(v.get("presence", True)),
                int(v.get("indexed_seq", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed replay index: {exc}") from exc


@dataclass(frozen=True, slots=True)
class PresenceState:
    """One person at a moment: where they looked and what they had selected."""

    session: str
    client_id: str
    name: str
    color: tuple[float, float, float] | None
    camera: tuple[float, ...] | None
    selection: tuple[str, ...]
    t_ns: int

    def to_wire(self) -> list[Any]:
        return [self.session, self.client_id, self.name, list(self.color) if self.color else None,
                list(self.camera) if self.camera else None, list(self.selection), self.t_ns]

    @staticmethod
    def from_wire(v: Any) -> PresenceState:
        session, cid, name, color, camera, sel, t = v
        return PresenceState(
            str(session), str(cid), str(name),
            (float(color[0]), float(color[1]), float(color[2])) if color else None,
            tuple(float(c) for c in camera) if camera else None,
            tuple(str(s) for s in sel), int(t))


@dataclass(frozen=True, slots=True)
class Sample:
    """The recorded sample of a sensor tag in force at a moment (the newest at or before it)."""

    tag: str
    t_ns: int
    value: float
    quality: int

    def to_wire(self) -> list[Any]:
        return [self.tag, self.t_ns, self.value, self.quality]

    @staticmethod
    def from_wire(v: Any) -> Sample:
        tag, t, value, q = v
        return Sample(str(tag), int(t), float(value), int(q))


# (seq, server time ns, client id, op in wire form)
OpRow = tuple[int, int, str, Any]


@dataclass(slots=True)
class Fetch:
    """What it takes to bring a replica from seq ``have`` to the state at ``seq``.

    ``keyframe`` is ``(seq, chunks)`` when the replica must start over (a jump back, or
    further ahead than a short tail); ``ops`` follow it (or ``have``). ``more`` means the
    ops were cut short: fetch again from the last one. ``t_ns`` is the moment asked for
    (or the target op's time); ``presence`` and ``samples`` are the state at ``t_ns``.
    ``damaged`` says why the recording cannot be read past ``seq`` (a damaged op row):
    the ops up to the damage are there, and nothing after it.
    """

    seq: int
    t_ns: int
    keyframe: tuple[int, list[bytes]] | None
    ops: list[OpRow]
    more: bool = False
    presence: list[PresenceState] | None = None
    samples: dict[str, Sample] = field(default_factory=dict)
    damaged: str = ""  # the recording cannot be read past ``seq``: why

    def body(self) -> tuple[dict[str, Any], list[bytes]]:
        """The ``REPLAY_DATA`` body and its binary frames (keyframe chunks)."""
        body: dict[str, Any] = {
            "seq": self.seq, "t": self.t_ns, "kf_seq": self.keyframe[0] if self.keyframe else None,
            "ops": [list(o) for o in self.ops], "more": self.more,
            "samples": [s.to_wire() for s in self.samples.values()],
        }
        if self.presence is not None:
            body["presence"] = [p.to_wire() for p in self.presence]
        if self.damaged:
            body["damaged"] = self.damaged
        return body, list(self.keyframe[1]) if self.keyframe else []

    @staticmethod
    def from_body(body: dict[str, Any], blobs: list[bytes]) -> Fetch:
        try:
            kf_seq = body.get("kf_seq")
            presence = body.get("presence")
            samples = [Sample.from_wire(s) for s in body.get("samples", [])]
            return Fetch(
                int(body["seq"]), int(body["t"]),
                (int(kf_seq), list(blobs)) if kf_seq is not None else None,
                [(int(o[0]), int(o[1]), str(o[2]), o[3]) for o in body["ops"]],
                bool(body.get("more", False)),
                [PresenceState.from_wire(p) for p in presence] if presence is not None else None,
                {s.tag: s for s in samples},
                str(body.get("damaged") or ""),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed replay data: {exc}") from exc


class RecordingError(RuntimeError):
    """A recording that cannot be read (missing, damaged, refused); the text says why."""


class Recording(Protocol):
    """A recorded room, from a file or a server."""

    @property
    def room(self) -> str:
        ...

    def index(self, bins: int = 1000) -> Index:
        """The timeline (see ``Index``). Raises ``RecordingError``."""
        ...

    def fetch(self, have: int, *, seq: int | None = None, t_ns: int | None = None,
              tags: tuple[str, ...] = (), presence: bool = True) -> Fetch:
        """Ops (and a keyframe if needed) from ``have`` (-1: nothing yet) to the state at
        ``seq`` or at time ``t_ns``, plus presence and ``tags``' samples at that moment.
        Raises ``RecordingError``."""
        ...

    def close(self) -> None:
        ...

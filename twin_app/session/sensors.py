"""What a client knows of the sensor lane: the hub's streams, their current values, history.

``SensorFeed`` lives on the application thread next to the document. The network agent
merges the frames it receives into one pending frame; the client hands it to ``apply``
when the application asks for events, so a window that paints slowly draws the newest
values (with the min and max of everything in between) instead of a backlog.

Views read it and listen to it — they never talk to the network:

* ``streams`` / ``by_tag``: every stream the hub knows (for binding a sensor to a tag);
  ``on_streams`` fires when that list or the sources' online state changes;
* ``current``: an ``Aggregate`` whose ``latest``, ``t_last``, ``quality`` and ``seq`` hold
  the newest state of every stream of this room, indexed by stream id;
* ``on_frame(frame)``: after each applied frame (the frame lists only what changed; its
  ``vmin``/``vmax`` cover every sample since the previous frame, so spikes show);
* ``query(tags, t0_ns, t1_ns, points, done)``: recorded history from the server; ``done``
  gets ``{tag: History}`` (or an error text) on the application thread. With more samples
  than ``points`` in the range the server answers with a min/max envelope per bucket.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from twin_app.core.samples import F32, I64, Aggregate, Frame, Stream
from twin_app.core.sensors import GOOD, OFFLINE


@dataclass(frozen=True, slots=True)
class History:
    """Recorded samples of one stream: raw (``vmin == vmax``) or one min/max per bucket."""

    tag: str
    raw: bool
    t: I64
    vmin: F32
    vmax: F32


@dataclass(frozen=True, slots=True)
class SourceState:
    """A sensor source as the hub reports it (simulator, MQTT broker, OPC UA server …)."""

    name: str
    online: bool
    detail: str = ""


QueryDone = Callable[[dict[str, History] | str], None]
Requester = Callable[[int, Sequence[str], int, int, int], bool]


class SensorFeed:
    """The sensor state of one client (see the module docstring)."""

    def __init__(self, requester: Requester | None = None) -> None:
        self.streams: dict[int, Stream] = {}
        self.by_tag: dict[str, Stream] = {}
        self.sources: dict[str, SourceState] = {}
        self.current = Aggregate()
        self.frames = 0
        self.on_streams: list[Callable[[], None]] = []
        self.on_frame: list[Callable[[Frame], None]] = []
        self._requester = requester
        self._queries: dict[int, QueryDone] = {}
        self._arrays: dict[int, np.ndarray] = {}
        self._req = itertools.count(1)

    # -- reading ------------------------------------------------------------------------
    def stream(self, tag: str) -> Stream | None:
        return self.by_tag.get(tag)

    def value(self, tag: str) -> tuple[float, int, int] | None:
        """(latest value, its time in ns, quality) of ``tag``; ``None`` before any sample."""
        s = self.by_tag.get(tag)
        if s is None or s.id >= len(self.current) or self.current.seq[s.id] == 0:
            return None
        c = self.current
        return float(c.latest[s.id]), int(c.t_last[s.id]), int(c.quality[s.id])

    def array(self, tag: str) -> np.ndarray | None:
        """The newest frame of an array stream (e.g. a thermal image), or ``None``."""
        s = self.by_tag.get(tag)
        return self._arrays.get(s.id) if s is not None else None

    @property
    def online(self) -> bool:
        """True when every known source is online (an empty hub counts as online)."""
        return all(s.online for s in self.sources.values())

    # -- fed by the client ----------------------------------------------------------------
    def set_streams(self, streams: list[Stream], sources: list[SourceState] | None) -> None:
        for s in streams:
            self.streams[s.id] = s
            self.by_tag[s.tag] = s
        if sources is not None:
            self.sources = {s.name: s for s in sources}
        for cb in list(self.on_streams):
            cb()

    def set_source(self, source: SourceState) -> None:
        self.sources[source.name] = source
        for cb in list(self.on_streams):
            cb()

    def apply(self, frame: Frame) -> None:
        """Take a frame from the server (merged frames if the application was busy)."""
        self.current.merge(frame)
        for a in frame.arrays:
            self._arrays[a.stream] = a.values
        self.current.take()  # keep only the state; min/max of this frame are in ``frame``
        self.frames += 1
        for cb in list(self.on_frame):
            cb(frame)

    def query(self, tags: Sequence[str], t0_ns: int, t1_ns: int, points: int, done: QueryDone) -> bool:
        """Ask the server for history; ``done`` runs later on the application thread.
        Returns False (and never calls ``done``) when not connected."""
        if self._requester is None:
            return False
        req = next(self._req)
        if not self._requester(req, list(tags), int(t0_ns), int(t1_ns), int(points)):
            return False
        self._queries[req] = done
        return True

    def answer(self, req: int, result: dict[str, History] | str) -> None:
        done = self._queries.pop(req, None)
        if done is not None:
            done(result)

    def disconnected(self) -> None:
        """The link is gone: every value is now offline until frames arrive again; pending
        queries fail."""
        ids = np.flatnonzero(self.current.seq > 0).astype(np.uint32)
        self.current.set_quality(ids, OFFLINE)
        if len(ids):
            self.apply(self.current.take())
        for req in list(self._queries):
            self.answer(req, "disconnected from the server")


__all__ = ["GOOD", "History", "SensorFeed", "SourceState"]

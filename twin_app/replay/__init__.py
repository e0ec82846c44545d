"""Replay: a recorded room (its log) as another source of ops for a ``Document``.

Headless — no Qt, VTK or network imports here except ``twin_app.replay.remote`` (ZeroMQ,
loaded only when used). The pieces:

* ``model``  — what a recording looks like from outside: index, participants, marks,
  presence and sensor values at a moment, one fetch (keyframe + ops);
* ``marks``  — which ops are timeline events (alarms, comments, guidance steps);
* ``files``  — a recording read straight from a room log file (and the sensor log);
* ``remote`` — the same, asked of a server over the wire (``REPLAY_*`` messages);
* ``engine`` — ``Replay``: seek by one keyframe plus a short tail, play forward, compare.
"""

from twin_app.replay.engine import Replay
from twin_app.replay.model import (
    Fetch,
    Index,
    Mark,
    Participant,
    PresenceState,
    Recording,
    RoomInfo,
    Sample,
    SessionSpan,
)

__all__ = [
    "Fetch", "Index", "Mark", "Participant", "PresenceState", "Recording", "Replay",
    "RoomInfo", "Sample", "SessionSpan",
]

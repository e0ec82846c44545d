"""The sensor lane on the server: sources feed one hub, which records and fans out.

``Source`` is anything that produces samples — the built-in simulator, an MQTT or OPC UA
bridge, a CSV/Parquet replay. Each runs on its own thread(s), started with a ``Sink`` it
pushes columnar batches into; a sink never blocks (the hub drops and counts when it is
overwhelmed rather than stall a broker's network loop). A source reports its online state
through the sink so clients can show "source offline" instead of old values that look live.

The hub (``sync_server.sensors.hub``) is the sink inside a server process. A bridge
process (``twin-sync bridge``) gives its sources a sink that sends ``SENSOR_PUSH`` messages
to a server instead, so several bridge processes (e.g. MQTT shared subscriptions) can feed
one server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Tags = Sequence[str]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


class Sink(Protocol):
    """Where a source delivers samples. Thread-safe; never blocks."""

    def push(self, tags: Tags, idx: U32, t_ns: I64, values: F64, quality: U8,
             units: Sequence[str] | None = None) -> None:
        """Scalar samples: sample ``i`` is of stream ``tags[idx[i]]`` at ``t_ns[i]``
        (ns since the Unix epoch). ``quality`` uses ``twin_app.core.sensors`` codes.
        ``units`` (parallel to ``tags``) names each tag's unit when the source knows it."""

    def push_array(self, tag: str, t_ns: int, values: npt.NDArray[np.float32], quality: int) -> None:
        """One frame of an array stream (rows × columns, e.g. a thermal image)."""

    def source_status(self, name: str, online: bool, detail: str = "") -> None:
        """The source ``name`` is (not) delivering: e.g. broker unreachable, device dead."""


class Source(Protocol):
    """A producer of samples (see the module docstring)."""

    name: str

    def start(self, sink: Sink) -> None:
        """Begin delivering into ``sink``; returns at once."""

    def stop(self) -> None:
        """Stop and release everything; returns when the source's threads have ended."""

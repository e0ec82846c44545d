"""Export a recording (or a time range of it) to MCAP, for Foxglove, Lichtblick and the
``mcap`` tools.

Channels (message encoding ``json``, each with a JSON Schema; log time = server time):

=========================  =====================================================================
topic                      one message per
=========================  =====================================================================
``/twinroom/ops``          sequenced op: ``seq``, ``client_id``, ``author``, ``op`` (wire form, docs/protocol.md §5)
``/twinroom/sensors``      recorded sensor sample: ``tag``, ``value`` (NaN → null), ``quality``
``/twinroom/alarms``       alarm event: ``kind`` (``alarm_raise``/``_level``/``_ack``/``_clear``/``_end``), ``alarm``, ``label``, ``seq``, ``client_id``
``/twinroom/events``       comment, guidance step, join or leave: ``kind``, ``node``, ``label``, ``client_id``
``/twinroom/presence``     presence sample: ``session``, ``client_id``, ``event``, ``name``, ``color``, ``camera``, ``selection``
=========================  =====================================================================

A sensor tag's samples also go to ``/twinroom/sensors/<tag>`` (``value``, ``quality``) so
a plot panel can pick one tag. Sensor samples are those of the tags bound by a sensor node
at the start or the end of the range.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
from mcap.writer import CompressionType, Writer

from twin_app.replay.engine import Replay
from twin_app.replay.files import FileRecording

SCHEMAS: dict[str, dict[str, Any]] = {
    "/twinroom/ops": {"type": "object", "properties": {
        "seq": {"type": "integer"}, "client_id": {"type": "string"}, "author": {"type": "string"},
        "op": {"type": "array"}}},
    "/twinroom/sensors": {"type": "object", "properties": {
        "tag": {"type": "string"}, "value": {"type": ["number", "null"]}, "quality": {"type": "integer"}}},
    "/twinroom/alarms": {"type": "object", "properties": {
        "kind": {"type": "string"}, "alarm": {"type": "string"}, "label": {"type": "string"},
        "seq": {"type": "integer"}, "client_id": {"type": "string"}}},
    "/twinroom/events": {"type": "object", "properties": {
        "kind": {"type": "string"}, "node": {"type": "string"}, "label": {"type": "string"},
        "client_id": {"type": "string"}}},
    "/twinroom/presence": {"type": "object", "properties": {
        "session": {"type": "string"}, "client_id": {"type": "string"}, "event": {"type": "string"},
        "name": {"type": ["string", "null"]}, "color": {"type": ["array", "null"]},
        "camera": {"type": ["array", "null"]}, "selection": {"type": ["array", "null"]}}},
}
TAG_SCHEMA = {"type": "object", "properties": {"value": {"type": ["number", "null"]}, "quality": {"type": "integer"}}}


@dataclass
class ExportStats:
    """Messages written per topic family and the time range covered."""

    counts: dict[str, int]
    t0: int
    t1: int


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def export_mcap(rec: FileRecording, out: Path, t0: int | None = None, t1: int | None = None,
                progress: Callable[[str], None] | None = None) -> ExportStats:
    """Write ``rec`` between ``t0`` and ``t1`` (ns; default: all of it) to ``out``."""
    index = rec.index()
    lo = index.t0 if t0 is None else t0
    hi = index.t1 if t1 is None else t1
    names = {p.client_id: p.name for p in index.participants}
    counts = dict.fromkeys(SCHEMAS, 0)
    db = rec.db
    with out.open("wb") as fh:
        w = Writer(fh, compression=CompressionType.ZSTD)
        w.start(profile="", library="twinroom")
        chan: dict[str, int] = {}
        for topic, schema in SCHEMAS.items():
            sid = w.register_schema(name=topic.rsplit("/", 1)[1], encoding="jsonschema", data=_json(schema))
            chan[topic] = w.register_channel(topic=topic, message_encoding="json", schema_id=sid,
                                             metadata={"room": rec.room})
        seqs = {topic: 0 for topic in SCHEMAS}

        def put(topic: str, t: int, msg: dict[str, Any], channel: int | None = None) -> None:
            seqs[topic] += 1
            counts[topic] += 1
            w.add_message(channel if channel is not None else chan[topic], log_time=t, data=_json(msg),
                          publish_time=t, sequence=seqs[topic])

        for seq, t, cid, blob in db.execute(
                "SELECT seq, t_ns, client_id, op FROM ops WHERE t_ns BETWEEN ? AND ? ORDER BY seq", (lo, hi)):
            put("/twinroom/ops", t, {"seq": seq, "client_id": cid, "author": names.get(cid, cid),
                                     "op": msgpack.unpackb(blob, raw=False)})
        for m in index.marks:
            if not lo <= m.t_ns <= hi:
                continue
            if m.kind.startswith("alarm"):
                put("/twinroom/alarms", m.t_ns, {"kind": m.kind, "alarm": m.node, "label": m.label,
                                                 "seq": m.seq, "client_id": m.client_id})
            else:
                put("/twinroom/events", m.t_ns, {"kind": m.kind, "node": m.node, "label": m.label,
                                                 "client_id": m.client_id})
        for t, session, cid, event, data in db.execute(
                "SELECT t_ns, session, client_id, event, data FROM presence WHERE t_ns BETWEEN ? AND ? "
                "ORDER BY t_ns", (lo, hi)):
            d = msgpack.unpackb(data, raw=False)
            put("/twinroom/presence", t, {"session": session, "client_id": cid, "event": event,
                                          "name": d.get("name"), "color": d.get("color"),
                                          "camera": d.get("camera"), "selection": d.get("selection")})
        replay = Replay(rec, bins=1)
        tags: set[str] = set()
        for at in (lo, hi):
            replay.seek(at)
            tags.update(replay.tags)
        tag_schema = w.register_schema(name="sample", encoding="jsonschema", data=_json(TAG_SCHEMA))
        for tag in sorted(tags):
            tc = w.register_channel(topic=f"/twinroom/sensors/{tag}", message_encoding="json",
                                    schema_id=tag_schema, metadata={"room": rec.room, "tag": tag})
            ts, vs, qs = rec.sensors.series(tag, lo, hi)
            for t, v, q in zip(ts.tolist(), vs.tolist(), qs.tolist(), strict=True):
                value = None if not math.isfinite(v) else v
                put("/twinroom/sensors", t, {"tag": tag, "value": value, "quality": q})
                w.add_message(tc, log_time=t, data=_json({"value": value, "quality": q}), publish_time=t)
            if progress:
                progress(f"{tag}: {len(ts)} samples")
        w.finish()
    return ExportStats(counts, lo, hi)

"""Sparkplug B as a host application sees it: births, deaths, aliases and sequence numbers.

Topics are ``spBv1.0/<group>/<TYPE>/<edge node>[/<device>]``; payloads are the Sparkplug B
protobuf (``sync_server/sensors/proto``, generated from the specification's schema).
``SparkplugHost`` is the state machine, independent of the MQTT client so it can be
driven by any transport:

* ``NBIRTH``/``DBIRTH`` define the node's or device's metrics: name, alias, datatype (and
  carry current values). Later ``NDATA``/``DDATA`` may name metrics by alias only.
* ``NDEATH`` (the node's MQTT will, matched by ``bdSeq`` so a late will of an earlier
  session is ignored), ``DDEATH`` and the loss of the broker connection mark every stream
  of that node/device ``OFFLINE`` (a NaN sample), so a client never shows an old value as
  live.
* Every message of an edge node after its ``NBIRTH`` carries ``seq`` (0–255, wrapping).
  A gap — or data from a node or device whose birth we never saw — means we missed
  something: we ask the node to publish its births again (``NCMD`` with
  ``Node Control/Rebirth``, at most every ``REBIRTH_EVERY`` seconds) and mark its samples
  ``UNCERTAIN`` until the new ``NBIRTH`` arrives.

A stream's tag is ``<group>/<node>/<metric>`` for node metrics and
``<group>/<node>/<device>/<metric>`` for device metrics; the mapping file renames them.
Numeric metrics (integers, floats, booleans as 0/1) become samples; other datatypes
(strings, datasets, templates …) are skipped, logged once per metric.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from sync_server.sensors.proto import sparkplug_b_pb2 as pb
from twin_app.core.sensors import BAD, GOOD, OFFLINE, UNCERTAIN

log = logging.getLogger(__name__)

NAMESPACE = "spBv1.0"
REBIRTH_METRIC = "Node Control/Rebirth"
BDSEQ_METRIC = "bdSeq"
REBIRTH_EVERY = 5.0

# Datatype numbers (the schema's DataType enum).
INT8, INT16, INT32, INT64 = 1, 2, 3, 4
UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME = 9, 10, 11, 12, 13
_SIGNED32 = (INT8, INT16, INT32)

Emit = Callable[[str, int, float, int], None]  # tag, t_ns, value, quality
Publish = Callable[[str, bytes], None]  # topic, payload


@dataclass
class _Metrics:
    """What a birth defined: alias → name, name → datatype, and the tags seen."""

    born: bool = False
    aliases: dict[int, str] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)

    def define(self, metrics: list[pb.Payload.Metric]) -> None:
        self.aliases.clear()
        self.types.clear()
        for m in metrics:
            if not m.HasField("name"):
                continue
            if m.HasField("alias"):
                self.aliases[m.alias] = m.name
            if m.HasField("datatype"):
                self.types[m.name] = m.datatype
        self.born = True


@dataclass
class _Node(_Metrics):
    bdseq: int | None = None
    seq: int | None = None
    uncertain: bool = False
    rebirth_at: float = -math.inf
    devices: dict[str, _Metrics] = field(default_factory=dict)


def metric_value(m: pb.Payload.Metric, datatype: int) -> float | None:
    """The metric's value as a float (NaN if null), or ``None`` if it is not numeric."""
    if m.is_null:
        return math.nan
    if datatype == DATETIME:
        return None  # a point in time, not a measurement
    which = m.WhichOneof("value")
    if which == "int_value":
        v = m.int_value
        if datatype in _SIGNED32 and v >= 1 << 31:
            v -= 1 << 32  # two's complement in a uint32
        return float(v)
    if which == "long_value":
        v = m.long_value
        if datatype == INT64 and v >= 1 << 63:
            v -= 1 << 64
        return float(v)
    if which == "float_value":
        return float(m.float_value)
    if which == "double_value":
        return float(m.double_value)
    if which == "boolean_value":
        return 1.0 if m.boolean_value else 0.0
    return None


def rebirth_request(now_ms: int) -> bytes:
    """The ``NCMD`` payload asking an edge node to publish its births again."""
    p = pb.Payload(timestamp=now_ms)
    m = p.metrics.add()
    m.name = REBIRTH_METRIC
    m.timestamp = now_ms
    m.datatype = BOOLEAN
    m.boolean_value = True
    return p.SerializeToString()


class SparkplugHost:
    """The host-application state of one MQTT connection (see the module docstring)."""

    def __init__(self, emit: Emit, publish: Publish, source: str = "sparkplug",
                 clock: Callable[[], int] = time.time_ns,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.emit = emit
        self.publish = publish
        self.source = source
        self.clock = clock
        self.monotonic = monotonic
        self.nodes: dict[tuple[str, str], _Node] = {}
        self.last_t: dict[str, int] = {}
        self.counts = {"messages": 0, "garbage": 0, "gaps": 0, "rebirths": 0, "unknown": 0,
                       "stale_deaths": 0, "skipped": 0}
        self._logged: set[str] = set()

    # -- internals -------------------------------------------------------------------------
    def _once(self, key: str, msg: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning("%s: " + msg, self.source, *args)

    def _sample(self, tag: str, t_ns: int, value: float, quality: int) -> None:
        prev = self.last_t.get(tag)
        if prev is None or t_ns > prev:
            self.last_t[tag] = t_ns
        self.emit(tag, t_ns, value, quality)

    def _mark_offline(self, tags: set[str]) -> None:
        now = self.clock()
        for tag in sorted(tags):
            # Just after the stream's newest sample, not at our clock's now: an edge node
            # whose clock runs behind ours would otherwise see its next samples dropped
            # by the hub as older than the offline mark.
            last = self.last_t.get(tag)
            self._sample(tag, now if last is None else last + 1, math.nan, OFFLINE)

    def _request_rebirth(self, group: str, node_id: str, node: _Node, why: str) -> None:
        node.uncertain = True
        now = self.monotonic()
        if now - node.rebirth_at < REBIRTH_EVERY:
            return
        node.rebirth_at = now
        self.counts["rebirths"] += 1
        log.info("%s: asking %s/%s to rebirth: %s", self.source, group, node_id, why)
        self.publish(f"{NAMESPACE}/{group}/NCMD/{node_id}", rebirth_request(self.clock() // 1_000_000))

    def _check_seq(self, group: str, node_id: str, node: _Node, payload: pb.Payload) -> None:
        seq = payload.seq if payload.HasField("seq") else None
        if node.seq is not None and seq is not None and seq != (node.seq + 1) % 256:
            self.counts["gaps"] += 1
            self._request_rebirth(group, node_id, node,
                                  f"sequence gap (expected {(node.seq + 1) % 256}, got {seq})")
        node.seq = seq

    def _values(self, prefix: str, metrics: _Metrics, payload: pb.Payload, quality: int) -> None:
        t_default = payload.timestamp * 1_000_000 if payload.HasField("timestamp") else self.clock()
        for m in payload.metrics:
            if m.HasField("name"):
                name = m.name
            elif m.HasField("alias") and m.alias in metrics.aliases:
                name = metrics.aliases[m.alias]
            else:
                self.counts["unknown"] += 1
                self._once(f"alias:{prefix}:{m.alias}", "%s: metric alias %d was not defined by a birth",
                           prefix, m.alias)
                continue
            if name == BDSEQ_METRIC or name.startswith(("Node Control/", "Device Control/")):
                continue
            dt = m.datatype if m.HasField("datatype") else metrics.types.get(name, 0)
            value = metric_value(m, dt)
            if value is None:
                self.counts["skipped"] += 1
                self._once(f"type:{prefix}/{name}", "%s/%s is not numeric (datatype %d); skipped",
                           prefix, name, dt)
                continue
            tag = f"{prefix}/{name}"
            metrics.tags.add(tag)
            t = m.timestamp * 1_000_000 if m.HasField("timestamp") else t_default
            q = BAD if m.is_null else quality
            self._sample(tag, t, value, q)

    # -- entry points ----------------------------------------------------------------------
    def handle(self, topic: str, data: bytes) -> None:
        """One MQTT message on a ``spBv1.0/…`` topic. Never raises on bad input."""
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != NAMESPACE or parts[1] == "STATE":
            return
        group, mtype, node_id = parts[1], parts[2], parts[3]
        device = "/".join(parts[4:]) if len(parts) > 4 else None
        if mtype in ("NCMD", "DCMD"):
            return
        try:
            payload = pb.Payload.FromString(data)
        except (DecodeError, ValueError) as exc:
            self.counts["garbage"] += 1
            self._once(f"garbage:{topic}", "undecodable Sparkplug payload on %s (%s); "
                       "further ones on this topic are counted, not logged", topic, exc)
            return
        self.counts["messages"] += 1
        key = (group, node_id)
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = _Node()
        prefix = f"{group}/{node_id}"
        if mtype == "NBIRTH":
            for m in payload.metrics:
                if m.name == BDSEQ_METRIC:
                    v = metric_value(m, m.datatype or UINT64)
                    node.bdseq = int(v) if v is not None and math.isfinite(v) else None
            node.define(list(payload.metrics))
            for dev in node.devices.values():
                dev.born = False  # devices are reborn after their node
            node.seq = payload.seq if payload.HasField("seq") else 0
            node.uncertain = False
            node.rebirth_at = -math.inf
            self._values(prefix, node, payload, GOOD)
        elif mtype == "NDEATH":
            bdseq = None
            for m in payload.metrics:
                if m.name == BDSEQ_METRIC:
                    v = metric_value(m, m.datatype or UINT64)
                    bdseq = int(v) if v is not None and math.isfinite(v) else None
            if bdseq is not None and node.bdseq is not None and bdseq != node.bdseq:
                self.counts["stale_deaths"] += 1
                log.info("%s: ignored a death certificate of an earlier session of %s (bdSeq %d, now %d)",
                         self.source, prefix, bdseq, node.bdseq)
                return
            node.born = False
            node.seq = None
            tags = set(node.tags)
            for dev in node.devices.values():
                dev.born = False
                tags |= dev.tags
            self._mark_offline(tags)
        elif mtype == "NDATA":
            if not node.born:
                self.counts["unknown"] += 1
                self._request_rebirth(group, node_id, node, "data before its birth certificate")
                return
            self._check_seq(group, node_id, node, payload)
            self._values(prefix, node, payload, UNCERTAIN if node.uncertain else GOOD)
        elif mtype in ("DBIRTH", "DDEATH", "DDATA") and device:
            dev = node.devices.setdefault(device, _Metrics())
            dprefix = f"{prefix}/{device}"
            if not node.born:
                self.counts["unknown"] += 1
                self._request_rebirth(group, node_id, node, f"{mtype} of {device} before the node's birth")
                return
            self._check_seq(group, node_id, node, payload)
            if mtype == "DBIRTH":
                dev.define(list(payload.metrics))
                self._values(dprefix, dev, payload, UNCERTAIN if node.uncertain else GOOD)
            elif mtype == "DDEATH":
                dev.born = False
                self._mark_offline(set(dev.tags))
            elif not dev.born:
                self.counts["unknown"] += 1
                self._request_rebirth(group, node_id, node, f"data of {device} before its birth")
            else:
                self._values(dprefix, dev, payload, UNCERTAIN if node.uncertain else GOOD)
        else:
            self.counts["garbage"] += 1
            self._once(f"type:{topic}", "unknown Sparkplug message type on %s", topic)

    def connection_lost(self) -> None:
        """The broker is gone: every stream we know of is offline until data flows again."""
        tags: set[str] = set()
        for node in self.nodes.values():
            tags |= node.tags
            for dev in node.devices.values():
                tags |= dev.tags
        self._mark_offline(tags)

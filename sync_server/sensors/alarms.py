"""Alarm transitions from the hub → document ops the server sequences like any edit.

An alarm is a node of kind ``alarm`` under the root (clients hide them from the scene
tree), so raising, escalating, acknowledging and clearing one is synced to every client,
recorded in the room log and replayed with everything else. Its properties:

``sensor`` (the sensor node id), ``tag``, ``level`` (1 warning, 2 alarm), ``reason``
(``high``, ``low``, ``stale``), ``state`` (``active`` or ``cleared``), ``value``,
``threshold``, ``raised_t`` and ``cleared_t`` (ns since the epoch) and, once someone
acknowledges it, ``ack_by``, ``ack_t``, ``ack_comment`` (the only fields clients may set).

One alarm per sensor and class (limit or stale). The lifecycle follows ISA-18.2: an alarm
that returns to normal stays listed until acknowledged; one that is acknowledged and has
returned to normal is removed; escalating from warning to alarm needs a new
acknowledgement; a cleared but unacknowledged alarm that trips again becomes active again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sync_server.sensors.hub import Transition
from twin_app.core.document import Document, Node
from twin_app.core.fracindex import key_between
from twin_app.core.ids import ROOT_ID, new_id
from twin_app.core.ops import AddNode, Op, RemoveNode, SetField
from twin_app.core.sensors import LEVEL_NAMES

SERVER_CID = "server"


def _klass(reason: str) -> str:
    return "stale" if reason == "stale" else "limit"


def alarms_of(doc: Document) -> dict[tuple[str, str], Node]:
    """The room's alarm nodes by (sensor node id, class)."""
    out: dict[tuple[str, str], Node] = {}
    for nid in doc.children(ROOT_ID):
        n = doc.nodes[nid]
        if n.kind == "alarm":
            sensor, reason = n.props.get("sensor"), n.props.get("reason")
            if isinstance(sensor, str) and isinstance(reason, str):
                out[(sensor, _klass(reason))] = n
    return out


def _num(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def alarm_ops(doc: Document, transitions: Iterable[Transition]) -> list[Op]:
    """The ops that bring the room's alarm nodes in line with ``transitions``."""
    existing = alarms_of(doc)
    ops: list[Op] = []
    last_order = None
    kids = doc.children(ROOT_ID)
    if kids:
        last_order = doc.nodes[kids[-1]].order
    for tr in transitions:
        sensor = doc.get(tr.sensor)
        if sensor is None:
            continue
        key = (tr.sensor, _klass(tr.reason))
        node = existing.get(key)
        acked = node is not None and bool(node.props.get("ack_by"))
        if tr.level > 0:
            fields: dict[str, object] = {
                "level": tr.level, "reason": tr.reason, "value": _num(tr.value),
                "threshold": _num(tr.threshold), "state": "active",
            }
            if node is None:
                last_order = key_between(last_order, None)
                props = dict(fields, sensor=tr.sensor, tag=tr.tag, raised_t=tr.t_ns)
                name = f"{sensor.name or tr.tag}: {LEVEL_NAMES[tr.level]} ({tr.reason})"
                ops.append(AddNode(Node(new_id(), ROOT_ID, last_order, "alarm", name, props=props)))  # type: ignore[arg-type]
                continue
            old_level = node.props.get("level")
            for k, v in fields.items():
                if node.props.get(k) != v:
                    ops.append(SetField(node.id, f"prop:{k}", v))
            if node.props.get("state") == "cleared":
                ops.append(SetField(node.id, "prop:raised_t", tr.t_ns))
            if acked and isinstance(old_level, int) and tr.level > old_level:
                ops += [SetField(node.id, f"prop:{k}", None) for k in ("ack_by", "ack_t", "ack_comment")]
            ops.append(SetField(node.id, "name", f"{sensor.name or tr.tag}: {LEVEL_NAMES[tr.level]} ({tr.reason})"))
        elif node is not None and node.props.get("state") == "active":
            if acked:
                ops.append(RemoveNode(node.id))
            else:
                ops += [SetField(node.id, "prop:state", "cleared"), SetField(node.id, "prop:cleared_t", tr.t_ns)]
    return ops


def sweep_ops(doc: Document) -> list[Op]:
    """Remove alarms that are cleared and acknowledged, or whose sensor is gone."""
    ops: list[Op] = []
    for (sensor, _k), node in alarms_of(doc).items():
        gone = sensor not in doc or doc.nodes[sensor].kind != "sensor"
        done = node.props.get("state") == "cleared" and bool(node.props.get("ack_by"))
        if gone or done:
            ops.append(RemoveNode(node.id))
    return ops

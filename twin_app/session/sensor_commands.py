"""Sensor edits as ordinary commands: bind, set thresholds, inject a fault, acknowledge.

Each function returns ``(op, label)`` (or ``None`` when nothing would change), for the
window's ``dispatch``: the edit is undoable and synced like any other. Binding adds a
``sensor`` node under the part, with ``bound_to`` set to it; alarms are acknowledged by
setting the three ``ack_*`` properties people may set on a server-owned alarm node.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from twin_app.core.document import Document, Node, PropValue
from twin_app.core.ids import new_id
from twin_app.core.ops import AddNode, Batch, Op, SetField
from twin_app.session.commands import Command, display_name, order_at_end

# Sensor properties the bind/edit form sets; numbers may be None (= no threshold).
NUMERIC = ("range_min", "range_max", "warn_low", "alarm_low", "warn_high", "alarm_high",
           "hysteresis", "stale_s")
TEXT = ("tag", "unit", "sensor_type", "display", "colormap", "fault_hz")
FAULTS = ("", "bearing", "overheat", "dropout")


def _clean(props: Mapping[str, PropValue | None]) -> dict[str, PropValue | None]:
    out: dict[str, PropValue | None] = {}
    for key, value in props.items():
        if key in NUMERIC:
            if value is None or value == "":
                out[key] = None
            elif isinstance(value, int | float) and not isinstance(value, bool) \
                    and math.isfinite(float(value)):
                out[key] = float(value)
            else:
                raise ValueError(f"{key.replace('_', ' ')} must be a number")
        elif key in TEXT:
            out[key] = None if value in (None, "") else str(value)
        else:
            out[key] = value
    lo, hi = out.get("range_min"), out.get("range_max")
    if isinstance(lo, float) and isinstance(hi, float) and hi <= lo:
        raise ValueError("the range's maximum must be above its minimum")
    wl, al, wh, ah = (out.get(k) for k in ("warn_low", "alarm_low", "warn_high", "alarm_high"))
    if isinstance(wh, float) and isinstance(ah, float) and ah < wh:
        raise ValueError("the high alarm must be at or above the high warning")
    if isinstance(wl, float) and isinstance(al, float) and al > wl:
        raise ValueError("the low alarm must be at or below the low warning")
    return out


def bind_sensor(doc: Document, part: str, name: str, props: Mapping[str, PropValue | None]
                ) -> tuple[Op, str, str]:
    """A new sensor node under ``part``, bound to it: ``(op, label, sensor id)``.

    Raises ``ValueError`` (words for the person) if the part is gone, the tag is missing or
    the numbers do not make sense."""
    if part not in doc.nodes:
        raise ValueError("the part is no longer in the room")
    clean = _clean(props)
    tag = clean.get("tag")
    if not isinstance(tag, str) or not tag.strip():
        raise ValueError("choose the measurement (tag) to show")
    clean["bound_to"] = part
    sid = new_id()
    node = Node(sid, part, order_at_end(doc, part), kind="sensor",
                name=name.strip() or tag,
                props={k: v for k, v in clean.items() if v is not None})
    return AddNode(node), f"Bind {node.name} to {display_name(doc, part)}", sid


def edit_sensor(doc: Document, sensor: str, props: Mapping[str, PropValue | None],
                name: str | None = None) -> Command | None:
    """Set the changed properties of a sensor (``None`` removes one); ``None`` if nothing
    changes. Raises ``ValueError`` like ``bind_sensor``."""
    node = doc.nodes.get(sensor)
    if node is None:
        raise ValueError("the sensor is no longer in the room")
    clean = _clean(props)
    ops: list[Op] = [SetField(sensor, f"prop:{k}", v) for k, v in clean.items()
                     if node.props.get(k) != v]
    if name is not None and name.strip() and name.strip() != node.name:
        ops.append(SetField(sensor, "name", name.strip()))
    if not ops:
        return None
    op = ops[0] if len(ops) == 1 else Batch(tuple(ops))
    return op, f"Edit sensor {node.name or sensor}"


def set_fault(doc: Document, sensor: str, fault: str) -> Command | None:
    """Ask the simulator to inject ``fault`` on a sensor (``""`` clears it)."""
    node = doc.nodes.get(sensor)
    if node is None or fault not in FAULTS or node.props.get("sim_fault", "") == fault:
        return None
    label = (f"Inject {fault} fault on {node.name}" if fault
             else f"Clear simulated fault on {node.name}")
    return SetField(sensor, "prop:sim_fault", fault or None), label


def acknowledge(doc: Document, alarm: str, who: str, comment: str, t_ns: int) -> Command | None:
    """Acknowledge an alarm by ``who`` with ``comment``; ``None`` if it is gone or already
    acknowledged."""
    node = doc.nodes.get(alarm)
    if node is None or node.kind != "alarm" or node.props.get("ack_by"):
        return None
    ops: list[Op] = [SetField(alarm, "prop:ack_by", who or "someone"),
                     SetField(alarm, "prop:ack_t", int(t_ns))]
    if comment.strip():
        ops.append(SetField(alarm, "prop:ack_comment", comment.strip()))
    return Batch(tuple(ops)), f"Acknowledge alarm on {alarm_subject(doc, alarm)}"


def alarm_subject(doc: Document, alarm: str) -> str:
    """What an alarm is about, for people: the sensor's name (else its tag)."""
    node = doc.nodes.get(alarm)
    if node is None:
        return alarm
    sensor = node.props.get("sensor")
    if isinstance(sensor, str) and sensor in doc.nodes:
        return display_name(doc, sensor)
    tag = node.props.get("tag")
    return str(tag) if tag else alarm


__all__ = ["FAULTS", "acknowledge", "alarm_subject", "bind_sensor", "edit_sensor", "set_fault"]

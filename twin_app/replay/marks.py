"""Which ops are timeline events: alarms, comments and guidance steps.

``classify(kind_of, op)`` looks at one sequenced op with the document as it was *before*
the op (``kind_of(node_id)`` gives a node's kind, or ``None``) and returns the events it
makes, as ``(kind, node id, label)``:

* ``alarm_raise`` — the server adds an ``alarm`` node; ``alarm_level`` — it escalates
  (``prop:level``); ``alarm_ack`` — someone sets ``prop:ack_by``; ``alarm_clear`` —
  ``prop:state`` becomes ``cleared``; ``alarm_end`` — the alarm node is removed;
* ``comment`` — a ``comment`` node is added or resolved;
* ``step`` — a ``step`` node is added or one of its fields changes (guidance progress).

Kinds added earlier in the same batch are tracked by the caller through ``added``.
"""

from __future__ import annotations

from collections.abc import Callable

from twin_app.core.ops import AddNode, Batch, Op, RemoveNode, SetField

Event = tuple[str, str, str]  # (kind, node id, label)
KindOf = Callable[[str], str | None]


def _text(v: object, limit: int = 80) -> str:
    s = str(v)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def classify(kind_of: KindOf, op: Op, added: dict[str, str] | None = None) -> list[Event]:
    """The timeline events of ``op`` (see the module docstring); never raises."""
    out: list[Event] = []
    local = added if added is not None else {}
    _classify(kind_of, op, local, out)
    return out


def _classify(kind_of: KindOf, op: Op, added: dict[str, str], out: list[Event]) -> None:
    if isinstance(op, Batch):
        for sub in op.ops:
            _classify(kind_of, sub, added, out)
        return
    if isinstance(op, AddNode):
        node = op.node
        if node.kind in ("alarm", "comment", "step"):
            added[node.id] = node.kind
            kind = {"alarm": "alarm_raise", "comment": "comment", "step": "step"}[node.kind]
            label = node.name or _text(node.props.get("text", node.kind))
            out.append((kind, node.id, _text(label)))
        return
    if isinstance(op, RemoveNode):
        if (added.get(op.id) or kind_of(op.id)) == "alarm":
            out.append(("alarm_end", op.id, "alarm removed"))
        return
    if isinstance(op, SetField):
        of = added.get(op.id) or kind_of(op.id)
        if of == "alarm":
            if op.field == "prop:ack_by" and op.value:
                out.append(("alarm_ack", op.id, _text(f"acknowledged by {op.value}")))
            elif op.field == "prop:state" and op.value == "cleared":
                out.append(("alarm_clear", op.id, "cleared"))
            elif op.field == "prop:level" and op.value:
                out.append(("alarm_level", op.id, _text(f"level {op.value}")))
        elif of == "comment" and op.field == "prop:resolved" and op.value:
            out.append(("comment", op.id, "resolved"))
        elif of == "step":
            out.append(("step", op.id, _text(f"{op.field.removeprefix('prop:')} = {op.value}")))

"""Roles and what each may do. The server enforces this on every submitted op; clients use
the same function to grey out what the user may not do.

* ``owner``, ``designer``: every op.
* ``instructor``, ``operator``: only ops on annotation-like nodes (comments, markups,
  guidance steps) — they mark up the model but do not change the plant. Removing or
  moving a node carries its subtree along, so every node in it must be annotation-like.
* ``viewer``: nothing (presence only).
* ``source``: a sensor bridge: may push samples on the sensor lane, may not edit.

Alarms (nodes of kind ``alarm``) are raised, cleared and removed by the server's alarm
engine only. People acknowledge them by setting their ``ack_*`` properties, which every
role that may edit annotations may do.
"""

from __future__ import annotations

from twin_app.core.document import Document
from twin_app.core.ops import AddNode, Batch, Op, RemoveNode, Reparent, SetField, iter_primitive

ROLES = ("owner", "designer", "instructor", "operator", "viewer", "source")
EDIT_ALL = frozenset({"owner", "designer"})
EDIT_ANNOTATIONS = frozenset({"instructor", "operator"})
PUSH_SENSORS = frozenset({"owner", "source"})
ANNOTATION_KINDS = frozenset({"annotation", "comment", "markup", "step", "alarm"})
SERVER_KINDS = frozenset({"alarm"})
ACK_FIELDS = frozenset({"prop:ack_by", "prop:ack_t", "prop:ack_comment"})


def refusal(role: str, op: Op, doc: Document) -> str | None:
    """Return why ``role`` may not apply ``op`` to ``doc``, or ``None`` if it may."""
    if role not in EDIT_ALL and role not in EDIT_ANNOTATIONS:
        return f"the {role} role cannot edit"
    why = _server_only(op, doc)
    if why:
        return why
    if role in EDIT_ALL:
        return None
    for sub in op.ops if isinstance(op, Batch) else (op,):
        why = refusal(role, sub, doc) if isinstance(sub, Batch) else _annotation_only(sub, doc)
        if why:
            return why
    return None


def _annotation_only(op: Op, doc: Document) -> str | None:
    if isinstance(op, AddNode):
        kinds = [op.node.kind]
    else:
        assert isinstance(op, (RemoveNode, Reparent, SetField))
        if op.id not in doc:
            return None  # a missing node fails validation anyway
        # Removing or moving a comment also removes or moves whatever hangs under it.
        ids = [op.id] if isinstance(op, SetField) else doc.subtree(op.id)
        kinds = [doc.nodes[nid].kind for nid in ids]
    if any(kind not in ANNOTATION_KINDS for kind in kinds):
        return "this role may only add or edit comments, markups and steps"
    return None


def _server_only(op: Op, doc: Document) -> str | None:
    """Refuse what only the server may do to alarms: everything but acknowledging them."""
    for sub in iter_primitive(op):
        if isinstance(sub, AddNode):
            bad = sub.node.kind in SERVER_KINDS
        elif isinstance(sub, SetField):
            node = doc.get(sub.id)
            bad = node is not None and node.kind in SERVER_KINDS and sub.field not in ACK_FIELDS
        else:
            assert isinstance(sub, (RemoveNode, Reparent))
            node = doc.get(sub.id)
            bad = node is not None and node.kind in SERVER_KINDS
        if bad:
            return "alarms are raised and cleared by the server; you can only acknowledge them"
    return None

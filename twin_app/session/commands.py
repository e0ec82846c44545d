"""Edit commands: build the ops (and their undo labels) for what the user asked.

Every user action in the window — rename, delete, duplicate, group, reparent, move,
recolour, comment — becomes one op (a ``Batch`` when it touches several nodes) plus a label
that names it for the Edit menu ("Undo Move Robot 1"). The functions here read the document
and return ``(op, label)`` or ``None`` when there is nothing to do; they never mutate the
document (the client store applies the op). No Qt here: any front end (and replay) uses them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence

from twin_app.core import fracindex
from twin_app.core import xform as tf
from twin_app.core.document import IDENTITY, Document, Node, PropValue
from twin_app.core.ids import ROOT_ID, new_id
from twin_app.core.ops import AddNode, Batch, Op, RemoveNode, Reparent, SetField

COMMENTS_ID = "comments"
Command = tuple[Op, str]


def display_name(doc: Document, node_id: str) -> str:
    """Return the name users see for ``node_id`` (its name, else its id)."""
    node = doc.get(node_id)
    return (node.name or node.id) if node else node_id


def describe(doc: Document, ids: Sequence[str], noun: str = "parts") -> str:
    """Return "Robot 1" for one node, "3 parts" for several."""
    if len(ids) == 1:
        return display_name(doc, ids[0])
    return f"{len(ids)} {noun}"


def _one(ops: list[Op]) -> Op:
    return ops[0] if len(ops) == 1 else Batch(tuple(ops))


def top_level(doc: Document, ids: Iterable[str]) -> list[str]:
    """Return ``ids`` without the ones whose ancestor is also in ``ids`` (or that are gone)."""
    chosen = [i for i in dict.fromkeys(ids) if i in doc and i != ROOT_ID]
    wanted = set(chosen)
    out = []
    for nid in chosen:
        node = doc.get(nid)
        parent = node.parent if node else None
        nested = False
        while parent is not None:
            if parent in wanted:
                nested = True
                break
            p = doc.get(parent)
            parent = p.parent if p else None
        if not nested:
            out.append(nid)
    return out


def order_after(doc: Document, node_id: str) -> str:
    """Return an order key right after ``node_id`` among its siblings."""
    node = doc.nodes[node_id]
    assert node.parent is not None
    keys = doc.child_keys(node.parent)
    idx = keys.index((node.order, node.id))
    nxt = next((k for k, _ in keys[idx + 1:] if k > node.order), None)
    return fracindex.key_between(node.order, nxt)


def order_at_end(doc: Document, parent: str) -> str:
    """Return an order key after the last child of ``parent``."""
    keys = doc.child_keys(parent)
    return fracindex.key_between(keys[-1][0] if keys else None, None)


def rename(doc: Document, node_id: str, name: str) -> Command | None:
    """Rename one node."""
    node = doc.get(node_id)
    name = name.strip()
    if node is None or not name or node.name == name:
        return None
    return SetField(node_id, "name", name), f"Rename {display_name(doc, node_id)}"


def set_field(doc: Document, ids: Sequence[str], fld: str, value: PropValue | None,
              verb: str) -> Command | None:
    """Set one field to the same value on several nodes (skips nodes that already have it)."""
    ops: list[Op] = []
    for nid in ids:
        node = doc.get(nid)
        if node is not None and node.get(fld) != value:
            ops.append(SetField(nid, fld, value))
    if not ops:
        return None
    return _one(ops), f"{verb} {describe(doc, ids)}"


def parts_under(doc: Document, ids: Iterable[str]) -> list[str]:
    """The parts (nodes with a mesh) in the subtrees of ``ids``, each once, in tree order."""
    out: dict[str, None] = {}
    for i in ids:
        if i in doc:
            out.update((n, None) for n in doc.subtree(i) if doc.nodes[n].mesh is not None)
    return list(out)


def set_color(doc: Document, ids: Sequence[str], value: tuple[float, float, float] | None
              ) -> Command | None:
    """Colour the selection; a group is coloured by colouring every part in it (one edit,
    so one undo). ``None`` goes back to the default colour."""
    parts = parts_under(doc, ids)
    ops: list[Op] = [SetField(n, "color", value) for n in parts if doc.nodes[n].color != value]
    if not ops:
        return None
    label = f"Colour {describe(doc, ids)}"
    if any(doc.nodes[i].mesh is None for i in ids if i in doc):
        label += f" ({len(parts)} part{'s' if len(parts) != 1 else ''})"
    return _one(ops), label


def set_visible(doc: Document, ids: Sequence[str], visible: bool) -> Command | None:
    """Show or hide nodes."""
    return set_field(doc, ids, "visible", visible, "Show" if visible else "Hide")


def set_transforms(doc: Document, values: dict[str, tf.Transform], verb: str = "Move"
                   ) -> Command | None:
    """Set each node's transform; nodes whose transform is unchanged are skipped."""
    ops: list[Op] = []
    for nid, t in values.items():
        node = doc.get(nid)
        if node is not None and tuple(node.transform) != tuple(t):
            ops.append(SetField(nid, "transform", tuple(float(x) for x in t)))
    if not ops:
        return None
    return _one(ops), f"{verb} {describe(doc, list(values))}"


def edit_transform_component(doc: Document, ids: Sequence[str], group: str, axis: int,
                             value: float) -> Command | None:
    """Change one component (``group`` = position/rotation/scale, ``axis`` 0..2) of each node.

    The other components of each node are kept, so editing X of a mixed multi-selection
    moves every node to that X and leaves Y and Z alone.
    """
    out: dict[str, tf.Transform] = {}
    for nid in ids:
        node = doc.get(nid)
        if node is None or node.parent is None:
            continue
        t = list(node.transform)
        if group == "position":
            t[axis] = value
        elif group == "scale":
            if value == 0:
                continue
            t[7 + axis] = value
        else:
            euler = list(tf.quat_to_euler((t[3], t[4], t[5], t[6])))
            if math.isclose(euler[axis], value, abs_tol=1e-9):
                continue
            euler[axis] = value
            t[3:7] = tf.euler_to_quat(*euler)
        out[nid] = tuple(t)
    verb = {"position": "Move", "rotation": "Rotate", "scale": "Scale"}[group]
    return set_transforms(doc, out, verb)


def set_prop(doc: Document, ids: Sequence[str], key: str, value: PropValue | None
             ) -> Command | None:
    """Set (or with ``None`` remove) a user property on several nodes."""
    verb = f"Remove {key} of" if value is None else f"Set {key} of"
    return set_field(doc, ids, f"prop:{key}", value, verb)


def delete(doc: Document, ids: Iterable[str]) -> Command | None:
    """Delete nodes and their subtrees."""
    tops = top_level(doc, ids)
    if not tops:
        return None
    return _one([RemoveNode(nid) for nid in tops]), f"Delete {describe(doc, tops)}"


def _copy_subtree(doc: Document, src: str, parent: str, order: str, *, name: str | None,
                  offset: tuple[float, float, float]) -> list[Op]:
    ops: list[Op] = []
    mapping: dict[str, str] = {}
    for i, nid in enumerate(doc.subtree(src)):
        node = doc.nodes[nid]
        copy = node.copy()
        copy.id = new_id()
        mapping[nid] = copy.id
        if i == 0:
            copy.parent, copy.order = parent, order
            copy.name = name if name is not None else node.name
            t = list(copy.transform)
            t[0:3] = (t[0] + offset[0], t[1] + offset[1], t[2] + offset[2])
            copy.transform = tuple(t)
        else:
            assert node.parent is not None
            copy.parent = mapping[node.parent]
        ops.append(AddNode(copy))
    return ops


def _copy_name(doc: Document, node: Node) -> str:
    siblings = {doc.nodes[c].name for c in doc.children(node.parent or ROOT_ID)}
    base = node.name or node.kind.capitalize()
    stem = base.rstrip("0123456789").rstrip() or base
    n = 2
    while f"{stem} {n}" in siblings:
        n += 1
    return f"{stem} {n}"


def duplicate(doc: Document, ids: Iterable[str]) -> tuple[Op, str, list[str]] | None:
    """Copy nodes (with their subtrees) next to the originals, shifted along X so the copy
    is visible. Returns ``(op, label, new top-level ids)``."""
    tops = top_level(doc, ids)
    if not tops:
        return None
    ops: list[Op] = []
    new_tops: list[str] = []
    for nid in tops:
        node = doc.nodes[nid]
        assert node.parent is not None
        bbox = node.props.get("bbox")
        width = 1.0
        if isinstance(bbox, tuple) and len(bbox) == 6:
            width = max(0.1, (bbox[3] - bbox[0]) * abs(node.transform[7])) + 0.2
        sub = _copy_subtree(doc, nid, node.parent, order_after(doc, nid),
                            name=_copy_name(doc, node), offset=(width, 0.0, 0.0))
        assert isinstance(sub[0], AddNode)
        new_tops.append(sub[0].node.id)
        ops.extend(sub)
    return _one(ops), f"Duplicate {describe(doc, tops)}", new_tops


def reparent(doc: Document, ids: Sequence[str], parent: str, before: str | None = None,
             verb: str = "Move") -> Command | None:
    """Move nodes under ``parent`` (before sibling ``before``, or at the end), keeping each
    one where it is in the world. Moves into the node's own subtree are skipped."""
    if parent not in doc:
        return None
    moving = [n for n in top_level(doc, ids) if not doc.is_ancestor(n, parent)]
    if not moving:
        return None
    siblings = [(k, c) for k, c in doc.child_keys(parent) if c not in moving]
    if before is not None and before in moving:
        before = None
    idx = next((i for i, (_, c) in enumerate(siblings) if c == before), len(siblings))
    lo = siblings[idx - 1][0] if idx > 0 else None
    hi = siblings[idx][0] if idx < len(siblings) else None
    if lo is not None and hi is not None and lo >= hi:
        hi = None  # equal keys (ties broken by id): append after lo instead
    keys = fracindex.keys_between(lo, hi, len(moving))
    ops: list[Op] = []
    for nid, key in zip(moving, keys, strict=True):
        node = doc.nodes[nid]
        ops.append(Reparent(nid, parent, key))
        if node.parent != parent:
            local = tf.reparented(doc, nid, parent)
            if not tf.close(local, node.transform):
                ops.append(SetField(nid, "transform", local))
    target = "the top level" if parent == ROOT_ID else display_name(doc, parent)
    return _one(ops), f"{verb} {describe(doc, moving)} to {target}"


def group(doc: Document, ids: Iterable[str], name: str = "Group") -> tuple[Op, str, str] | None:
    """Put nodes into a new group created where the first of them is.

    Returns ``(op, label, group id)``.
    """
    tops = top_level(doc, ids)
    if not tops:
        return None
    first = doc.nodes[tops[0]]
    assert first.parent is not None
    gid = new_id()
    gnode = Node(gid, first.parent, first.order, kind="group", name=name, transform=IDENTITY)
    keys = fracindex.keys_between(None, None, len(tops))
    ops: list[Op] = [AddNode(gnode)]
    for nid, key in zip(tops, keys, strict=True):
        node = doc.nodes[nid]
        ops.append(Reparent(nid, gid, key))
        if node.parent != first.parent:
            local = tf.reparented(doc, nid, first.parent)
            if not tf.close(local, node.transform):
                ops.append(SetField(nid, "transform", local))
    return Batch(tuple(ops)), f"Group {describe(doc, tops)}", gid


# -- placing imports ----------------------------------------------------------------------
Box = tuple[float, float, float, float, float, float]  # xmin, ymin, zmin, xmax, ymax, zmax


def free_spot(size: Sequence[float], target: Sequence[float],
              occupied: Callable[[Box], bool], gap: float = 0.25,
              rings: int = 12) -> tuple[float, float]:
    """Where to put a box of ``size`` (dx, dy, dz) standing on the floor, centred as near
    the floor point ``target`` (x, y) as possible without ``occupied(box)``.

    Tries the target, then rings of eight spots around it, each ring one box (plus
    ``gap``) further out; returns the first free centre (x, y), or the target if every
    spot is taken.
    """
    dx, dy, dz = (max(float(v), 1e-3) for v in size)
    tx, ty = float(target[0]), float(target[1])

    def box_at(x: float, y: float) -> Box:
        return (x - dx / 2, y - dy / 2, 0.0, x + dx / 2, y + dy / 2, dz)

    candidates = [(tx, ty)]
    for ring in range(1, rings + 1):
        sx, sy = ring * (dx + gap), ring * (dy + gap)
        around = [(tx + i * sx, ty + j * sy) for i in (-1, 0, 1) for j in (-1, 0, 1)
                  if (i, j) != (0, 0)]
        candidates += sorted(around, key=lambda c: math.hypot(c[0] - tx, c[1] - ty))
    for x, y in candidates:
        if not occupied(box_at(x, y)):
            return x, y
    return tx, ty


# -- comments -----------------------------------------------------------------------------
def comments_container(doc: Document) -> Op | None:
    """The op that creates the top-level ``comments`` node, or ``None`` if it exists.

    Its id is fixed and its kind is an annotation kind, so every role that may comment may
    create it. Send it as its own op, before the comment and outside the undo history: when
    two people post the first comment at once the server refuses the second container
    ("exists") while both comments land in the first.
    """
    if COMMENTS_ID in doc:
        return None
    return AddNode(Node(COMMENTS_ID, ROOT_ID, order_at_end(doc, ROOT_ID),
                        kind="annotation", name="Comments"))


def add_comment(doc: Document, text: str, author: str, camera: Sequence[float], *,
                target: str | None = None, point: Sequence[float] | None = None,
                reply_to: str | None = None, now: float | None = None
                ) -> tuple[Op, str, str] | None:
    """Add a comment thread (or a reply to ``reply_to``) under ``comments``, which must
    exist (see ``comments_container``). Returns ``(op, label, comment id)``, or ``None``
    for blank text."""
    text = text.strip()
    if not text:
        return None
    parent = reply_to or COMMENTS_ID
    props: dict[str, PropValue] = {
        "text": text,
        "author": author,
        "resolved": False,
        "camera": tuple(float(c) for c in camera),
        "created": int(now if now is not None else time.time()),
    }
    if target:
        props["target"] = target
    if point is not None:
        props["point"] = tuple(float(c) for c in point)
    cid = new_id()
    first_line = text.splitlines()[0]
    short = first_line[:40] + ("…" if len(first_line) > 40 else "")
    order = order_at_end(doc, parent) if parent in doc else fracindex.key_between(None, None)
    op = AddNode(Node(cid, parent, order, kind="comment", name=short, props=props))
    label = "Reply to comment" if reply_to else "Add comment"
    return op, label, cid

"""Whole-document snapshots: serialise and restore a document in chunks.

A snapshot is a header plus a list of chunks. Each chunk is the msgpack encoding of a
list of node records (``Node.to_wire``) in pre-order, so every parent precedes its
children. Chunking keeps any single encode or decode call short, so the server's event
loop is never held for the whole document, and lets the chunks travel as separate frames.

``decode`` trusts the chunk contents' values (snapshots come from the server after
authentication, or from our own store) but still checks the structure: a malformed
snapshot raises ``SnapshotError`` rather than producing a broken tree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgpack

from twin_app.core.document import Document, Node
from twin_app.core.ids import ROOT_ID

CHUNK_NODES = 2000


class SnapshotError(ValueError):
    """A snapshot that cannot be decoded into a document."""


def encode(doc: Document, chunk_nodes: int = CHUNK_NODES) -> list[bytes]:
    """Return ``doc`` as a list of msgpack-encoded chunks of node records."""
    chunks: list[bytes] = []
    batch: list[list[Any]] = []
    for node in doc.walk():
        batch.append(node.to_wire())
        if len(batch) >= chunk_nodes:
            chunks.append(msgpack.packb(batch, use_bin_type=True))
            batch = []
    if batch:
        chunks.append(msgpack.packb(batch, use_bin_type=True))
    return chunks


def _node(rec: Any) -> Node:
    if not isinstance(rec, list) or len(rec) != 11:
        raise SnapshotError("snapshot node records must be lists of 11 fields")
    nid, parent, order, kind, name, transform, mesh, color, opacity, visible, props = rec
    if not isinstance(props, dict) or not all(isinstance(k, str) for k in props):
        raise SnapshotError(f"node {nid!r}: props must be a map with text keys")
    return Node(
        nid,
        parent,
        order,
        kind,
        name,
        tuple(transform),
        mesh,
        None if color is None else tuple(color),
        opacity,
        visible,
        {k: (tuple(v) if isinstance(v, list) else v) for k, v in props.items()},
    )


def decode(chunks: Iterable[bytes]) -> Document:
    """Rebuild a document from ``encode``'s chunks. Raises ``SnapshotError``."""
    doc = Document()
    first = True
    try:
        for chunk in chunks:
            records = msgpack.unpackb(chunk, raw=False, strict_map_key=False)
            if not isinstance(records, list):
                raise SnapshotError("a snapshot chunk must be a list")
            for rec in records:
                node = _node(rec)
                if first:
                    # A root with a parent would dangle (KeyError in insert) or, as its
                    # own parent, make every walk of the tree loop forever.
                    if node.id != ROOT_ID or node.parent is not None:
                        raise SnapshotError("a snapshot starts with the root (no parent)")
                    doc.delete(ROOT_ID)
                    doc.insert(node)
                    first = False
                    continue
                if node.id in doc.nodes or node.parent not in doc.nodes:
                    raise SnapshotError(f"node {node.id!r}: duplicate or parent missing")
                doc.insert(node)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"corrupt snapshot: {exc}") from exc
    if first:
        raise SnapshotError("empty snapshot: no root")
    return doc


def copy_document(doc: Document) -> Document:
    """Return an independent copy of ``doc``."""
    return decode(encode(doc))

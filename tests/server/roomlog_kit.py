"""Room logs for tests: a plant document and a log in the layout of earlier releases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgpack

from twin_app.core import AddNode, Node, SetField, snapshot
from twin_app.core.document import Document
from twin_app.core.fracindex import keys_between
from twin_app.core.ops import apply, op_to_wire


def plant(parts: int) -> Document:
    """A flat document of ``parts`` named parts with a few properties each."""
    doc = Document()
    keys = keys_between(None, None, parts)
    for i in range(parts):
        apply(doc, AddNode(Node(f"p{i}", "root", keys[i], kind="part", name=f"Pump housing {i}",
                                props={"part_number": f"PN-{i:05d}", "supplier": "ACME"})))
    return doc


def write_old_format_log(path: Path, keyframes: int = 6, ops_between: int = 300) -> Document:
    """Write a room log as releases before keyframe compression did; return its head document.

    Plain msgpack keyframes every ``ops_between`` ops, no codec or position column.
    """
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript("""
        CREATE TABLE ops (seq INTEGER PRIMARY KEY, t_ns INTEGER NOT NULL, client_id TEXT NOT NULL,
                          cseq INTEGER NOT NULL, op BLOB NOT NULL);
        CREATE TABLE keyframes (seq INTEGER PRIMARY KEY, t_ns INTEGER NOT NULL, hash TEXT NOT NULL,
                                nodes INTEGER NOT NULL, chunks BLOB NOT NULL);
        CREATE TABLE clients (client_id TEXT PRIMARY KEY, last_cseq INTEGER NOT NULL, last_seq INTEGER NOT NULL);
    """)
    doc = plant(200)
    seq = 0
    for k in range(keyframes):
        db.execute("INSERT INTO keyframes VALUES (?, 0, ?, ?, ?)",
                   (seq, doc.hash(), len(doc), msgpack.packb(snapshot.encode(doc), use_bin_type=True)))
        for i in range(ops_between):
            seq += 1
            op = SetField(f"p{i % 200}", "prop:v", float(k * 1000 + i))
            apply(doc, op)
            db.execute("INSERT INTO ops VALUES (?, 0, 'c', ?, ?)", (seq, seq, msgpack.packb(op_to_wire(op))))
    db.execute("INSERT INTO clients VALUES ('c', ?, ?)", (seq, seq))
    db.close()
    return doc

"""The pure core: document, operations, reducer, snapshots, undo and the client store.

Imports neither Qt nor VTK nor ZeroMQ, so it runs (and is tested) anywhere, and the client
and the server share exactly the same reducer.
"""

from twin_app.core.changes import ChangeSet
from twin_app.core.document import IDENTITY, Document, Node
from twin_app.core.errors import InvalidOp, UndoConflict
from twin_app.core.ids import ROOT_ID, new_id
from twin_app.core.ops import (
    AddNode,
    Batch,
    Op,
    RemoveNode,
    Reparent,
    SetField,
    apply,
    op_from_wire,
    op_to_wire,
)
from twin_app.core.store import ClientStore

__all__ = [
    "IDENTITY",
    "ROOT_ID",
    "AddNode",
    "Batch",
    "ChangeSet",
    "ClientStore",
    "Document",
    "InvalidOp",
    "Node",
    "Op",
    "RemoveNode",
    "Reparent",
    "SetField",
    "UndoConflict",
    "apply",
    "new_id",
    "op_from_wire",
    "op_to_wire",
]

"""Room files (``*.twinroom``): a whole room — document plus the meshes it uses — in one file.

``twin-sync export`` writes them, ``twin-sync serve --seed`` and the desktop app's demo
read them; the demo plant in ``assets/`` is one. Layout: a msgpack map
``{"format": "twinroom-room", "version": 1, "name", "hash", "chunks": [snapshot chunks],
"assets": {content hash: mesh blob}}``. Reading checks every asset's hash.
"""

from __future__ import annotations

from pathlib import Path

import msgpack

from twin_app.core import snapshot
from twin_app.core.document import Document
from twin_app.core.ids import content_hash

FORMAT = "twinroom-room"
VERSION = 1


class RoomFileError(ValueError):
    """A room file that cannot be read."""


def dumps(doc: Document, assets: dict[str, bytes], name: str = "") -> bytes:
    """Return the bytes of a room file holding ``doc`` and ``assets``."""
    return msgpack.packb(
        {
            "format": FORMAT,
            "version": VERSION,
            "name": name,
            "hash": doc.hash(),
            "chunks": snapshot.encode(doc),
            "assets": assets,
        },
        use_bin_type=True,
    )


def loads(data: bytes) -> tuple[Document, dict[str, bytes]]:
    """Parse a room file. Raises ``RoomFileError``."""
    try:
        body = msgpack.unpackb(data, raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise RoomFileError(f"not a room file: {exc}") from exc
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise RoomFileError("not a Twinroom room file")
    if body.get("version") != VERSION:
        raise RoomFileError(f"unsupported room file version {body.get('version')!r}")
    try:
        doc = snapshot.decode(body["chunks"])
    except (KeyError, snapshot.SnapshotError) as exc:
        raise RoomFileError(f"corrupt room file: {exc}") from exc
    assets = body.get("assets") or {}
    if not isinstance(assets, dict) or not all(
        isinstance(h, str) and isinstance(b, bytes) for h, b in assets.items()
    ):
        raise RoomFileError("corrupt room file: assets must map content hashes to bytes")
    for h, blob in assets.items():
        if content_hash(blob) != h:
            raise RoomFileError(f"asset {h[:12]}… does not match its hash")
    if body.get("hash") and doc.hash() != body["hash"]:
        raise RoomFileError("document hash mismatch: the file is corrupt")
    return doc, assets


def write(path: Path, doc: Document, assets: dict[str, bytes], name: str = "") -> None:
    """Write a room file atomically (temp file + rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(dumps(doc, assets, name))
    tmp.replace(path)


def read(path: Path) -> tuple[Document, dict[str, bytes]]:
    """Read a room file. Raises ``RoomFileError`` or ``OSError``."""
    return loads(path.read_bytes())

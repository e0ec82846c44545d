"""The content-addressed asset store: mesh blobs on disk, named by their SHA-256.

Files live at ``<assets>/<first two hex digits>/<hash>``. An upload in progress is a
``<hash>.part`` file that grows chunk by chunk; its size is the offset to resume from, so
an interrupted transfer (dropped network, killed client or server) resumes where it
stopped. A completed upload is verified against its hash before it is renamed into place:
a corrupt or forged upload is discarded and never served.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from twin_app.core.ids import content_hash, is_content_hash

CHUNK = 256 * 1024


class AssetError(ValueError):
    """A refused asset operation (bad hash, bad offset, size mismatch, too large)."""


class AssetStore:
    """Content-addressed blobs under one directory."""

    def __init__(self, root: Path, max_size: int) -> None:
        self.root = root
        self.max_size = max_size
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        if not is_content_hash(digest):
            raise AssetError(f"not a SHA-256 hex digest: {digest[:80]!r}")
        return self.root / digest[:2] / digest

    def has(self, digest: str) -> bool:
        """True if the complete blob is stored."""
        return self._path(digest).exists()

    def partial(self, digest: str) -> int:
        """Bytes already received of an unfinished upload (0 if none)."""
        part = self._path(digest).with_suffix(".part")
        return part.stat().st_size if part.exists() else 0

    def size(self, digest: str) -> int:
        """Size of a stored blob. Raises ``AssetError`` if it is not stored."""
        try:
            return self._path(digest).stat().st_size
        except FileNotFoundError:
            raise AssetError(f"no asset {digest[:12]}…") from None

    def read(self, digest: str, offset: int, length: int = CHUNK) -> bytes:
        """Return up to ``length`` bytes of a stored blob from ``offset``."""
        path = self._path(digest)
        try:
            with path.open("rb") as fh:
                fh.seek(offset)
                return fh.read(length)
        except FileNotFoundError:
            raise AssetError(f"no asset {digest[:12]}…") from None

    def write(self, digest: str, size: int, offset: int, data: bytes) -> int:
        """Append a chunk of an upload; return the new offset (== size when complete).

        Raises ``AssetError`` if the offset is not where the upload stands, the size is
        over the limit, or the finished blob does not match its hash (then it is deleted).
        """
        path = self._path(digest)
        if size > self.max_size:
            raise AssetError(f"asset larger than the server's limit of {self.max_size} bytes")
        if path.exists():
            return size
        part = path.with_suffix(".part")
        have = part.stat().st_size if part.exists() else 0
        if offset != have:
            raise AssetError(f"upload of {digest[:12]}… stands at offset {have}, not {offset}")
        if have + len(data) > size:
            part.unlink(missing_ok=True)
            raise AssetError("upload is longer than its declared size")
        path.parent.mkdir(parents=True, exist_ok=True)
        with part.open("ab") as fh:
            fh.write(data)
        done = have + len(data)
        if done == size:
            h = hashlib.sha256()
            with part.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            if h.hexdigest() != digest:
                part.unlink(missing_ok=True)
                raise AssetError(f"upload of {digest[:12]}… does not match its hash; discarded")
            os.replace(part, path)
        return done

    def put(self, digest: str, blob: bytes) -> None:
        """Store a whole blob at once (seeding, import). Raises ``AssetError``."""
        if content_hash(blob) != digest:
            raise AssetError("blob does not match its hash")
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(blob)
            os.replace(tmp, path)

"""The client's local asset cache: content-addressed mesh blobs, on disk or in memory.

Written by the network agent thread (downloads) and the GUI thread (imports), read by the
GUI thread (rendering). A name that is not a content hash (``ids.is_content_hash``) is never
here and never fetched: asking for one returns "not here", it does not raise, so one bad
mesh reference in a document costs that part its mesh (a placeholder), not every mesh. Files are written to ``<hash>.part`` and renamed into place after
their hash is verified, so a reader never sees a half-written blob and an interrupted
download resumes from the size of its ``.part`` file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from twin_app.core.ids import content_hash, is_content_hash


class AssetCache:
    """Local content-addressed blobs (thread-safe)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._mem: dict[str, bytes] = {}
        self._partial: dict[str, bytearray] = {}
        self._lock = threading.Lock()
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        assert self.root is not None
        if not is_content_hash(digest):
            raise ValueError(f"not a content hash: {digest[:80]!r}")
        return self.root / digest[:2] / digest

    def has(self, digest: str) -> bool:
        """True if the blob is complete locally (never for a name that is not a hash)."""
        if not is_content_hash(digest):
            return False
        if self.root is None:
            with self._lock:
                return digest in self._mem
        return self._path(digest).exists()

    def get(self, digest: str) -> bytes | None:
        """Return the blob or ``None`` if it is not (yet) here."""
        if not is_content_hash(digest):
            return None
        if self.root is None:
            with self._lock:
                return self._mem.get(digest)
        try:
            return self._path(digest).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def put(self, blob: bytes) -> str:
        """Store a whole blob; return its hash."""
        digest = content_hash(blob)
        if self.root is None:
            with self._lock:
                self._mem[digest] = blob
            return digest
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_bytes(blob)
            os.replace(tmp, path)
        return digest

    def partial_size(self, digest: str) -> int:
        """Bytes of an unfinished download already here."""
        if self.root is None:
            with self._lock:
                return len(self._partial.get(digest, b""))
        part = self._path(digest).with_suffix(".part")
        return part.stat().st_size if part.exists() else 0

    def append(self, digest: str, offset: int, data: bytes, size: int) -> bool:
        """Append a downloaded chunk at ``offset``; True when the blob is complete and valid.

        Raises ``ValueError`` if the offset does not match what is here or the finished
        blob does not match its hash (the partial download is then discarded).
        """
        if offset != self.partial_size(digest):
            raise ValueError(f"chunk at {offset} does not continue the download")
        if self.root is None:
            with self._lock:
                buf = self._partial.setdefault(digest, bytearray())
                buf += data
                if len(buf) < size:
                    return False
                blob = bytes(self._partial.pop(digest))
            if content_hash(blob) != digest:
                raise ValueError("downloaded asset does not match its hash")
            with self._lock:
                self._mem[digest] = blob
            return True
        path = self._path(digest)
        part = path.with_suffix(".part")
        part.parent.mkdir(parents=True, exist_ok=True)
        with part.open("ab") as fh:
            fh.write(data)
        if offset + len(data) < size:
            return False
        h = content_hash(part.read_bytes())
        if h != digest:
            part.unlink(missing_ok=True)
            raise ValueError("downloaded asset does not match its hash")
        os.replace(part, path)
        return True

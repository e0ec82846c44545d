"""Identifiers: node ids and content hashes.

Node ids are client-generated, random and stable for the life of a node: 16 lowercase hex
characters (64 random bits); any string of 1–64 characters from ``[A-Za-z0-9_.:-]`` is
accepted so imported or hand-written documents can use readable ids.

A **content hash** names a blob (a mesh) by its bytes: the SHA-256 digest as 64 lowercase
hex digits. This is the one definition; the reducer (``Node.mesh``), the client's asset
cache, the server's asset store and room files all use it.
"""

from __future__ import annotations

import hashlib
import re
import secrets

ROOT_ID = "root"
_ID_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_CONTENT_HASH_RE = re.compile(r"[0-9a-f]{64}")


def new_id() -> str:
    """Return a fresh random node id."""
    return secrets.token_hex(8)


def is_valid_id(value: object) -> bool:
    """True if ``value`` is a syntactically valid node id."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def content_hash(blob: bytes) -> str:
    """Return the content hash of ``blob``: its SHA-256 as 64 lowercase hex digits."""
    return hashlib.sha256(blob).hexdigest()


def is_content_hash(value: object) -> bool:
    """True if ``value`` is a content hash (64 lowercase hex digits)."""
    return isinstance(value, str) and _CONTENT_HASH_RE.fullmatch(value) is not None

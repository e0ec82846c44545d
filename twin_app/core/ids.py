"""Node ids: client-generated, random, stable for the life of a node.

Ids are 16 lowercase hex characters (64 random bits); any string of 1–64 characters from
``[A-Za-z0-9_.:-]`` is accepted so imported or hand-written documents can use readable ids.
"""

from __future__ import annotations

import re
import secrets

ROOT_ID = "root"
_ID_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def new_id() -> str:
    """Return a fresh random node id."""
    return secrets.token_hex(8)


def is_valid_id(value: object) -> bool:
    """True if ``value`` is a syntactically valid node id."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None

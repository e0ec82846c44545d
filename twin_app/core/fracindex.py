"""Fractional indices: sibling order as strings that sort between any two others.

A key is a non-empty string over the 62 digits ``0-9A-Za-z`` (in that, ASCII, order) that
does not end in ``0``, read as a base-62 fraction ``0.d1d2d3…``. Between any two keys
another key exists, so inserting or moving a node never renumbers its siblings (Figma's
scheme). Two clients may pick the same key for different nodes; siblings are ordered by
``(key, node id)``, so the order is identical on every replica without reassignment.
"""

from __future__ import annotations

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VAL = {c: i for i, c in enumerate(DIGITS)}
BASE = len(DIGITS)
MAX_LEN = 128


def is_valid_key(key: object) -> bool:
    """True if ``key`` is a well-formed fractional index."""
    return (
        isinstance(key, str)
        and 0 < len(key) <= MAX_LEN
        and key[-1] != "0"
        and all(c in _VAL for c in key)
    )


def key_between(lo: str | None, hi: str | None) -> str:
    """Return a key strictly between ``lo`` and ``hi`` (``None`` = open end).

    Appending after the last sibling or prepending before the first steps one digit, so
    keys grow by one character only every ~60 consecutive appends. Raises ``ValueError``
    if ``lo >= hi``.
    """
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"no key between {lo!r} and {hi!r}")
    if hi is None:
        if lo is None:
            return DIGITS[BASE // 2]
        for i, c in enumerate(lo):
            if _VAL[c] < BASE - 1:
                return lo[:i] + DIGITS[_VAL[c] + 1]
        return lo + DIGITS[BASE // 2]
    if lo is None:
        for i, c in enumerate(hi):
            if _VAL[c] > 1:
                return hi[:i] + DIGITS[_VAL[c] - 1]
    return _midpoint(lo or "", hi)


def _midpoint(lo: str, hi: str | None) -> str:
    out = []
    i = 0
    while True:
        a = _VAL[lo[i]] if i < len(lo) else 0
        b = _VAL[hi[i]] if hi is not None and i < len(hi) else BASE
        if b - a > 1:
            out.append(DIGITS[(a + b) // 2])
            return "".join(out)
        # Digits adjacent or equal: keep lo's digit and look further right, where hi no
        # longer constrains us once we fell below it.
        out.append(DIGITS[a])
        if b > a:
            hi = None
        i += 1


def keys_between(lo: str | None, hi: str | None, n: int) -> list[str]:
    """Return ``n`` increasing keys strictly between ``lo`` and ``hi``.

    Keys are chosen by bisection, so their length grows with ``log(n)``, not ``n``.
    Raises ``ValueError`` if ``lo >= hi`` (checked even for ``n == 0``).
    """
    # Checked here, not only in key_between: the bisection below calls _midpoint directly,
    # which silently returns a key outside the range when lo >= hi.
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"no key between {lo!r} and {hi!r}")
    if n <= 0:
        return []
    mid = key_between(lo, hi) if lo is None or hi is None else _midpoint(lo, hi)
    if lo is None and hi is None:
        mid = DIGITS[BASE // 2]
    left = n // 2
    return [*keys_between(lo, mid, left), mid, *keys_between(mid, hi, n - left - 1)]

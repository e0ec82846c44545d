"""Binary STL, read with numpy alone, and exact vertex welding.

Binary STL is by far the most common large file users bring (CAD exports of whole
machines), so it gets a dedicated path: one ``numpy.frombuffer`` over the 50-byte records
instead of a general loader. ASCII STL is read with numpy too (``read_ascii``: the keywords
are blanked out with one ``bytes.translate`` and the numbers parsed in one
``numpy.fromstring`` call, several times faster than a token list), and welded the same way, so an ASCII and a binary copy of a part
give the same mesh blob and hash.

STL stores every triangle with its own three corners. ``weld`` merges corners with
bit-identical coordinates so the mesh blob holds each vertex once (about 6× fewer vertex
bytes for a closed CAD mesh). It sorts the raw 32-bit patterns with one ``lexsort`` rather
than ``numpy.unique(axis=0)``, which is several times slower on millions of rows.
"""

from __future__ import annotations

import warnings

import numpy as np

from twin_app.io.typed import Float32Array, UInt32Array

HEADER = 80
RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])


class StlFormatError(ValueError):
    """A file that is not a well-formed binary STL."""


def binary_triangle_count(data: bytes) -> int | None:
    """Return the triangle count if ``data`` is laid out as a binary STL, else ``None``.

    A binary STL is an 80-byte header, a uint32 count and ``count`` 50-byte records. Files
    with a few stray bytes after the last record (some exporters pad) are accepted.
    """
    if len(data) < HEADER + 4:
        return None
    count = int.from_bytes(data[HEADER : HEADER + 4], "little")
    expected = HEADER + 4 + RECORD.itemsize * count
    if expected == len(data):
        return count
    if expected < len(data) <= expected + RECORD.itemsize and not _looks_ascii(data):
        return count
    return None


def _looks_ascii(data: bytes) -> bool:
    return data[:512].lstrip().lower().startswith(b"solid") and b"facet" in data[:4096]


def declared_count(data: bytes) -> int:
    """Return the triangle count a binary header declares (0 if the file is too short)."""
    if len(data) < HEADER + 4:
        return 0
    return int.from_bytes(data[HEADER : HEADER + 4], "little")


def read_binary(data: bytes, count: int) -> Float32Array:
    """Return the triangle corners ``(count, 3, 3)`` of a binary STL (a copy)."""
    end = HEADER + 4 + RECORD.itemsize * count
    if end > len(data):
        raise StlFormatError("the file is shorter than its triangle count says")
    records = np.frombuffer(data, dtype=RECORD, count=count, offset=HEADER + 4)
    return np.ascontiguousarray(records["corners"])


def weld(corners: Float32Array) -> tuple[Float32Array, UInt32Array]:
    """Merge bit-identical corners of ``(n, 3, 3)`` triangles into ``(vertices, faces)``.

    ``-0.0`` and ``0.0`` are treated as the same coordinate. Vertices come out sorted by
    their coordinates, which is deterministic for a given input.
    """
    flat = corners.reshape(-1, 3) + np.float32(0.0)  # adding +0.0 turns -0.0 into 0.0
    if len(flat) == 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint32)
    bits = flat.view(np.uint32)
    xy = (bits[:, 0].astype(np.uint64) << np.uint64(32)) | bits[:, 1].astype(np.uint64)
    order = np.lexsort((bits[:, 2], xy))
    sxy, sz = xy[order], bits[order, 2]
    first = np.empty(len(order), dtype=bool)
    first[0] = True
    np.not_equal(sxy[1:], sxy[:-1], out=first[1:])
    first[1:] |= sz[1:] != sz[:-1]
    ids = np.cumsum(first, dtype=np.int64) - 1
    inverse = np.empty(len(order), dtype=np.uint32)
    inverse[order] = ids
    vertices = flat[order[first]]
    return vertices, inverse.reshape(-1, 3)


# Every letter but "e" (and every kind of white space) becomes a space in one
# ``bytes.translate`` pass, "E" becomes "e"; the keywords' own e's are then the only ones
# preceded by a space (an exponent's follows a digit), and one ``replace`` blanks them.
_LETTERS = bytes(c for c in range(128) if chr(c).isalpha() and chr(c) not in "eE")
_BLANK = bytes.maketrans(_LETTERS + b"\t\r\n\v\fE", b" " * (len(_LETTERS) + 5) + b"e")


def read_ascii(data: bytes) -> list[tuple[str, Float32Array]]:
    """Return ``(solid name, corners (n, 3, 3) float32)`` for each solid of an ASCII STL.

    Coordinates are parsed as float64 and rounded to float32, as a binary STL stores them.
    Raises ``StlFormatError`` for text that is not laid out as ASCII STL facets.
    """
    out: list[tuple[str, Float32Array]] = []
    pos = 0
    while True:
        start = _skip_space(data, pos)
        if start >= len(data):
            break
        if data[start : start + 5].lower() != b"solid":
            if out:
                raise StlFormatError("there is text after the last solid that is not part of it")
            raise StlFormatError("it is text, but it holds no STL facets")
        line_end = data.find(b"\n", start)
        if line_end < 0:
            line_end = len(data)
        name = data[start + 5 : line_end].decode("utf-8", "replace").strip()
        end = data.find(b"endsolid", line_end)
        if end < 0:
            end = data.lower().find(b"endsolid", line_end)
        if end < 0:
            if b"facet" not in data[line_end:]:
                raise StlFormatError("it is text, but it holds no STL facets")
            end = len(data)  # no "endsolid": a file cut short, or an exporter that omits it
        out.append((name, _facets(data[line_end:end], len(out))))
        after = data.find(b"\n", end)
        pos = len(data) if after < 0 else after + 1
    if not out:
        raise StlFormatError("it is text, but it holds no STL facets")
    return out


def _skip_space(data: bytes, pos: int) -> int:
    while pos < len(data) and data[pos] in b" \t\r\n\v\f":
        pos += 1
    return pos


def _facets(body: bytes, k: int) -> Float32Array:
    facets = body.count(b"endfacet")
    if facets == 0 and b"ENDFACET" in body:
        body = body.lower()
        facets = body.count(b"endfacet")
    text = body.translate(_BLANK).replace(b" e", b"  ")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            numbers = np.fromstring(text, dtype=np.float64, sep=" ")
        except (ValueError, DeprecationWarning):
            raise StlFormatError(
                f"solid {k + 1} holds words or numbers that are not STL facets"
            ) from None
    if len(numbers) != 12 * facets:
        # A normal and three corners per facet: anything else is a broken facet.
        raise StlFormatError(f"solid {k + 1} has facets with missing or extra numbers")
    if not np.isfinite(numbers).all():
        raise StlFormatError("it has non-finite coordinates (NaN or infinity)")
    corners: Float32Array = numbers.reshape(-1, 12)[:, 3:].astype(np.float32).reshape(-1, 3, 3)
    return corners

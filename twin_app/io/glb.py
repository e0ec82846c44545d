"""Split and join GLB containers, to read or amend their JSON chunk.

trimesh rounds glTF colours to 8 bits (in linear light, which loses visible precision in
dark colours) and keys scene-graph nodes by unique name. The importer tags each material
with its index before trimesh reads the file and takes the exact factors from the JSON;
the exporter writes exact colours, the original (possibly repeated) node names and
Twinroom's node kinds into the JSON after trimesh has written it.
"""

from __future__ import annotations

import json
import struct
from typing import Any

_JSON = 0x4E4F534A
MATERIAL_TAG = "twin-material-"


class GlbError(ValueError):
    """Bytes that are not a GLB container."""


def split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Return ``(json, rest)`` of a GLB: its parsed JSON chunk and every later chunk's bytes."""
    if len(data) < 20 or data[:4] != b"glTF":
        raise GlbError("no GLB header")
    length, kind = struct.unpack_from("<II", data, 12)
    if kind != _JSON or 20 + length > len(data):
        raise GlbError("the GLB's JSON chunk is missing or truncated")
    tree = json.loads(data[20 : 20 + length])
    if not isinstance(tree, dict):
        raise GlbError("the glTF JSON is not an object")
    return tree, data[20 + length :]


def join(tree: dict[str, Any], rest: bytes) -> bytes:
    """Return a GLB with ``tree`` as its JSON chunk followed by ``rest`` (other chunks)."""
    body = json.dumps(tree, separators=(",", ":")).encode()
    body += b" " * (-len(body) % 4)
    total = 12 + 8 + len(body) + len(rest)
    return (b"glTF" + struct.pack("<II", 2, total) + struct.pack("<II", len(body), _JSON)
            + body + rest)


def tag_materials(tree: dict[str, Any]) -> list[tuple[str, list[float] | None]]:
    """Rename each material to ``MATERIAL_TAG + index`` (in place); return the original
    ``(name, baseColorFactor)`` of each, by index."""
    out: list[tuple[str, list[float] | None]] = []
    materials = tree.get("materials")
    if not isinstance(materials, list):
        return out
    for i, mat in enumerate(materials):
        if not isinstance(mat, dict):
            out.append(("", None))
            continue
        name = mat.get("name")
        pbr = mat.get("pbrMetallicRoughness")
        factor = pbr.get("baseColorFactor") if isinstance(pbr, dict) else None
        ok = (isinstance(factor, list) and len(factor) >= 3
              and all(isinstance(c, int | float) for c in factor[:3]))
        out.append((name if isinstance(name, str) else "",
                    [float(c) for c in factor[:3]] if ok else None))  # type: ignore[index]
        mat["name"] = f"{MATERIAL_TAG}{i}"
    return out

"""Broken, truncated, empty and hostile files: always a clear MeshImportError, nothing else."""

from __future__ import annotations

import io
import json
import os
import random
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from tests.io.io_kit import box_solid, mesh_object_xml, model_xml, step_text, write_3mf
from twin_app.core import meshblob
from twin_app.io import importers
from twin_app.io.benchutil import grid_triangles, write_binary_stl
from twin_app.io.importers import MeshImportError, import_file

ALL = [".stl", ".obj", ".ply", ".glb", ".gltf", ".3mf", ".step", ".stp"]


def box() -> trimesh.Trimesh:
    b = trimesh.creation.box((1.0, 2.0, 3.0))
    return trimesh.Trimesh(np.asarray(b.vertices), np.asarray(b.faces), process=False)


def rejects(path: Path, match: str = "") -> str:
    """Import ``path``, expecting a MeshImportError naming the file; return its message."""
    with pytest.raises(MeshImportError) as info:
        import_file(path)
    message = str(info.value)
    assert message.startswith(f"{path.name}: "), message
    assert "\n" not in message and len(message) < 400
    if match:
        assert match in message, message
    return message


@pytest.mark.parametrize("suffix", ALL)
def test_garbage_bytes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(random.Random(suffix).randbytes(3000))
    rejects(path)


@pytest.mark.parametrize("suffix", ALL)
def test_plain_text(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"notes{suffix}"
    path.write_text("meeting notes: move the press 2 m to the left\n" * 20)
    rejects(path)


@pytest.mark.parametrize("suffix", ALL)
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    rejects(path, "empty")


def test_directory_missing_file_unknown_suffix_and_fifo(tmp_path: Path) -> None:
    folder = tmp_path / "folder.stl"
    folder.mkdir()
    rejects(folder, "folder")
    rejects(tmp_path / "missing.glb", "not found")
    odd = tmp_path / "drawing.dwg"
    odd.write_bytes(b"AC1032")
    rejects(odd, "unsupported file type .dwg")
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.stl"
        os.mkfifo(fifo)
        rejects(fifo, "not a regular file")  # reading it would block forever


def test_truncated_binary_stl(tmp_path: Path) -> None:
    path = tmp_path / "cut.stl"
    write_binary_stl(path, grid_triangles(1000))
    path.write_bytes(path.read_bytes()[:30_000])
    rejects(path, "truncated")


def test_stl_declaring_billions_of_triangles(tmp_path: Path) -> None:
    path = tmp_path / "liar.stl"
    path.write_bytes(b"\0" * 80 + struct.pack("<I", 4_000_000_000) + b"\0" * 500)
    rejects(path, "4,000,000,000")


def test_ply_declaring_a_huge_vertex_count(tmp_path: Path) -> None:
    path = tmp_path / "liar.ply"
    path.write_text(
        "ply\nformat binary_little_endian 1.0\nelement vertex 999999999\n"
        "property float x\nproperty float y\nproperty float z\nelement face 1\n"
        "property list uchar int vertex_indices\nend_header\n"
    )
    rejects(path, "too large")


def test_glb_declaring_a_huge_accessor(tmp_path: Path) -> None:
    path = tmp_path / "liar.glb"
    box().export(path)
    data = path.read_bytes()
    length = struct.unpack("<I", data[12:16])[0]
    tree = json.loads(data[20 : 20 + length])
    tree["accessors"][0]["count"] = 10**12
    body = json.dumps(tree).encode()
    body += b" " * (-len(body) % 4)
    rest = data[20 + length :]
    out = b"glTF" + struct.pack("<II", 2, 20 + len(body) + len(rest))
    path.write_bytes(out + struct.pack("<I", len(body)) + b"JSON" + body + rest)
    rejects(path, "too large")


def test_nan_coordinates(tmp_path: Path) -> None:
    corners = grid_triangles(50)
    corners[7, 1, 2] = np.nan
    stl = tmp_path / "nan.stl"
    write_binary_stl(stl, corners)
    rejects(stl, "non-finite")
    obj = tmp_path / "nan.obj"
    obj.write_text("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n")
    rejects(obj, "non-finite")
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, np.inf]])
    three = write_3mf(tmp_path / "inf.3mf", model_xml(mesh_object_xml(1, v, [(0, 1, 2)]),
                                                      '<item objectid="1"/>'))
    rejects(three, "non-finite")


def test_faces_indexing_outside_the_vertices(tmp_path: Path) -> None:
    ply = tmp_path / "oob.ply"
    ply.write_text(
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        "property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
        "end_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n"
    )
    rejects(ply, "do not exist")
    obj = tmp_path / "oob.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 99\n")
    rejects(obj)
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    three = write_3mf(tmp_path / "oob.3mf", model_xml(mesh_object_xml(1, v, [(0, 1, 5)]),
                                                      '<item objectid="1"/>'))
    rejects(three, "do not exist")
    neg = write_3mf(tmp_path / "neg.3mf", model_xml(mesh_object_xml(1, v, [(0, 1, -1)]),
                                                    '<item objectid="1"/>'))
    rejects(neg, "do not exist")


def test_3mf_zip_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 40 MB of whitespace inside the model XML compresses to ~40 kB; with a 16 MB budget
    # the reader must stop at the budget instead of inflating all of it.
    monkeypatch.setattr(importers, "MAX_UNPACKED_BYTES", 16 * 1024**2)
    b = box()
    model = model_xml(mesh_object_xml(1, b.vertices, b.faces), '<item objectid="1"/>')
    padded = model.replace("<resources>", "<resources>" + " " * 40_000_000)
    path = write_3mf(tmp_path / "bomb.3mf", padded)
    assert path.stat().st_size < 1_000_000
    rejects(path, "zip bomb")


def test_3mf_member_lying_about_its_size(tmp_path: Path) -> None:
    b = box()
    model = model_xml(mesh_object_xml(1, b.vertices, b.faces), '<item objectid="1"/>')
    path = write_3mf(tmp_path / "liar.3mf", model)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("3D/3dmodel.model")
    # Declare 100 bytes in the local header and in the central directory.
    struct.pack_into("<I", data, info.header_offset + 22, 100)
    central = bytes(data).rfind(b"PK\x01\x02", 0, len(data))
    while central >= 0:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len] == b"3D/3dmodel.model":
            struct.pack_into("<I", data, central + 24, 100)
        central = bytes(data).rfind(b"PK\x01\x02", 0, central)
    path.write_bytes(bytes(data))
    rejects(path)


def test_3mf_with_entity_expansion_is_refused(tmp_path: Path) -> None:
    laughs = (
        '<!DOCTYPE model [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    )
    model = model_xml('<object id="1" name="&c;"/>', '<item objectid="1"/>', prolog=laughs)
    rejects(write_3mf(tmp_path / "laughs.3mf", model), "DTD")


def test_3mf_component_cycle_and_missing_objects(tmp_path: Path) -> None:
    cycle = (
        '<object id="1" type="model"><components><component objectid="2"/></components></object>'
        '<object id="2" type="model"><components><component objectid="1"/></components></object>'
    )
    rejects(write_3mf(tmp_path / "cycle.3mf", model_xml(cycle, '<item objectid="1"/>')), "deep")
    rejects(write_3mf(tmp_path / "dangling.3mf", model_xml("", '<item objectid="42"/>')), "42")
    rejects(write_3mf(tmp_path / "nothing.3mf", model_xml("", "")), "no triangle mesh")


def test_3mf_without_model_part(tmp_path: Path) -> None:
    path = tmp_path / "hollow.3mf"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    rejects(path, "no part")


def test_gltf_buffer_outside_its_folder_is_not_read(tmp_path: Path) -> None:
    files = box().export(file_type="gltf")
    gltf_name = next(n for n in files if n.endswith(".gltf"))
    bin_name = next(n for n in files if not n.endswith(".gltf"))
    secret = tmp_path / "secret.bin"
    secret.write_bytes(files[bin_name])
    inner = tmp_path / "inbox"
    inner.mkdir()
    tree = json.loads(files[gltf_name])
    tree["buffers"][0]["uri"] = "../secret.bin"
    (inner / "model.gltf").write_text(json.dumps(tree))
    rejects(inner / "model.gltf")
    tree["buffers"][0]["uri"] = "https://example.invalid/model.bin"
    (inner / "remote.gltf").write_text(json.dumps(tree))
    rejects(inner / "remote.gltf")


def test_limits_give_a_too_large_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.stl"
    write_binary_stl(path, grid_triangles(2000))
    monkeypatch.setattr(importers, "MAX_TRIANGLES", 1000)
    rejects(path, "too large to import (2,000 triangles; the limit is 1,000)")
    monkeypatch.setattr(importers, "MAX_FILE_BYTES", 10_000)
    rejects(path, "too large")


def test_step_that_opencascade_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "cut.step"
    text = step_text([box_solid((0, 0, 0), (10, 10, 10))])
    path.write_text(text[: len(text) // 2])
    rejects(path, "STEP")


def _mutations(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        kind = rng.random()
        buf = bytearray(data)
        if kind < 0.4:
            buf = buf[: rng.randrange(1, len(buf))]  # truncation
        elif kind < 0.8:
            for _ in range(rng.randint(1, 20)):  # bit flips
                i = rng.randrange(len(buf))
                buf[i] ^= 1 << rng.randrange(8)
        else:
            i = rng.randrange(len(buf))  # a block of garbage
            buf[i : i + 64] = rng.randbytes(64)
        out.append(bytes(buf))
    return out


@pytest.mark.parametrize("suffix", [".stl", ".obj", ".ply", ".glb", ".3mf"])
def test_mangled_files_never_raise_anything_else(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"source{suffix}"
    if suffix == ".3mf":
        b = box()
        write_3mf(source, model_xml(mesh_object_xml(1, b.vertices, b.faces), '<item objectid="1"/>'))
    elif suffix == ".stl":
        write_binary_stl(source, grid_triangles(64))
    else:
        scene = trimesh.Scene()
        scene.add_geometry(box(), node_name="a")
        scene.add_geometry(trimesh.creation.cylinder(0.1, 1.0, sections=8), node_name="b")
        scene.export(source) if suffix == ".glb" else box().export(source)
    rng = random.Random(f"mangle{suffix}")
    for k, data in enumerate(_mutations(source.read_bytes(), rng, 40)):
        path = tmp_path / f"m{k}{suffix}"
        path.write_bytes(data)
        try:
            result = import_file(path)
        except MeshImportError as exc:
            assert str(exc).startswith(path.name)
            continue
        # Whatever survived mangling must still be a valid, finite, consistent import.
        for part in result.parts:
            v, f = meshblob.decode(part.blob)
            assert np.isfinite(v).all() and len(f) == part.triangles > 0
            assert all(np.isfinite(part.transform))


def test_gltf_with_a_missing_buffer_file(tmp_path: Path) -> None:
    files = box().export(file_type="gltf")
    gltf_name = next(n for n in files if n.endswith(".gltf"))
    (tmp_path / "lonely.gltf").write_bytes(files[gltf_name])  # its .bin is not copied
    rejects(tmp_path / "lonely.gltf", "missing")

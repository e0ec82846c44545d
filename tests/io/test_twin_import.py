"""``twin-import``, run as a person runs it: the installed console script in a child
process, against the files under tests/data and a real sync server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.netutil import ServerProcess
from twin_app.net import SyncClient

DATA = Path(__file__).resolve().parent.parent / "data"
SCRIPT = shutil.which("twin-import", path=str(Path(sys.executable).parent))


def twin_import(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    assert SCRIPT, "the twin-import console script is not installed (pip install -e .)"
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_json_of_a_step_assembly_has_the_documented_keys_and_tree() -> None:
    run = twin_import(str(DATA / "frame.step"), "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert set(out) == {"format", "units", "size_m", "parts", "triangles", "tree"}
    assert out["format"] == "STEP" and out["units"] == "mm"
    assert out["size_m"] == pytest.approx([0.4, 0.3, 0.23], abs=1e-6)
    assert out["parts"] == 8 and out["triangles"] == 96
    root = out["tree"]
    assert (root["name"], root["kind"]) == ("frame.step", "group")
    (frame,) = root["children"]
    assert frame["name"] == "frame"
    assert [c["name"] for c in frame["children"]] == [
        "base", "side", "side", "top", "gusset kit", "gusset kit"]
    base = frame["children"][0]
    assert base["kind"] == "part" and base["triangles"] == 12
    assert base["size_m"] == pytest.approx([0.4, 0.3, 0.02], abs=1e-6)
    assert base["color"] == pytest.approx([0.8, 0.2, 0.2], abs=2e-3)  # sRGB, as in the file
    kit = frame["children"][4]
    assert kit["kind"] == "group" and [c["name"] for c in kit["children"]] == ["gusset", "gusset"]
    assert frame["children"][2]["props"] == {"instance": "right side"}
    assert "%" in run.stderr  # progress goes to stderr, never into the JSON


def test_units_option_and_the_stl_default() -> None:
    mm = json.loads(twin_import(str(DATA / "bracket_mm.stl"), "--json").stdout)
    assert mm["units"] == "mm" and mm["size_m"] == pytest.approx([0.12, 0.08, 0.06])
    inch = json.loads(twin_import(str(DATA / "bracket_mm.stl"), "--units", "in", "--json").stdout)
    assert inch["units"] == "in" and inch["size_m"] == pytest.approx([3.048, 2.032, 1.524])
    metres = twin_import(str(DATA / "bracket_mm.stl"), "--units", "m")
    assert metres.returncode == 0
    assert "120 × 80 × 60 m" in metres.stdout
    wrong = twin_import(str(DATA / "bracket_mm.stl"), "--units", "furlong")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr


def test_a_broken_file_exits_non_zero_with_the_apps_message(tmp_path: Path) -> None:
    from twin_app.io.importers import MeshImportError, import_file

    bad = tmp_path / "pump.glb"
    bad.write_bytes(b"glTF" + b"\x02\0\0\0" + b"\xff" * 40)
    run = twin_import(str(bad), "--json")
    assert run.returncode == 1 and run.stdout == ""
    with pytest.raises(MeshImportError) as info:
        import_file(bad)
    assert str(info.value) in run.stderr
    assert "Details:" in run.stderr
    odd = tmp_path / "drawing.dwg"
    odd.write_bytes(b"AC1032")
    run = twin_import(str(odd))
    assert run.returncode == 1 and "unsupported file type .dwg" in run.stderr


@pytest.mark.net
def test_live_import_into_a_room_under_a_parent(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server").start()
    watcher = SyncClient(server.endpoint, "plant", "designer-token", "Bob")
    try:
        watcher.start()
        assert watcher.wait_for(lambda: watcher.synced, 30)
        from twin_app.core.document import Node
        from twin_app.core.ids import ROOT_ID
        from twin_app.core.ops import AddNode

        watcher.submit(AddNode(Node("hall", ROOT_ID, "V", name="Hall 2")), "Add hall")
        assert watcher.wait_for(lambda: watcher.unacked_count == 0, 15)
        address = server.endpoint.removeprefix("tcp://")
        run = twin_import(str(DATA / "frame.step"), "--connect", address, "--room", "plant",
                          "--token", "designer-token", "--parent", "Hall 2", "--json")
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout)
        assert out["room"] == "plant" and out["parts"] == 8
        assert "Uploading meshes" in run.stderr and "Imported frame.step" in run.stderr
        gid = out["group"]
        # Bob sees the group under Hall 2 with the file's tree, names and unit, and every
        # mesh can be fetched from the server.
        assert watcher.wait_for(lambda: gid in watcher.store.doc, 15)
        doc = watcher.store.doc
        group = doc.nodes[gid]
        assert group.parent == "hall" and group.props["units"] == "mm"
        (frame,) = doc.children(gid)
        assert [doc.nodes[c].name for c in doc.children(frame)] == [
            "base", "side", "side", "top", "gusset kit", "gusset kit"]
        meshes = {n.mesh for n in doc.nodes.values() if n.mesh}
        assert len(meshes) == 4  # two sides and four gussets share their meshes
        watcher.assets.want(meshes)
        assert watcher.wait_for(lambda: all(watcher.assets.has(h) for h in meshes), 15)
        # A room that refuses the token: exit status 3, a reason in words.
        run = twin_import(str(DATA / "frame.step"), "--connect", address, "--room", "plant",
                          "--token", "wrong-token", "--timeout", "10")
        assert run.returncode == 3 and "failed" in run.stderr
    finally:
        watcher.close()
        server.stop()

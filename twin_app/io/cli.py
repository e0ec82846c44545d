"""``twin-import``: import a CAD or mesh file from the command line.

    twin-import FILE [--units mm|cm|m|in|auto] [--json]
    twin-import FILE --connect ADDR --room R --token T [--parent NODE] [--units …] [--json]

Without ``--connect`` it prints what the file would become (tree, unit, size, parts,
triangles) and touches no room. With ``--connect`` it imports into a live room: the
meshes are uploaded, then one undoable edit adds the file's group under ``--parent``
(a node id or a unique node name; the room's root by default). Progress goes to stderr,
the result to stdout. A file that cannot be imported exits with status 1 and the same
message the desktop app shows (its details follow on stderr); a room that cannot be
reached or refuses the edit exits with status 3.

``--json`` prints one object: ``format``, ``units`` (the unit used), ``size_m`` (the whole
import's [dx, dy, dz] in metres), ``parts`` (count), ``triangles`` and ``tree``: the file's
group as ``{"name", "kind", "children": [...]}``, each part also with ``triangles``,
``size_m`` and ``color`` (sRGB, 0–1, or null). After a live import it also has ``group``
(the new group's node id) and ``room``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from twin_app.io import units as unit_table
from twin_app.io.importers import ImportResult, MeshImportError, import_file

EXIT_FILE = 1
EXIT_USAGE = 2
EXIT_ROOM = 3


def tree_json(result: ImportResult) -> dict[str, Any]:
    """Return the JSON summary of an import (see the module docstring)."""
    kids: dict[int | None, list[int]] = {}
    for k, n in enumerate(result.nodes):
        kids.setdefault(n.parent, []).append(k)

    def node(k: int) -> dict[str, Any]:
        n = result.nodes[k]
        out: dict[str, Any] = {"name": n.name, "kind": n.kind}
        if n.props:
            out["props"] = dict(n.props)
        if n.kind in ("part", "material"):
            out["triangles"] = n.triangles
            out["size_m"] = [round(v, 6) for v in result.size_m(k)]
            out["color"] = None if n.color is None else [round(c, 4) for c in n.color]
        out["children"] = [node(c) for c in kids.get(k, [])]
        return out

    return {
        "format": result.format,
        "units": result.units,
        "size_m": [round(v, 6) for v in result.size_m()],
        "parts": result.part_count,
        "triangles": result.triangles,
        "tree": {"name": result.source, "kind": "group",
                 "children": [node(k) for k in kids.get(None, [])]},
    }


def _text(summary: dict[str, Any], out: TextIO) -> None:
    dx, dy, dz = summary["size_m"]
    out.write(f"{summary['tree']['name']}: {summary['format']}, read in {summary['units']}, "
              f"{unit_table.size_text((dx, dy, dz))}, {summary['parts']} part{'s' if summary['parts'] != 1 else ''}, "
              f"{summary['triangles']:,} triangles\n")

    def show(node: dict[str, Any], depth: int) -> None:
        extra = ""
        if "triangles" in node:
            extra = f"  ({node['triangles']:,} triangles, {unit_table.size_text(node['size_m'])})"
        out.write(f"{'  ' * depth}{node['name']} [{node['kind']}]{extra}\n")
        for child in node["children"]:
            show(child, depth + 1)

    show(summary["tree"], 0)


class _Progress:
    """Progress lines on stderr: one per stage, and percentages at most every 0.5 s."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.stage = ""
        self.last = 0.0

    def __call__(self, fraction: float, stage: str) -> None:
        now = time.monotonic()
        if stage != self.stage or now - self.last > 0.5 or fraction >= 1.0:
            self.stage, self.last = stage, now
            self.err.write(f"[{fraction * 100:5.1f} %] {stage}\n")
            self.err.flush()


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
         ) -> int:
    """Run ``twin-import``; returns the exit status (see the module docstring)."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = argparse.ArgumentParser(
        prog="twin-import",
        description="Import a CAD or mesh file (STEP, STL, OBJ, PLY, OFF, glTF/GLB, 3MF, "
                    "COLLADA): show what it becomes, or add it to a live room.")
    parser.add_argument("file", type=Path, help="the file to import")
    parser.add_argument("--units", choices=[*unit_table.CHOICES, "auto"], default="auto",
                        help="the unit the file's numbers are in (default auto: the file's "
                             "own, else mm for STL and m for OBJ, PLY and OFF)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--connect", metavar="ADDR", help="server address, e.g. host:7700")
    parser.add_argument("--room", help="room to import into (with --connect)")
    parser.add_argument("--token", help="access token for the room (with --connect)")
    parser.add_argument("--parent", metavar="NODE",
                        help="node id or unique node name to import under (default: the root)")
    parser.add_argument("--name", default="twin-import", help="name shown to others in the room")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the room (default 60)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    if args.connect and not (args.room and args.token):
        err.write("twin-import: --connect needs --room and --token\n")
        return EXIT_USAGE
    if (args.room or args.token or args.parent) and not args.connect:
        err.write("twin-import: --room, --token and --parent need --connect\n")
        return EXIT_USAGE

    progress = _Progress(err)
    try:
        result = import_file(args.file, progress=progress, units=args.units)
    except MeshImportError as exc:
        err.write(f"{exc}\n")
        if exc.details:
            err.write(f"Details: {exc.details}\n")
        return EXIT_FILE
    summary = tree_json(result)
    warning = unit_table.size_warning(result.size_m(), result.units)
    if warning:
        err.write(f"warning: {result.source} is {warning}\n")
    if args.connect:
        status = _import_live(result, args, summary, err)
        if status:
            return status
    if args.json:
        out.write(json.dumps(summary) + "\n")
    else:
        _text(summary, out)
    return 0


def _import_live(result: ImportResult, args: argparse.Namespace, summary: dict[str, Any],
                 err: TextIO) -> int:
    """Upload the meshes and add the import to the room; fills ``summary``'s ``group``."""
    from twin_app.core.ids import ROOT_ID
    from twin_app.core.ops import AddNode
    from twin_app.io.importers import import_ops
    from twin_app.net import SyncClient

    endpoint = args.connect if "://" in args.connect else f"tcp://{args.connect}"
    client = SyncClient(endpoint, args.room, args.token, args.name)
    problems: list[str] = []
    client.on_error.append(lambda code, reason: problems.append(f"{reason} ({code})"))
    refused: list[str] = []
    client.on_nack.append(lambda pending, code, reason: refused.append(f"{reason} ({code})"))

    def say(text: str) -> None:
        err.write(text + "\n")
        err.flush()

    def wait(cond: Callable[[], bool], what: str) -> bool:
        done = client.wait_for(lambda: cond() or bool(problems) or bool(refused), args.timeout)
        if done and (cond() or not (problems or refused)):
            return True
        reason = "; ".join(problems + refused) or f"timed out after {args.timeout:g} s"
        say(f"twin-import: {what} failed: {reason}")
        return False

    client.start()
    try:
        say(f"Joining room {args.room} at {endpoint}…")
        if not wait(lambda: client.synced, "joining the room"):
            return EXIT_ROOM
        doc = client.store.doc
        parent = _find_parent(doc, args.parent) if args.parent else ROOT_ID
        if parent is None:
            say(f"twin-import: no node with id or unique name {args.parent!r} in room {args.room}")
            return EXIT_ROOM
        blobs = result.blobs
        total = sum(len(b) for b in blobs.values()) or 1
        sent: dict[str, int] = {}
        last = [0.0]

        def on_progress(digest: str, direction: str, done: int, size: int) -> None:
            if direction != "up" or digest not in blobs:
                return
            sent[digest] = done
            now = time.monotonic()
            if now - last[0] > 0.5 or sum(sent.values()) >= total:
                last[0] = now
                say(f"[{100 * sum(sent.values()) / total:5.1f} %] Uploading meshes "
                    f"({len(blobs)} meshes, {total / 1e6:.1f} MB)")

        client.assets.on_progress.append(on_progress)
        # One mesh at a time: the client's agent answers a have-query for one upload as if
        # it covered every upload started before it, so overlapping queries can drop
        # meshes the server lacks. Waiting for each costs a round trip per distinct mesh.
        for digest, blob in blobs.items():
            client.assets.put(blob)
            if not wait(lambda d=digest, b=blob: sent.get(d, 0) >= len(b),  # type: ignore[misc]
                        "uploading the meshes"):
                return EXIT_ROOM
        batch = import_ops(result, doc, parent)
        first = batch.ops[0]
        assert isinstance(first, AddNode)
        group_id = first.node.id
        client.submit(batch, f"Import {result.source}")
        say(f"Adding {result.part_count} parts to room {args.room}…")
        if not wait(lambda: client.unacked_count == 0, "adding the parts"):
            return EXIT_ROOM
        if group_id not in client.store.doc:
            say("twin-import: the room did not keep the import")
            return EXIT_ROOM
        say(f"Imported {result.source} into room {args.room} as node {group_id}")
        summary["group"] = group_id
        summary["room"] = args.room
        return 0
    finally:
        client.close()


def _find_parent(doc: Any, wanted: str) -> str | None:
    if wanted in doc:
        return str(wanted)
    found = [n.id for n in doc.nodes.values() if n.name == wanted]
    return str(found[0]) if len(found) == 1 else None


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())

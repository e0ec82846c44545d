"""SceneVisual: the document's parts as a few composite actors, updated by change sets.

Design notes
------------
* **Blocks, not actors.** Every node with a mesh is one block (a ``vtkPolyData``) of a
  ``vtkMultiBlockDataSet`` drawn by one ``vtkCompositePolyDataMapper``. Opacity and
  visibility are per-block display attributes, so a restyle touches no geometry.
* **Colour through a lookup table.** Each block carries a constant point scalar, its slot
  in the shard (``slot + 0.5``), and each shard's mapper maps scalars through its own
  ``vtkLookupTable`` of ``SHARD_MAX_BLOCKS`` rows. A block's colour is its row; the rows are
  a numpy view on the table, so recolouring thousands of parts (a document batch, or a
  sensor overlay every frame) is a few fancy-indexed writes per shard and one ``Modified``
  instead of one ``SetBlockColor`` call per part. A float shadow of the rows keeps the
  exact colours (the table is 8-bit). What a block shows: the overlay colour if an
  overlay set one (``set_overlay_colors``), else the node's colour (placeholders: muted);
  then the selection or hover tint on top.
* **Shards.** The composite mapper uploads all blocks of its input into one vertex buffer,
  and any change to any block (even a colour) re-uploads that whole buffer: measured with
  2 M triangles in one composite, a one-part edit cost ~100–300 ms extra on the next frame.
  Blocks are therefore spread over a few composite actors ("shards") of at most
  ``SHARD_MAX_TRIANGLES`` triangles / ``SHARD_MAX_BLOCKS`` blocks; an edit re-uploads one
  shard. 5 000 parts / 2 M triangles is ~16 actors instead of 5 000 (frame time is the
  same as one composite). Blocks are filled in document pre-order, so siblings share a
  shard and moving a group touches few shards.
* **Baked transforms.** Composite mappers have no per-block matrix, so each block's points
  are its mesh's local vertices times the node's world matrix (numpy, written in place).
  World matrices are memoised per node and invalidated for a subtree when a transform or
  parent changes; only that subtree's blocks are re-baked.
* **Instances.** Blocks of one mesh hash share the decoded local vertices and one
  ``vtkCellArray`` of triangles (see ``meshes.MeshCache``); the blob is decoded once.
* **Placeholders.** A part whose blob is not available is drawn as its ``bbox`` property
  (else a small cube) in a muted translucent style; ``mesh_arrived`` swaps the geometry.
* **Visibility** is effective visibility: a hidden group hides its subtree. The VTK cell
  picker ignores block visibility, so ``pick`` detaches a hidden block it hit, picks again
  and restores it afterwards.
* **Selection and hover** tint the block colour and draw an outline (the node's oriented
  bounding box, or for a group the box around its parts) in an accent colour; peers get
  their own outline colour and a small camera frustum with their name.
* ``apply`` never renders: the caller coalesces renders (at most one per event-loop turn).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, TypeVar

import numpy as np
import numpy.typing as npt

from twin_app.core.changes import NODE, ChangeSet
from twin_app.core.document import DEFAULT_COLOR, Document, Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.xform import Matrix
from twin_app.core.xform import matrix as matrix_from_transform
from twin_app.io.typed import Float32Array, Float64Array
from twin_app.render._vtk import (
    clear_block,
    numpy_to_vtk,
    vtk_to_numpy,
    vtkActor,
    vtkCellArray,
    vtkCellPicker,
    vtkCompositeDataDisplayAttributes,
    vtkCompositePolyDataMapper,
    vtkLookupTable,
    vtkMultiBlockDataSet,
    vtkPoints,
    vtkPolyData,
    vtkProp,
    vtkRenderer,
)
from twin_app.render.meshes import (
    MeshCache,
    MeshEntry,
    MeshSource,
    box_vertices,
    placeholder_bounds,
)
from twin_app.render.overlays import (
    Label3D,
    LinesOverlay,
    boxes_lines,
    boxes_polydata,
    frustum_lines,
    line_polydata,
)
from twin_app.render.transforms import IDENTITY4, apply_matrix, box_corners

if TYPE_CHECKING:
    import pyvista

log = logging.getLogger(__name__)

SHARD_MAX_TRIANGLES = 131_072
SHARD_MAX_BLOCKS = 512
ACCENT: tuple[float, float, float] = (1.0, 0.55, 0.05)
HOVER: tuple[float, float, float] = (0.35, 0.75, 1.0)
SELECT_TINT = 0.35
HOVER_TINT = 0.25
PLACEHOLDER_COLOR: tuple[float, float, float] = (0.60, 0.66, 0.76)
PLACEHOLDER_OPACITY = 0.35
BACKDROP_SPAN = 0.6  # a part spanning this much of the plant on two axes is backdrop
OUTLINE_PAD = 0.01  # outlines sit 1 % (+1 mm) outside the part so they are not buried
_GEOMETRY_FIELDS = frozenset({"transform", "parent"})
_VISIBILITY_FIELDS = frozenset({"visible", "parent"})
_MESH_FIELDS = frozenset({"mesh", "prop:bbox"})
_STYLE_FIELDS = frozenset({"color", "opacity"})
_COLOR_ONLY = frozenset({"color"})
_T = TypeVar("_T")


class _Shard:
    """One composite actor: a multiblock, its mapper, per-block attributes and the lookup
    table holding each slot's colour."""

    __slots__ = ("actor", "attrs", "free", "lut", "mapper", "mb", "rgb", "table", "triangles",
                 "used")

    def __init__(self, renderer: vtkRenderer) -> None:
        self.mb = vtkMultiBlockDataSet()
        self.attrs = vtkCompositeDataDisplayAttributes()
        self.lut = vtkLookupTable()
        self.lut.SetNumberOfTableValues(SHARD_MAX_BLOCKS)
        self.lut.SetTableRange(0.0, float(SHARD_MAX_BLOCKS))
        self.lut.Build()
        # Rows as numpy (shared memory): a bulk write then ``touch`` recolours the shard.
        self.table = vtk_to_numpy(self.lut.GetTable()).reshape(-1, 4)[:SHARD_MAX_BLOCKS]
        self.table[:] = (*(round(c * 255) for c in DEFAULT_COLOR), 255)
        self.rgb = np.tile(np.asarray(DEFAULT_COLOR, np.float64), (SHARD_MAX_BLOCKS, 1))
        self.mapper = vtkCompositePolyDataMapper()
        self.mapper.SetInputDataObject(self.mb)
        self.mapper.SetCompositeDataDisplayAttributes(self.attrs)
        self.mapper.SetLookupTable(self.lut)
        self.mapper.SetScalarModeToUsePointData()
        self.mapper.SetColorModeToMapScalars()
        self.mapper.SetScalarRange(0.0, float(SHARD_MAX_BLOCKS))
        self.mapper.ScalarVisibilityOn()
        self.actor = vtkActor()
        self.actor.SetMapper(self.mapper)
        self.actor.GetProperty().SetColor(*DEFAULT_COLOR)
        renderer.AddActor(self.actor)
        self.free: list[int] = []
        self.used = 0
        self.triangles = 0
        self.touch()

    def set_rows(self, slots: npt.NDArray[np.intp], rgb: npt.NDArray[np.float64]) -> None:
        """Write the colours ``rgb`` (k, 3; 0..1) of ``slots``; call ``touch`` after."""
        self.rgb[slots] = rgb
        self.table[slots, :3] = np.clip(rgb * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)

    def touch(self) -> None:
        """Tell VTK the table changed. Setting one entry through the API marks the table as
        inserted (not only modified), so ``Build`` never regenerates it from its hue ramp."""
        r, g, b, a = (float(v) / 255.0 for v in self.table[0])
        self.lut.SetTableValue(0, r, g, b, a)

    def fits(self, triangles: int) -> bool:
        return self.used == 0 or (
            self.used < SHARD_MAX_BLOCKS and self.triangles + triangles <= SHARD_MAX_TRIANGLES
        )

    def insert(self, pd: vtkPolyData, triangles: int) -> int:
        if self.free:
            slot = self.free.pop()
        else:
            slot = self.mb.GetNumberOfBlocks()
            self.mb.SetNumberOfBlocks(slot + 1)
        self.mb.SetBlock(slot, pd)
        self.used += 1
        self.triangles += triangles
        return slot

    def remove(self, pd: vtkPolyData, slot: int, triangles: int) -> None:
        clear_block(self.mb, slot)
        self.attrs.RemoveBlockColor(pd)
        self.attrs.RemoveBlockOpacity(pd)
        self.attrs.RemoveBlockVisibility(pd)
        self.free.append(slot)
        self.used -= 1
        self.triangles -= triangles


@dataclass(slots=True, eq=False)
class _Block:
    """The drawn form of one node."""

    node_id: str
    pd: vtkPolyData
    shard: _Shard
    attrs: vtkCompositeDataDisplayAttributes
    slot: int
    mesh: str
    placeholder: bool
    local: Float32Array
    world: Float32Array
    local_bounds: tuple[float, ...]
    triangles: int
    scalars: Float32Array
    visible: bool = True


@dataclass(slots=True)
class _Peer:
    name: str
    color: tuple[float, float, float]
    selection: frozenset[str]
    camera: tuple[float, ...] | None
    lines: LinesOverlay
    label: Label3D


@dataclass(slots=True)
class _Plan:
    """Where the ids of one ``set_overlay_colors`` call live: per shard, the slots and the
    rows of the colour array that go there."""

    ids: Sequence[str]
    gen: int
    batch: int
    groups: list[tuple[_Shard, npt.NDArray[np.intp], npt.NDArray[np.intp]]]
    idset: frozenset[str]


class BlockState(TypedDict):
    """A drawn node as ``SceneVisual.block_state`` reports it."""

    points: Float32Array  # world-space vertices (n×3), the array VTK draws
    color: tuple[float, ...]  # the block colour: overlay or node colour, tinted when highlighted
    opacity: float
    visible: bool  # the block attribute, i.e. effective visibility
    placeholder: bool  # drawn as its bounding box until the mesh arrives
    mesh: str
    polydata: vtkPolyData


def _mix(a: Sequence[float], b: Sequence[float], t: float) -> tuple[float, float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


class SceneVisual:
    """Draws a ``Document``'s parts in a pyvista plotter and keeps them in sync.

    ``mesh_source(hash)`` returns a mesh blob's bytes or ``None`` if it has not arrived.
    """

    def __init__(self, plotter: pyvista.BasePlotter, mesh_source: MeshSource) -> None:
        self._renderer: vtkRenderer = plotter.renderer
        self._meshes = MeshCache(mesh_source)
        self._shards: list[_Shard] = []
        self._blocks: dict[str, _Block] = {}
        self._by_pd: dict[vtkPolyData, _Block] = {}
        self._by_mesh: dict[str, set[str]] = {}
        self._world: dict[str, Matrix] = {}
        self._evis: dict[str, bool] = {}
        self._doc: Document | None = None
        self._selection: frozenset[str] = frozenset()
        self._sel_blocks: set[str] = set()
        self._hover: str | None = None
        self._hover_blocks: set[str] = set()
        self._peers: dict[str, _Peer] = {}
        # Overlay colours: node → (batch, row) of an (k, 3) array given to
        # set_overlay_colors; the last call's id → slot plan is kept for the next frame.
        self._overlay: dict[str, tuple[int, int]] = {}
        self._batches: dict[int, npt.NDArray[np.float64]] = {}
        self._batch_refs: dict[int, int] = {}
        self._next_batch = 0
        self._plan: _Plan | None = None
        self._gen = 0  # bumped whenever a block is created or dropped
        self._sel_lines = LinesOverlay(self._renderer, ACCENT, width=3.0)
        self._hover_lines = LinesOverlay(self._renderer, HOVER, width=1.5)
        self._picker = vtkCellPicker()
        self._picker.SetTolerance(0.0005)
        self._closed = False

    # -- whole-document --------------------------------------------------------------
    def rebuild(self, doc: Document) -> None:
        """Drop everything and draw ``doc`` from scratch (used at load and on reset)."""
        self._clear_blocks()
        self._doc = doc
        self._world = {}
        self._evis = {}
        for node in doc.walk():
            if node.mesh is not None:
                self._create_block(doc, node)
        self._recompute_highlight_sets()
        self._refresh_overlays()

    def apply(self, doc: Document, changes: ChangeSet) -> None:
        """Bring the drawing in line with ``doc`` after ``changes``; does not render.

        Creates/removes blocks for created/removed nodes, re-bakes the blocks of a subtree
        whose transform or parent changed, updates block attributes for colour, opacity and
        visibility, rebuilds one block when its mesh changed, and rebuilds all on reset.
        """
        if changes.reset or doc is not self._doc:
            self.rebuild(doc)
            return
        nodes = doc.nodes
        blocks = self._blocks
        geom_roots: list[str] = []
        vis_roots: list[str] = []
        remesh: list[str] = []
        removed = False
        # A style-only change (the bulk of a batch recolour) is applied in this first pass:
        # it never needs the tree memos and no later step of this call rebuilds its block.
        # Colours are gathered and written to the shards' tables in one go at the end.
        recolour: list[str] = []
        for nid, fields in changes.nodes.items():
            if fields <= _STYLE_FIELDS:
                if nid not in blocks:
                    continue
                if "color" in fields:
                    recolour.append(nid)
                if "opacity" in fields:
                    node = nodes.get(nid)
                    if node is not None:
                        blk = blocks[nid]
                        blk.attrs.SetBlockOpacity(blk.pd, self._opacity_of(node, blk))
                continue
            if nid not in nodes:
                removed = True
                self._drop_block(nid)
                self._world.pop(nid, None)
                self._evis.pop(nid, None)
                continue
            if NODE in fields:
                # Created (or removed and re-created in one batch): redo it all.
                self._drop_block(nid)
                geom_roots.append(nid)
                vis_roots.append(nid)
                remesh.append(nid)
                continue
            if not fields.isdisjoint(_GEOMETRY_FIELDS):
                geom_roots.append(nid)
            if not fields.isdisjoint(_VISIBILITY_FIELDS):
                vis_roots.append(nid)
            if not fields.isdisjoint(_MESH_FIELDS):
                remesh.append(nid)
            if "color" in fields or "opacity" in fields:
                block = blocks.get(nid)
                if block is not None:
                    recolour.append(nid)
                    block.attrs.SetBlockOpacity(block.pd, self._opacity_of(nodes[nid], block))

        geom_nodes = self._invalidate(doc, geom_roots, self._world)
        vis_nodes = self._invalidate(doc, vis_roots, self._evis)
        done: set[str] = set()
        for nid in remesh:
            node = nodes[nid]
            self._drop_block(nid)
            if node.mesh is not None:
                self._create_block(doc, node)
            done.add(nid)
        for nid in geom_nodes:
            block = blocks.get(nid)
            if block is not None and nid not in done:
                self._bake(block, self._world_of(doc, nid))
        for nid in vis_nodes:
            block = blocks.get(nid)
            if block is not None and nid not in done:
                self._set_visibility(block, self._visible_of(doc, nid))
        if recolour:
            self._write_colors(recolour)
        structural = removed or bool(remesh) or bool(vis_nodes)
        if (structural or geom_nodes) and (self._selection or self._hover or self._peers):
            if structural:
                self._recompute_highlight_sets()
            self._refresh_overlays()

    def placeholder_meshes(self) -> set[str]:
        """Mesh hashes of parts still drawn as their bounding box (mesh not here yet)."""
        return {b.mesh for b in self._blocks.values() if b.placeholder and b.mesh}

    def mesh_arrived(self, doc: Document, mesh_hash: str) -> None:
        """Replace the placeholders of every node using ``mesh_hash`` with the real mesh."""
        self._doc = doc
        waiting = [nid for nid in self._by_mesh.get(mesh_hash, ())
                   if self._blocks[nid].placeholder]
        for nid in waiting:
            node = doc.nodes.get(nid)
            self._drop_block(nid)
            if node is not None and node.mesh is not None:
                self._create_block(doc, node)
        if waiting:
            self._refresh_overlays()

    # -- highlight -------------------------------------------------------------------
    def set_selection(self, ids: Iterable[str]) -> None:
        """Highlight this user's selection (tint + accent outline); replaces the last one."""
        self._selection = frozenset(ids)
        self._recompute_highlight_sets()
        self._refresh_overlays()

    @property
    def selection(self) -> frozenset[str]:
        """The ids last given to ``set_selection``."""
        return self._selection

    @property
    def hover(self) -> str | None:
        """The id last given to ``set_hover``."""
        return self._hover

    def set_hover(self, node_id: str | None) -> None:
        """Highlight the part under the cursor (or nothing)."""
        if node_id == self._hover:
            return
        self._hover = node_id
        self._recompute_highlight_sets()
        self._refresh_overlays()

    # -- overlay colours -------------------------------------------------------------
    def set_overlay_colors(self, node_ids: Sequence[str],
                           rgb: npt.ArrayLike | None) -> None:
        """Show ``node_ids`` in the colours ``rgb`` (k, 3; 0..1) instead of their own, or
        give them back their own colours (``rgb=None``). Ids without a block are kept and
        apply once the block exists. Selection and hover still tint on top. Does not
        render. Raises ``ValueError`` if ``rgb`` is not k×3 for k ids.

        Passing the same ``node_ids`` object again (e.g. a tuple an overlay keeps) reuses
        the last call's id → slot plan while no block was created or dropped: a frame's
        recolour is then a few array writes per shard."""
        if rgb is None:
            for nid in node_ids:
                self._unref(self._overlay.pop(nid, None))
            if self._plan is not None and self._plan.ids is node_ids:
                self._plan = None
            self._write_colors(node_ids)
            return
        arr = np.asarray(rgb, dtype=np.float64)
        if arr.shape != (len(node_ids), 3):
            raise ValueError(f"expected {len(node_ids)}×3 colours, got shape {arr.shape}")
        arr = np.clip(arr, 0.0, 1.0)
        plan = self._plan
        if plan is None or plan.ids is not node_ids or plan.gen != self._gen:
            plan = self._plan = self._make_plan(node_ids)
        self._batches[plan.batch] = arr
        for shard, slots, sel in plan.groups:
            shard.set_rows(slots, arr[sel])
            shard.touch()
        tinted = self._sel_blocks | self._hover_blocks
        if tinted and not tinted.isdisjoint(plan.idset):
            self._write_colors(tinted & plan.idset)

    def _make_plan(self, ids: Sequence[str]) -> _Plan:
        """Bind ``ids`` to a new colour batch and group their blocks by shard."""
        batch = self._next_batch
        self._next_batch += 1
        over = self._overlay
        refs = self._batch_refs
        refs[batch] = 0
        for row, nid in enumerate(ids):
            self._unref(over.get(nid))
            over[nid] = (batch, row)
        refs[batch] = len(ids)
        blocks = self._blocks
        rows = [(r, b) for r, b in enumerate(map(blocks.get, ids)) if b is not None]
        index = {id(sh): k for k, sh in enumerate(self._shards)}
        which = np.fromiter((index[id(b.shard)] for _, b in rows), np.intp, len(rows))
        slots = np.fromiter((b.slot for _, b in rows), np.intp, len(rows))
        sel = np.fromiter((r for r, _ in rows), np.intp, len(rows))
        groups = []
        for k in np.unique(which):
            mask = which == k
            groups.append((self._shards[int(k)], slots[mask], sel[mask]))
        return _Plan(ids, self._gen, batch, groups, frozenset(ids))

    def _unref(self, ref: tuple[int, int] | None) -> None:
        if ref is None:
            return
        n = self._batch_refs.get(ref[0], 0) - 1
        if n <= 0:
            self._batch_refs.pop(ref[0], None)
            self._batches.pop(ref[0], None)
        else:
            self._batch_refs[ref[0]] = n

    def overlay_ids(self) -> set[str]:
        """Ids that currently show an overlay colour."""
        return set(self._overlay)

    def _write_colors(self, ids: Iterable[str]) -> None:
        """Recompute the shown colour of ``ids`` (overlay or own, tint) and write it."""
        doc = self._doc
        if doc is None:
            return
        blocks, nodes = self._blocks, doc.nodes
        todo = [nid for nid in ids if nid in blocks and nid in nodes]
        if todo:
            rgb = np.array([self._color_of(nodes[nid], blocks[nid]) for nid in todo], np.float64)
            self._write_rows(todo, rgb)

    def _write_rows(self, ids: Sequence[str], rgb: npt.NDArray[np.float64]) -> None:
        """Write colours (k, 3) of blocks ``ids`` (unknown ids skipped), grouped by shard."""
        blocks = self._blocks
        got = [blocks.get(nid) for nid in ids]
        found = [b for b in got if b is not None]
        if not found:
            return
        if len(found) != len(got):
            rgb = rgb[np.fromiter((b is not None for b in got), bool, len(got))]
        shards = [b.shard for b in found]
        slots = np.fromiter((b.slot for b in found), np.intp, len(found))
        first = shards[0]
        if all(sh is first for sh in shards):
            first.set_rows(slots, rgb)
            first.touch()
            return
        index = {id(sh): k for k, sh in enumerate(self._shards)}
        which = np.fromiter((index[id(sh)] for sh in shards), np.intp, len(shards))
        for k in np.unique(which):
            mask = which == k
            shard = self._shards[int(k)]
            shard.set_rows(slots[mask], rgb[mask])
            shard.touch()

    def set_peer(self, session: str, name: str, color: tuple[float, float, float],
                 selection: Iterable[str], camera: Sequence[float] | None) -> None:
        """Show another user's selection outlined in ``color`` and their camera frustum.

        ``camera`` is 9 floats (position, focal point, view-up) or ``None``.
        """
        peer = self._peers.get(session)
        cam = tuple(float(c) for c in camera) if camera is not None and len(camera) == 9 else None
        if peer is None:
            peer = _Peer(name, color, frozenset(selection), cam,
                         LinesOverlay(self._renderer, color, width=2.0),
                         Label3D(self._renderer, name, color))
            self._peers[session] = peer
        else:
            peer.name, peer.color = name, color
            peer.selection, peer.camera = frozenset(selection), cam
            peer.lines.set_color(color)
        self._refresh_peer(peer)

    def remove_peer(self, session: str) -> None:
        """Stop showing a peer (no-op if unknown)."""
        peer = self._peers.pop(session, None)
        if peer is not None:
            peer.lines.close()
            peer.label.close()

    # -- queries ---------------------------------------------------------------------
    def pick(self, x: int, y: int) -> str | None:
        """Return the id of the visible part at display position ``(x, y)`` (VTK pixels,
        origin bottom-left), or ``None`` if there is none."""
        detached: list[_Block] = []
        try:
            for _ in range(64):
                if not self._picker.Pick(x, y, 0.0, self._renderer):
                    return None
                block = self._by_pd.get(self._picker.GetDataSet())
                if block is None:
                    return None
                if block.visible:
                    return block.node_id
                # The cell picker ignores block visibility: take the hidden block out of
                # its multiblock for this pick only.
                clear_block(block.shard.mb, block.slot)
                detached.append(block)
            return None
        finally:
            for block in detached:
                block.shard.mb.SetBlock(block.slot, block.pd)

    def node_bounds(self, ids: Iterable[str]) -> tuple[float, ...] | None:
        """Return world ``(xmin, xmax, ymin, ymax, zmin, zmax)`` of the parts in the subtrees
        of ``ids`` (VTK bounds order), or ``None`` if none of them draws anything."""
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for nid in self._drawable_under(ids):
            b = self._blocks[nid].pd.GetBounds()
            lo = np.minimum(lo, (b[0], b[2], b[4]))
            hi = np.maximum(hi, (b[1], b[3], b[5]))
        if not np.all(np.isfinite(lo)):
            return None
        return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]), float(lo[2]),
                float(hi[2]))

    def scene_bounds(self) -> tuple[float, ...] | None:
        """Return world bounds (VTK order) of every visible part, or ``None``."""
        return self.node_bounds([ROOT_ID]) if self._doc is not None else None

    def world_matrix(self, node_id: str) -> Matrix | None:
        """Return the node's world matrix (4×4) or ``None`` if the node is unknown."""
        if self._doc is None or node_id not in self._doc.nodes:
            return None
        return self._world_of(self._doc, node_id).copy()

    def local_bounds(self, node_id: str) -> tuple[float, ...] | None:
        """Return the local-space box (xmin, ymin, zmin, xmax, ymax, zmax) of a node: its
        mesh bounds (or placeholder box) for a part, the box around its parts expressed in
        its own frame for a group; ``None`` if it draws nothing."""
        block = self._blocks.get(node_id)
        if block is not None:
            return block.local_bounds
        if self._doc is None:
            return None
        parts = self._drawable_under([node_id])
        if not parts:
            return None
        inv = np.linalg.inv(self._world_of(self._doc, node_id))
        pts = np.concatenate([apply_matrix(inv @ self._world_of(self._doc, p),
                                           box_corners(self._blocks[p].local_bounds))
                              for p in parts])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return (*(float(v) for v in lo), *(float(v) for v in hi))

    def block_count(self) -> int:
        """Number of drawn blocks (one per node with a mesh)."""
        return len(self._blocks)

    def node_ids(self) -> set[str]:
        """Ids of the nodes that have a block."""
        return set(self._blocks)

    def block_state(self, node_id: str) -> BlockState | None:
        """Return a drawn node's state for tests and diagnostics (see ``BlockState``), or
        ``None`` if the node has no block."""
        block = self._blocks.get(node_id)
        if block is None:
            return None
        attrs = block.shard.attrs
        return {
            "points": block.world,
            "color": tuple(float(c) for c in block.shard.rgb[block.slot]),
            "opacity": attrs.GetBlockOpacity(block.pd),
            "visible": bool(attrs.GetBlockVisibility(block.pd)),
            "placeholder": block.placeholder,
            "mesh": block.mesh,
            "polydata": block.pd,
        }

    @property
    def actors(self) -> list[vtkProp]:
        """Every actor this visual has added to the renderer."""
        out: list[vtkProp] = [s.actor for s in self._shards]
        out += [self._sel_lines.actor, self._hover_lines.actor]
        for peer in self._peers.values():
            out += [peer.lines.actor, peer.label.actor]
        return out

    @property
    def mesh_cache(self) -> MeshCache:
        """The decoded-mesh cache (exposed for diagnostics and tests)."""
        return self._meshes

    def outline_boxes(self, ids: Iterable[str]) -> list[Float64Array]:
        """World corners (8, 3) of the outline boxes of ``ids``: a part's oriented box, a
        group's world-aligned box around its parts; hidden parts draw none."""
        return self._outline_boxes(ids)

    @property
    def selection_outline_count(self) -> int:
        """Number of outline segments drawn for the own selection."""
        return self._sel_lines.line_count

    def occupied(self, box: Sequence[float]) -> bool:
        """True if the world box ``(xmin, ymin, zmin, xmax, ymax, zmax)`` overlaps a visible
        part other than the backdrop (floor, walls)."""
        lo, hi = np.asarray(box[:3]), np.asarray(box[3:])
        for nid, block in self._blocks.items():
            if not block.visible:
                continue
            b = block.pd.GetBounds()
            if np.all(lo < (b[1], b[3], b[5])) and np.all(hi > (b[0], b[2], b[4])) \
                    and not self.is_backdrop(nid):
                return True
        return False

    def is_backdrop(self, node_id: str) -> bool:
        """True for a part that spans most of the plant on two axes (a floor slab, a hall
        wall): hovering it should not light it up."""
        block = self._blocks.get(node_id)
        scene = self.scene_bounds()
        if block is None or scene is None:
            return False
        b = block.pd.GetBounds()
        spans = sum(1 for i in (0, 2, 4) if scene[i + 1] - scene[i] > 1e-9
                    and b[i + 1] - b[i] >= BACKDROP_SPAN * (scene[i + 1] - scene[i]))
        return spans >= 2

    def peer_names(self) -> dict[str, str]:
        """Session → name of every person drawn (outline, frustum and name label)."""
        return {s: p.name for s, p in self._peers.items()}

    def peer_line_count(self, session: str) -> int:
        """Number of line segments drawn for a peer (outlines + frustum); 0 if unknown."""
        peer = self._peers.get(session)
        return 0 if peer is None else peer.lines.line_count

    def close(self) -> None:
        """Remove every actor this visual created and drop its data."""
        if self._closed:
            return
        self._closed = True
        self._clear_blocks()
        for peer in list(self._peers):
            self.remove_peer(peer)
        self._sel_lines.close()
        self._hover_lines.close()
        self._meshes.clear()
        self._doc = None

    # -- blocks ----------------------------------------------------------------------
    def _clear_blocks(self) -> None:
        self._gen += 1
        for shard in self._shards:
            self._renderer.RemoveActor(shard.actor)
        self._shards = []
        self._blocks = {}
        self._by_pd = {}
        self._by_mesh = {}
        self._meshes.clear()

    def _shard_for(self, triangles: int) -> _Shard:
        # Newest shard first: during a rebuild that keeps siblings together.
        for shard in reversed(self._shards):
            if shard.fits(triangles):
                return shard
        shard = _Shard(self._renderer)
        self._shards.append(shard)
        return shard

    def _create_block(self, doc: Document, node: Node) -> None:
        assert node.mesh is not None
        self._gen += 1
        entry: MeshEntry | None = self._meshes.acquire(node.mesh)
        cells: vtkCellArray
        if entry is not None:
            local, cells, triangles, lbounds = entry.vertices, entry.cells, entry.triangles, entry.bounds
            placeholder = False
        else:
            lbounds = placeholder_bounds(node.props.get("bbox"))
            local, cells, triangles = box_vertices(lbounds), self._meshes.box_cells, 12
            placeholder = True
        world = np.empty_like(local)
        pts = vtkPoints()
        pts.SetData(numpy_to_vtk(world, deep=False))  # keeps a reference to ``world``
        pd = vtkPolyData()
        pd.SetPoints(pts)
        pd.SetPolys(cells)
        shard = self._shard_for(triangles)
        slot = shard.insert(pd, triangles)
        # Constant scalar = slot (+0.5 so the table lookup never rounds down a row).
        scalars = np.full(len(local), slot + 0.5, dtype=np.float32)
        pd.GetPointData().SetScalars(numpy_to_vtk(scalars, deep=False))
        block = _Block(node.id, pd, shard, shard.attrs, slot, node.mesh, placeholder, local, world, lbounds,
                       triangles, scalars)
        self._blocks[node.id] = block
        self._by_pd[pd] = block
        self._by_mesh.setdefault(node.mesh, set()).add(node.id)
        self._bake(block, self._world_of(doc, node.id))
        rgb = np.asarray([self._color_of(node, block)], np.float64)
        shard.set_rows(np.array([slot], np.intp), rgb)
        shard.touch()
        shard.attrs.SetBlockOpacity(pd, self._opacity_of(node, block))
        self._set_visibility(block, self._visible_of(doc, node.id))

    def _drop_block(self, node_id: str) -> None:
        block = self._blocks.pop(node_id, None)
        if block is None:
            return
        self._gen += 1
        block.shard.remove(block.pd, block.slot, block.triangles)
        del self._by_pd[block.pd]
        users = self._by_mesh.get(block.mesh)
        if users is not None:
            users.discard(node_id)
            if not users:
                del self._by_mesh[block.mesh]
        if not block.placeholder:
            self._meshes.release(block.mesh)

    @staticmethod
    def _bake(block: _Block, world: Matrix) -> None:
        a = world[:3, :3].T.astype(np.float32)
        np.matmul(block.local, a, out=block.world)
        block.world += world[:3, 3].astype(np.float32)
        block.pd.GetPoints().Modified()
        block.pd.Modified()

    @staticmethod
    def _set_visibility(block: _Block, visible: bool) -> None:
        block.visible = visible
        block.shard.attrs.SetBlockVisibility(block.pd, visible)

    def _color_of(self, node: Node, block: _Block) -> tuple[float, float, float]:
        ref = self._overlay.get(node.id)
        base: Sequence[float]
        if ref is not None:
            base = self._batches[ref[0]][ref[1]]
        else:
            base = PLACEHOLDER_COLOR if block.placeholder else (node.color or DEFAULT_COLOR)
        if node.id in self._sel_blocks:
            return _mix(base, ACCENT, SELECT_TINT)
        if node.id in self._hover_blocks:
            return _mix(base, HOVER, HOVER_TINT)
        return (float(base[0]), float(base[1]), float(base[2]))

    @staticmethod
    def _opacity_of(node: Node, block: _Block) -> float:
        return node.opacity * PLACEHOLDER_OPACITY if block.placeholder else node.opacity

    # -- tree memos ------------------------------------------------------------------
    @staticmethod
    def _invalidate(doc: Document, roots: list[str], memo: dict[str, _T]) -> list[str]:
        """Forget memo entries of the roots' subtrees and return those subtrees' ids."""
        if not roots:
            return []
        seen: set[str] = set()
        out: list[str] = []
        for root in roots:
            if root in seen:
                continue
            for nid in doc.subtree(root):
                if nid not in seen:
                    seen.add(nid)
                    out.append(nid)
                    memo.pop(nid, None)
        return out

    def _world_of(self, doc: Document, node_id: str) -> Matrix:
        world = self._world
        m = world.get(node_id)
        if m is not None:
            return m
        chain: list[Node] = []
        cur: str | None = node_id
        while cur is not None and cur not in world:
            node = doc.nodes.get(cur)
            if node is None:
                break
            chain.append(node)
            cur = node.parent
        base = world[cur] if cur is not None and cur in world else IDENTITY4
        for node in reversed(chain):
            base = base @ matrix_from_transform(node.transform)
            world[node.id] = base
        return base

    def _visible_of(self, doc: Document, node_id: str) -> bool:
        evis = self._evis
        v = evis.get(node_id)
        if v is not None:
            return v
        chain: list[Node] = []
        cur: str | None = node_id
        while cur is not None and cur not in evis:
            node = doc.nodes.get(cur)
            if node is None:
                break
            chain.append(node)
            cur = node.parent
        vis = evis[cur] if cur is not None and cur in evis else True
        for node in reversed(chain):
            vis = vis and node.visible
            evis[node.id] = vis
        return vis

    # -- highlight internals ---------------------------------------------------------
    def _drawable_under(self, ids: Iterable[str]) -> list[str]:
        doc = self._doc
        if doc is None:
            return []
        out: list[str] = []
        seen: set[str] = set()
        for nid in ids:
            if nid not in doc.nodes or nid in seen:
                continue
            for sub in doc.subtree(nid):
                if sub not in seen:
                    seen.add(sub)
                    block = self._blocks.get(sub)
                    if block is not None and block.visible:
                        out.append(sub)
        return out

    def _recompute_highlight_sets(self) -> None:
        old = self._sel_blocks | self._hover_blocks
        self._sel_blocks = set(self._drawable_under(self._selection))
        self._hover_blocks = set(self._drawable_under([self._hover] if self._hover else []))
        if self._doc is None:
            return
        self._write_colors(old | self._sel_blocks | self._hover_blocks)

    def _outline_boxes(self, ids: Iterable[str]) -> list[Float64Array]:
        """Oriented boxes for parts, one world-aligned box per group."""
        doc = self._doc
        if doc is None:
            return []
        boxes: list[Float64Array] = []
        for nid in ids:
            if nid not in doc.nodes:
                continue
            block = self._blocks.get(nid)
            if block is not None:
                if not block.visible:
                    continue
                lb = np.asarray(block.local_bounds, dtype=np.float64)
                pad = (lb[3:] - lb[:3]) * OUTLINE_PAD + 0.001
                corners = box_corners(np.concatenate((lb[:3] - pad, lb[3:] + pad)))
                boxes.append(apply_matrix(self._world_of(doc, nid), corners))
                continue
            b = self.node_bounds([nid])
            if b is not None:
                grow = max(b[1] - b[0], b[3] - b[2], b[5] - b[4]) * OUTLINE_PAD + 0.001
                boxes.append(box_corners((b[0] - grow, b[2] - grow, b[4] - grow,
                                          b[1] + grow, b[3] + grow, b[5] + grow)))
        return boxes

    def _refresh_overlays(self) -> None:
        self._sel_lines.set_polydata(boxes_polydata(self._outline_boxes(self._selection)))
        hover = [self._hover] if self._hover and self._hover not in self._selection else []
        self._hover_lines.set_polydata(boxes_polydata(self._outline_boxes(hover)))
        for peer in self._peers.values():
            self._refresh_peer(peer)

    def _refresh_peer(self, peer: _Peer) -> None:
        parts = [boxes_lines(self._outline_boxes(peer.selection))]
        label_at: Float64Array | None = None
        if peer.camera is not None:
            try:
                fpts, fedges = frustum_lines(peer.camera)
            except ValueError:
                log.debug("peer %s sent a degenerate camera", peer.name)
            else:
                parts.append((fpts, fedges))
                label_at = fpts[-1]
        offset = 0
        all_pts, all_edges = [], []
        for pts, edges in parts:
            all_pts.append(pts)
            all_edges.append(edges + offset)
            offset += len(pts)
        peer.lines.set_polydata(line_polydata(np.concatenate(all_pts), np.concatenate(all_edges)))
        peer.label.update(peer.name, peer.color,
                          None if label_at is None else tuple(float(v) for v in label_at))

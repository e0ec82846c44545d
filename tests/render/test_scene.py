"""SceneVisual: the document drawn as composite blocks, kept in step by change sets."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from tests.render.conftest import CUBE, CUBE_HASH, TETRA, TETRA_HASH, Source, line_doc, t
from twin_app.core import fracindex, meshblob
from twin_app.core.changes import ChangeSet
from twin_app.core.document import DEFAULT_COLOR, Document, Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Batch, RemoveNode, Reparent, SetField, apply
from twin_app.core.xform import matrix as matrix_from_transform
from twin_app.render import SceneVisual, set_standard_view
from twin_app.render.scene import ACCENT, PLACEHOLDER_OPACITY

pytestmark = pytest.mark.vtk

CUBE_V = meshblob.decode(CUBE)[0].astype(np.float64)


def world_points(local: np.ndarray, *transforms: tuple[float, ...]) -> np.ndarray:
    m = np.eye(4)
    for tr in transforms:
        m = m @ matrix_from_transform(tr)
    return local @ m[:3, :3].T + m[:3, 3]


def state(sv: SceneVisual, nid: str) -> dict:
    s = sv.block_state(nid)
    assert s is not None, f"{nid} has no block"
    return s


def display_point(plotter, xyz) -> tuple[int, int]:
    ren = plotter.renderer
    ren.SetWorldPoint(*xyz, 1.0)
    ren.WorldToDisplay()
    x, y, _ = ren.GetDisplayPoint()
    return round(x), round(y)


@pytest.fixture
def scene(plotter, source):
    doc = line_doc()
    sv = SceneVisual(plotter, source)
    sv.rebuild(doc)
    yield doc, sv
    sv.close()


def test_rebuild_draws_one_block_per_mesh_node_with_its_style(scene):
    _doc, sv = scene
    assert sv.block_count() == 3
    assert sv.node_ids() == {"r1", "r2", "cab"}  # the group and the sensor draw nothing
    assert state(sv, "r1")["color"] == pytest.approx(DEFAULT_COLOR)  # colour None → grey
    assert state(sv, "cab")["color"] == pytest.approx((0.1, 0.2, 0.9))
    assert state(sv, "r1")["visible"] and state(sv, "r1")["opacity"] == 1.0


def test_points_are_baked_with_the_world_matrix(scene):
    doc, sv = scene
    line, r1, r2 = (doc.nodes[i].transform for i in ("line", "r1", "r2"))
    assert state(sv, "r1")["points"] == pytest.approx(world_points(CUBE_V, line, r1), abs=1e-5)
    assert state(sv, "r2")["points"] == pytest.approx(world_points(CUBE_V, line, r2), abs=1e-5)
    # r1 is turned 90° about Z at x=10: its local +X corner lands on world +Y.
    assert state(sv, "r1")["points"][4] == pytest.approx((10.0, 1.0, 0.0), abs=1e-5)
    assert sv.node_bounds(["r2"]) == pytest.approx((13, 15, 0, 2, 0, 2), abs=1e-5)


def test_moving_a_group_retransforms_its_descendants_only(scene):
    doc, sv = scene
    cab_before = state(sv, "cab")["points"].copy()
    cab_mtime = state(sv, "cab")["polydata"].GetMTime()
    pd_r1 = state(sv, "r1")["polydata"]
    _, ch = apply(doc, SetField("line", "transform", t(0.0, 5.0, 1.0)))
    sv.apply(doc, ch)
    line, r1 = doc.nodes["line"].transform, doc.nodes["r1"].transform
    assert state(sv, "r1")["points"] == pytest.approx(world_points(CUBE_V, line, r1), abs=1e-5)
    assert state(sv, "r1")["polydata"] is pd_r1  # re-baked in place, not rebuilt
    assert state(sv, "cab")["points"] == pytest.approx(cab_before)
    assert state(sv, "cab")["polydata"].GetMTime() == cab_mtime  # untouched


def test_reparent_moves_block_into_the_new_parent_frame(scene):
    doc, sv = scene
    _, ch = apply(doc, Reparent("cab", "line", "Z"))
    sv.apply(doc, ch)
    local = meshblob.decode(TETRA)[0].astype(np.float64)
    expected = world_points(local, doc.nodes["line"].transform, doc.nodes["cab"].transform)
    assert state(sv, "cab")["points"] == pytest.approx(expected, abs=1e-5)


def test_colour_and_opacity_edits_touch_attributes_not_geometry(scene):
    doc, sv = scene
    pd = state(sv, "r2")["polydata"]
    mtime = pd.GetMTime()
    _, ch = apply(doc, Batch((SetField("r2", "color", (1.0, 0.0, 0.0)),
                              SetField("r2", "opacity", 0.4))))
    sv.apply(doc, ch)
    assert state(sv, "r2")["color"] == pytest.approx((1.0, 0.0, 0.0))
    assert state(sv, "r2")["opacity"] == pytest.approx(0.4)
    assert state(sv, "r2")["polydata"] is pd and pd.GetMTime() == mtime
    _, ch = apply(doc, SetField("r2", "color", None))
    sv.apply(doc, ch)
    assert state(sv, "r2")["color"] == pytest.approx(DEFAULT_COLOR)


def test_hidden_group_hides_its_subtree_and_showing_restores_it(scene):
    doc, sv = scene
    _, ch = apply(doc, SetField("line", "visible", False))
    sv.apply(doc, ch)
    assert not state(sv, "r1")["visible"] and not state(sv, "r2")["visible"]
    assert state(sv, "cab")["visible"]
    # A child's own flag cannot show it while its group is hidden.
    _, ch = apply(doc, SetField("r1", "visible", True))
    sv.apply(doc, ch)
    assert not state(sv, "r1")["visible"]
    _, ch = apply(doc, SetField("line", "visible", True))
    sv.apply(doc, ch)
    assert state(sv, "r1")["visible"] and state(sv, "r2")["visible"]
    # Moving a part under a hidden group hides it.
    _, ch = apply(doc, Batch((SetField("line", "visible", False), Reparent("cab", "line", "Z"))))
    sv.apply(doc, ch)
    assert not state(sv, "cab")["visible"]


def test_remove_and_add_nodes(scene):
    doc, sv = scene
    _, ch = apply(doc, RemoveNode("line"))
    sv.apply(doc, ch)
    assert sv.node_ids() == {"cab"}
    _, ch = apply(doc, Batch((
        AddNode(Node("g", ROOT_ID, "X", kind="group", transform=t(0, 0, 5))),
        AddNode(Node("p", "g", "V", kind="part", mesh=CUBE_HASH, color=(0, 1, 0))),
    )))
    sv.apply(doc, ch)
    assert sv.node_ids() == {"cab", "p"}
    assert state(sv, "p")["color"] == pytest.approx((0, 1, 0))
    assert state(sv, "p")["points"][:, 2].min() == pytest.approx(5.0)


def test_mesh_change_rebuilds_that_block_only(scene):
    doc, sv = scene
    pd_r1 = state(sv, "r1")["polydata"]
    _, ch = apply(doc, SetField("r2", "mesh", TETRA_HASH))
    sv.apply(doc, ch)
    assert state(sv, "r2")["mesh"] == TETRA_HASH
    assert len(state(sv, "r2")["points"]) == 4
    assert state(sv, "r1")["polydata"] is pd_r1
    _, ch = apply(doc, SetField("r2", "mesh", None))
    sv.apply(doc, ch)
    assert "r2" not in sv.node_ids()


def test_reset_rebuilds_from_the_new_document(plotter, source):
    doc = line_doc()
    sv = SceneVisual(plotter, source)
    sv.rebuild(doc)
    other = Document()
    apply(other, AddNode(Node("solo", ROOT_ID, "V", kind="part", mesh=CUBE_HASH)))
    ch = ChangeSet()
    ch.reset = True
    sv.apply(other, ch)
    assert sv.node_ids() == {"solo"}
    sv.close()


def test_placeholder_until_mesh_arrives(plotter):
    doc = Document()
    apply(doc, AddNode(Node("p", ROOT_ID, "V", kind="part", mesh=CUBE_HASH, color=(1, 0, 0),
                            props={"bbox": (0.0, 0.0, 0.0, 2.0, 3.0, 4.0)})))
    apply(doc, AddNode(Node("q", ROOT_ID, "W", kind="part", mesh=CUBE_HASH, transform=t(9))))
    src = Source({})
    sv = SceneVisual(plotter, src)
    sv.rebuild(doc)
    ph = state(sv, "p")
    assert ph["placeholder"] and len(ph["points"]) == 8
    assert ph["points"].max(axis=0) == pytest.approx((2, 3, 4))  # its bbox
    assert ph["opacity"] == pytest.approx(PLACEHOLDER_OPACITY)
    assert ph["color"] != pytest.approx((1, 0, 0))  # muted, not the part colour
    # No bbox: a small cube at the node's origin.
    assert np.ptp(state(sv, "q")["points"], axis=0).max() < 0.5
    src.blobs[CUBE_HASH] = CUBE
    sv.mesh_arrived(doc, CUBE_HASH)
    real = state(sv, "p")
    assert not real["placeholder"]
    assert real["points"] == pytest.approx(CUBE_V)
    assert real["color"] == pytest.approx((1, 0, 0)) and real["opacity"] == 1.0
    assert not state(sv, "q")["placeholder"]
    sv.close()


def test_instances_share_decoded_mesh_and_cells(plotter):
    doc = Document()
    keys = fracindex.keys_between(None, None, 20)
    apply(doc, Batch(tuple(
        AddNode(Node(f"p{i}", ROOT_ID, keys[i], kind="part", mesh=CUBE_HASH, transform=t(2 * i)))
        for i in range(20))))
    src = Source({CUBE_HASH: CUBE})
    sv = SceneVisual(plotter, src)
    sv.rebuild(doc)
    assert src.calls[CUBE_HASH] == 1 and sv.mesh_cache.decodes == 1
    polys = {state(sv, f"p{i}")["polydata"].GetPolys() for i in range(20)}
    assert len(polys) == 1  # one vtkCellArray for every instance
    # Removing every instance frees the decoded mesh.
    _, ch = apply(doc, Batch(tuple(RemoveNode(f"p{i}") for i in range(20))))
    sv.apply(doc, ch)
    assert len(sv.mesh_cache) == 0
    sv.close()


def test_plant_scale_is_a_few_composite_actors(plotter):
    from bench.scenes import synthetic_plant

    doc, blobs = synthetic_plant(parts=600, triangles=200_000, seed=3)
    sv = SceneVisual(plotter, blobs.get)
    sv.rebuild(doc)
    assert sv.block_count() == 600
    shard_actors = [a for a in sv.actors if a.GetMapper().IsA("vtkCompositePolyDataMapper")]
    assert 1 <= len(shard_actors) <= 4
    sv.close()


def test_render_is_not_blank_and_shows_part_colour(plotter, scene):
    _doc, sv = scene
    set_standard_view(plotter.renderer, "top", sv.scene_bounds())
    img = plotter.screenshot(return_img=True)
    assert img.std() > 5  # not a uniform image
    x, y = display_point(plotter, (-2.7, 0.2, 0.2))  # inside the blue tetrahedron
    r, g, b = img[img.shape[0] - 1 - y, x][:3].astype(int)
    assert b > r + 40 and b > g + 20


def test_pick_returns_the_part_under_the_cursor(plotter, scene):
    _doc, sv = scene
    set_standard_view(plotter.renderer, "top", sv.scene_bounds())
    plotter.render()
    assert sv.pick(*display_point(plotter, (14.0, 1.0, 2.0))) == "r2"
    assert sv.pick(*display_point(plotter, (9.5, 0.5, 1.0))) == "r1"
    assert sv.pick(*display_point(plotter, (0.0, 4.0, 0.0))) is None


def test_pick_skips_hidden_parts(plotter, source):
    doc = Document()
    apply(doc, Batch((
        AddNode(Node("low", ROOT_ID, "V", kind="part", mesh=CUBE_HASH)),
        AddNode(Node("high", ROOT_ID, "W", kind="part", mesh=CUBE_HASH, transform=t(0, 0, 3))),
    )))
    sv = SceneVisual(plotter, source)
    sv.rebuild(doc)
    set_standard_view(plotter.renderer, "top", sv.scene_bounds())
    xy = display_point(plotter, (0.5, 0.5, 4.0))
    assert sv.pick(*xy) == "high"
    _, ch = apply(doc, SetField("high", "visible", False))
    sv.apply(doc, ch)
    assert sv.pick(*xy) == "low"
    assert sv.pick(*xy) == "low"  # the hidden block was put back, still hidden
    assert not state(sv, "high")["visible"] and "high" in sv.node_ids()
    sv.close()


def test_selection_hover_and_peers_are_outlined(plotter, scene):
    doc, sv = scene
    sv.set_selection(["r1"])
    assert sv.selection_outline_count == 12
    tinted = state(sv, "r1")["color"]
    assert tinted != pytest.approx(DEFAULT_COLOR)
    assert np.dot(np.subtract(tinted, DEFAULT_COLOR), np.subtract(ACCENT, DEFAULT_COLOR)) > 0
    sv.set_selection(["line"])  # a group: one box around its parts, both parts tinted
    assert sv.selection_outline_count == 12
    assert state(sv, "r2")["color"] != pytest.approx(DEFAULT_COLOR)
    sv.set_selection([])
    assert sv.selection_outline_count == 0
    assert state(sv, "r1")["color"] == pytest.approx(DEFAULT_COLOR)
    sv.set_hover("cab")
    assert state(sv, "cab")["color"] != pytest.approx((0.1, 0.2, 0.9))
    sv.set_hover(None)
    assert state(sv, "cab")["color"] == pytest.approx((0.1, 0.2, 0.9))

    n_props = plotter.renderer.GetViewProps().GetNumberOfItems()
    sv.set_peer("s2", "Bob", (0.9, 0.1, 0.6), ["r2", "cab"], (0, -20, 10, 0, 0, 0, 0, 0, 1))
    assert plotter.renderer.GetViewProps().GetNumberOfItems() == n_props + 2  # lines + label
    assert sv.peer_line_count("s2") == 2 * 12 + 10  # two boxes + the camera frustum
    sv.set_peer("s2", "Bob", (0.9, 0.1, 0.6), ["r2"], None)
    assert sv.peer_line_count("s2") == 12
    # The outline follows a moved part.
    _, ch = apply(doc, SetField("r2", "transform", t(50.0)))
    sv.apply(doc, ch)
    box = sv._peers["s2"].lines.mapper.GetInput().GetBounds()
    assert box[0] > 55
    sv.remove_peer("s2")
    assert plotter.renderer.GetViewProps().GetNumberOfItems() == n_props
    assert sv.peer_line_count("s2") == 0


def test_close_removes_every_actor_and_frees_vtk_objects(plotter, source):
    doc = line_doc()
    before_actors = plotter.renderer.GetActors().GetNumberOfItems()
    before_props = plotter.renderer.GetViewProps().GetNumberOfItems()
    sv = SceneVisual(plotter, source)
    sv.rebuild(doc)
    sv.set_selection(["r1"])
    sv.set_peer("s", "Bob", (1, 0, 0), ["cab"], (0, -9, 3, 0, 0, 0, 0, 0, 1))
    plotter.render()
    pd = state(sv, "r1")["polydata"]
    cells = pd.GetPolys()
    assert pd.GetReferenceCount() > 1
    sv.close()
    del sv
    gc.collect()
    assert plotter.renderer.GetActors().GetNumberOfItems() == before_actors
    assert plotter.renderer.GetViewProps().GetNumberOfItems() == before_props
    # Only this test's Python references keep the block's VTK objects alive now.
    assert pd.GetReferenceCount() == 1
    del pd
    assert cells.GetReferenceCount() == 1

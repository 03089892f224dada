"""The shipped reconstruction of the Ding et al. (2023) lamella: cases load, the grain map has
G1..G22 with every neighbour pair the texts name, and Table 4-1's transport-path
misorientations are reproduced within 5 degrees. Fast: nothing is solved."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import shapely
import shapely.geometry

import netsolve
from netsolve.graph import build_grain_graph
from netsolve.microstructure import build_microstructure

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "microstructures" / "ding2023_lamella" / "make_lamella.py"
KINDS = ("reduced", "full")  # the isotropic case has no microstructure


def _script():
    spec = importlib.util.spec_from_file_location("make_lamella", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines constants and functions only
    return module


ML = _script()


@pytest.fixture(scope="module")
def graphs():
    out = {}
    for kind in KINDS:
        case = netsolve.load_case(ROOT / "cases" / f"ding2023_{kind}.toml")
        micro = build_microstructure(case)
        out[kind] = (case, micro, build_grain_graph(micro))
    return out


def test_cases_load(graphs):
    red, full = (graphs[k][0] for k in KINDS)
    iso = netsolve.load_case(ROOT / "cases" / "ding2023_isotropic.toml")
    assert iso.materials.conductivity_model == "isotropic"
    assert iso.microstructure.source == "uniform" and iso.grid == red.grid
    assert iso.electrodes == red.electrodes
    assert red.materials.conductivity_model == full.materials.conductivity_model == "tensor"
    assert red.materials.ratio_ip_op == 1000.0 and red.materials.ratio_ip_gb == 20.0
    assert full.materials.ratio_ip_backbone == 250.0
    assert red.grid.shape == (400, 500) and full.grid.shape == (500, 600)
    assert red.grid.thickness_m == pytest.approx(170e-9)
    assert [e.name for e in red.electrodes] == ["na_source", "au_pt"]


def test_grain_ids_and_phases(graphs):
    for kind in KINDS:
        _, micro, graph = graphs[kind]
        assert sorted(graph.nodes) == list(range(1, 23))
        assert (micro.labels == -1).any()  # ZrO2 particles
    # Same thin region in both systems; the frame surrounds it on the left and at the bottom.
    n = int(ML.FRAME_NM / ML.VOXEL_NM)
    red, full = graphs["reduced"][1].labels, graphs["full"][1].labels
    np.testing.assert_array_equal(full[n:, n:], red)
    assert (full[:n] == -2).all() and (full[:, :n] == -2).all()


@pytest.mark.parametrize("pair", ML.REQUIRED_PAIRS, ids=lambda p: f"G{p[0]}/G{p[1]}")
def test_required_neighbours(graphs, pair):
    for kind in KINDS:
        assert graphs[kind][2].has_edge(*pair), kind


def test_electrodes_and_au_pt_grains(graphs):
    for kind in KINDS:
        case, micro, _ = graphs[kind]
        names = [e.name for e in case.electrodes]
        au_pt = micro.electrode_index == names.index("au_pt")
        source = micro.electrode_index == names.index("na_source")
        # One voxel wide, on the last column / top row, and apart: no voxel touches both.
        assert au_pt[-1].sum() == au_pt.sum() and source[:, -1].sum() == source.sum()
        near_source = np.zeros_like(source)
        near_source[:, :-1] |= source[:, 1:]
        near_source[:-1] |= source[1:]
        near_source[1:] |= source[:-1]
        near_au = np.roll(au_pt, -1, axis=0) | np.roll(au_pt, 1, axis=1) | np.roll(au_pt, -1, axis=1)
        assert not (near_source & near_au).any()
        beside_au = set(np.unique(micro.labels[np.roll(au_pt, -1, axis=0)]).tolist())
        assert set(ML.AT_AU_PT) <= beside_au, kind


@pytest.mark.parametrize("pair", sorted(ML.TABLE_4_1), ids=lambda p: f"G{p[0]}/G{p[1]}")
def test_table_4_1_path_misorientation(graphs, pair):
    edge = graphs["reduced"][2].edges[pair]
    assert abs(edge["path_misorientation_deg"] - ML.TABLE_4_1[pair][1]) <= 5.0


@pytest.mark.parametrize("pair", ML.LOW_ANGLE, ids=lambda p: f"G{p[0]}/G{p[1]}")
def test_low_angle_boundaries(graphs, pair):
    assert graphs["reduced"][2].edges[pair]["misorientation_deg"] < 15.0


def test_plane_angles_of_the_named_types(graphs):
    """psi (angle between c-axes) of the GBs whose type the texts name: type I <= 15, type II
    >= 75, type III in between (G11/G16 III a2, G15/G16 II b1, G1/G11 and G13/G14 type I)."""
    edges = graphs["reduced"][2].edges
    assert 15.0 < edges[11, 16]["plane_angle_deg"] < 75.0
    assert edges[15, 16]["plane_angle_deg"] >= 75.0 and edges[14, 16]["plane_angle_deg"] >= 75.0
    assert edges[1, 11]["plane_angle_deg"] <= 15.0 and edges[13, 14]["plane_angle_deg"] <= 15.0


def test_layout_problems_none_for_the_shipped_cases(graphs):
    """make_lamella.py's own check (neighbours, Au(Pt) grains, G10 farther from the electrodes
    than G1 and G11, low-angle GBs, Table 4-1) passes on the shipped files."""
    for kind in KINDS:
        case, micro, graph = graphs[kind]
        assert ML.layout_problems(case, micro, graph, kind) == []


def test_layout_problems_reports_violations(graphs):
    case, micro, graph = graphs["reduced"]
    broken = graph.copy()
    broken.remove_edge(11, 16)
    broken.nodes[10]["centroid_m"] = broken.nodes[11]["centroid_m"]  # as close as G11
    broken.edges[6, 11]["misorientation_deg"] = 20.0
    problems = ML.layout_problems(case, micro, broken, "reduced")
    assert "reduced: G11/G16 are not neighbours" in problems
    assert any(p.startswith("reduced: G10 is not farther from the electrodes") for p in problems)
    assert any(p.startswith("reduced: G6/G11 is not a low-angle boundary") for p in problems)


def test_drawn_g16_boundaries_are_straight(graphs):
    """G16 is a drawn rectangle: its boundaries with G14 and G15 are vertical and the one with
    G11 horizontal, so the II b1 / III a2 geometry does not depend on a staircase."""
    edges = graphs["reduced"][2].edges
    for a in (14, 15):
        np.testing.assert_allclose(np.abs(edges[a, 16]["normal"]), [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(np.abs(edges[11, 16]["normal"]), [0.0, 1.0], atol=1e-12)


def test_g10_reaches_the_source_only_through_g5():
    """The Na source sits on G5's strip above G10 (G10 does not touch an electrode), and G10's
    drawn band touches G5, G9, G11 and G15 (its feed and the triple junction G10/G11/G15)."""
    geoms, props = ML.build_polygons()
    shape = {p["id"]: g for g, p in zip(geoms, props) if "id" in p}
    x0, x1 = (1000 * v for v in ML.NA_SOURCE_X_UM)
    top = shapely.geometry.box(x0, ML.HEIGHT_NM - 1.0, x1, ML.HEIGHT_NM)
    assert shape[5].contains(top)
    assert not shape[10].intersects(shapely.geometry.box(0, ML.HEIGHT_NM - 1.0, ML.WIDTH_NM,
                                                         ML.HEIGHT_NM))
    for g in (5, 9, 11, 15):
        assert shape[10].intersection(shape[g]).length > 0, g


@pytest.mark.parametrize("pair", [(6, 10), (18, 21), (4, 5), (2, 4)],
                         ids=lambda p: f"G{p[0]}/G{p[1]}")
def test_straight_gbs_are_one_segment(graphs, pair):
    """G6/G10 (a 20 degree bend and a 3-voxel jog) and G18/G21 (pinched by one voxel of G8)
    trace as one straight segment (issue 16: G6/G10 was 76 segments)."""
    from netsolve.analysis import gb_geometry

    for kind in KINDS:
        case, micro, graph = graphs[kind]
        geometry = gb_geometry(case, micro, graph)
        ids = micro.orientations.grain_ids
        rows = ((ids[geometry.row_grain_a] == pair[0]) & (ids[geometry.row_grain_b] == pair[1])
                & (geometry.row_segment >= 0))
        assert rows.sum() == 1, kind

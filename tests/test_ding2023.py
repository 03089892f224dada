"""The shipped reconstruction of the Ding et al. (2023) lamella: cases load, the grain map has
G1..G22 with every neighbour pair the texts name, and Table 4-1's transport-path
misorientations are reproduced within 5 degrees. Fast: nothing is solved."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

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

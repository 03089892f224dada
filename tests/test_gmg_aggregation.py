"""The grid multigrids of the finite-element and mixed operators (solver.method = "gmg" with
discretization = "fem" or "mixed"; netsolve.multigrid.fem, netsolve.multigrid.mixed), what they
share: agreement with the direct solver on every operator kind, and the failure modes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from netsolve import multigrid
from netsolve.errors import CaseError
from netsolve.multigrid import fem
from netsolve.solve import network_matrix
from conftest import base_case, solve_dict, with_labels
from test_gmg import assert_agrees, direct, polycrystal

KINDS = ("fem", "mixed")


@pytest.fixture(autouse=True)
def deep_hierarchies(monkeypatch):
    """Small test grids get several levels (the coarsest level is otherwise solved directly)."""
    monkeypatch.setattr(fem, "COARSEST_MAX", 12)


def kind_case(data: dict, kind: str) -> dict:
    """``data`` with the discretization ``kind`` (no certified bounds: one voxel-grid solve)."""
    data = copy.deepcopy(data)
    data["solver"] = {**data.get("solver", {}), "discretization": kind, "bounds": False}
    return data


def grid_of(tmp_path, shape, kind: str, **extra):
    """A directly solved polycrystal's result, its active matrix and its grid for ``gmg``."""
    result = solve_dict(direct(kind_case(polycrystal(shape, ratio_ip_op=1e3, **extra), kind)),
                        tmp_path)
    rows = np.flatnonzero(~result.solution.floating)
    matrix = network_matrix(result.network)[rows][:, rows].tocsr()
    return result, matrix, result.network.grid_operator(rows)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ratio", [1.0, 1e3, 1e4])
def test_2d_polycrystal_with_inclusions_and_gb_resistors(tmp_path, kind, ratio):
    shape = (64, 48) if kind == "fem" else (48, 40)
    result = assert_agrees(kind_case(polycrystal(shape, ratio_ip_op=ratio), kind), tmp_path)
    assert result.network.discretization == kind
    # GB resistors: corners with copies (fem), faces with a potential per side (mixed)
    assert result.network.n_gb_links > 0
    assert result.microstructure.conducting.sum() < np.prod(shape)  # ZrO2 inclusions


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ratio", [1.0, 1e4])
def test_3d_polycrystal_with_inclusions_and_gb_resistors(tmp_path, kind, ratio):
    shape = (18, 14, 12) if kind == "fem" else (14, 12, 10)
    result = assert_agrees(kind_case(polycrystal(shape, ratio_ip_op=ratio), kind), tmp_path)
    assert result.network.n_gb_links > 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(200, 1), (3, 37), (41, 1, 1), (5, 33, 2)])
def test_thin_grids(tmp_path, kind, shape):
    data = base_case(shape, "tensor", ratio_ip_op=100.0)
    data["microstructure"] = {"source": "voronoi", "n_grains": 5, "seed": 1}
    assert_agrees(kind_case(data, kind), tmp_path, rtol=1e-12)


@pytest.mark.parametrize("kind, floating", [("fem", 9 * 9), ("mixed", 2 * 8 * 9)])
def test_floating_clusters_are_removed(tmp_path, kind, floating):
    labels = np.ones((60, 40), dtype=np.int32)
    labels[30:] = 2
    labels[10:22, 8:20] = -1  # a ZrO2 wall ...
    labels[12:20, 10:18] = 1  # ... around an 8 x 8 island of grain 1
    grains = [{"id": 1, "c_axis": [1, 0, 0]}, {"id": 2, "c_axis": [0.3, 0.2, 1.0]}]
    data = with_labels(base_case((60, 40), "tensor", ratio_ip_op=1000.0, ratio_ip_gb=20.0,
                                 gb_thickness_nm=1.0), labels, tmp_path,
                       phases={"zro2": -1}, grains=grains)
    result = assert_agrees(kind_case(data, kind), tmp_path)
    # the island's unknowns: its 9 x 9 corners (fem), its 8 x 9 faces along each axis (mixed)
    assert result.solution.floating.sum() == floating


@pytest.mark.parametrize("kind", KINDS)
def test_current_controlled_electrodes(tmp_path, kind):
    data = kind_case(polycrystal((48, 40), ratio_ip_op=100.0), kind)
    data["electrodes"][0] = {"name": "source", "region": "left", "current_A": 3e-9}
    data["electrodes"].append({"name": "probe", "region": "top", "current_A": 0.0})
    result = assert_agrees(data, tmp_path)
    assert result.solution.stats.n_rhs == 3
    assert result.electrode_currents_A["source"] == pytest.approx(3e-9, rel=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_non_convergence_is_an_error_naming_the_remedy(tmp_path, kind):
    data = kind_case(polycrystal((40, 30)), kind)
    data["solver"].update({"method": "gmg", "rtol": 1e-12, "maxiter": 1})
    with pytest.raises(CaseError, match=r"^case: solver 'gmg' did not converge: relative "
                                        r"residual .* > rtol 1\.0e-12 after \d+ iterations "
                                        r"\(raise solver\.maxiter, or use solver\.method = "
                                        r"\"amg\" or \"direct\"\)$"):
        solve_dict(data, tmp_path)


@pytest.mark.parametrize("kind", KINDS)
def test_a_nan_conductance_is_an_error_not_a_result(tmp_path, kind):
    _, matrix, grid = grid_of(tmp_path, (30, 22), kind)
    matrix = matrix.copy()
    matrix.data[7] = np.nan
    rhs = np.zeros((matrix.shape[0], 1))
    rhs[0, 0] = 1.0
    with pytest.raises(CaseError, match=r"^case: solver 'gmg' did not converge: relative "
                                        r"residual non-finite > rtol"):
        multigrid.solve(matrix, rhs, grid, 1e-8, 50)

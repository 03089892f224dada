"""The grid multigrid for the hybridized mixed operator (solver.method = "gmg" with
discretization = "mixed", netsolve.multigrid.mixed): the auxiliary corner space it is built
from, its choice, and certified runs (agreement with the direct solver and the failure modes
it shares with the finite-element operator's: test_gmg_aggregation.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from netsolve.multigrid import mixed
from conftest import solve_dict
from test_gmg import polycrystal
from test_gmg_aggregation import deep_hierarchies, grid_of, kind_case  # noqa: F401 (autouse)


# --------------------------------------------------------------------------- the structure


@pytest.mark.parametrize("shape", [(30, 22), (9, 8, 7)])
def test_every_face_interpolates_from_its_own_corners_and_grain(tmp_path, shape):
    result, matrix, grid = grid_of(tmp_path, shape, "mixed")
    ndim = len(shape)
    corners = grid.corner[grid.face_corners]  # (n, 2^(d-1), d)
    assert grid.face_corners.shape == (matrix.shape[0], 2 ** (ndim - 1))
    # the corners of one face: one axis fixed, the others spanning one voxel
    spread = corners.max(axis=1) - corners.min(axis=1)
    assert np.array_equal(np.sort(spread, axis=1)[:, 1:], np.ones((len(spread), ndim - 1)))
    assert np.all(spread.min(axis=1) == 0)
    # a resistive GB face's two sides interpolate from different copies of the same corners
    op = result.network
    row_of = np.full(op.n_nodes, -1)
    row_of[~result.solution.floating] = np.arange(matrix.shape[0])
    sides = op.dof_unknown[op.gb_face_dofs[op.gb_face_dofs[:, 0] != op.gb_face_dofs[:, 1]]]
    sides = row_of[sides[(sides >= 0).all(axis=1)]]
    sides = sides[(sides >= 0).all(axis=1)]
    assert len(sides) > 0
    lower, upper = grid.face_corners[sides[:, 0]], grid.face_corners[sides[:, 1]]
    assert np.array_equal(grid.corner[lower], grid.corner[upper])
    assert not np.any(lower == upper)
    # the coupled faces of one element sit within one voxel of each other
    coo = matrix.tocoo()
    assert np.abs(corners[coo.row, 0] - corners[coo.col, 0]).max() == 1


@pytest.mark.parametrize("shape", [(36, 28), (10, 9, 8)])
def test_the_cycle_is_a_symmetric_positive_definite_preconditioner(tmp_path, shape):
    _, matrix, grid = grid_of(tmp_path, shape, "mixed")
    for dtype, tolerance in ((np.float32, 1e-5), (np.float64, 1e-12)):
        cycle = mixed.FaceMultigrid(matrix, grid, dtype)
        assert cycle.coarse.sizes[0] == len(grid.corner)
        # the corner operator is the Galerkin product of the face-mean interpolation
        p = cycle.interpolation.astype(np.float64)
        assert np.allclose(p.sum(axis=1), 1.0)
        x, y = np.random.default_rng(0).standard_normal((2, matrix.shape[0]))
        assert x @ cycle(y) == pytest.approx(y @ cycle(x), rel=tolerance)
        assert x @ cycle(x) > 0
    with pytest.raises(ValueError, match=r"^coarse-correction weight 2\.0 outside \(0, 2\)$"):
        mixed.FaceMultigrid(matrix, grid, weight=2.0)


def test_the_corner_space_holds_the_linear_potentials(tmp_path):
    # a face mean of a linear function on the corners is the linear function at the face
    # centre, which is the exact RT0 face potential of a uniform field: one coarse vector
    # reproduces it, and the face residual of its interpolant is the boundary's only
    result, matrix, grid = grid_of(tmp_path, (16, 12), "mixed")
    corner_x = grid.corner[:, 0].astype(float)
    face_x = mixed.FaceMultigrid(matrix, grid, np.float64).interpolation @ corner_x
    centres = grid.corner[grid.face_corners].mean(axis=1)[:, 0]
    np.testing.assert_allclose(face_x, centres, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- choices and errors


@pytest.mark.parametrize("shape, method", [((40, 30), "amg"), ((12, 10, 8), "gmg")])
def test_auto_picks_the_grid_multigrid_in_3d_above_the_direct_limit(tmp_path, shape, method):
    data = kind_case(polycrystal(shape, ratio_ip_op=1e3), "mixed")
    data["solver"].update({"method": "auto", "direct_max_unknowns": 100})
    assert solve_dict(data, tmp_path).solution.stats.method == method
    data["solver"]["direct_max_unknowns"] = 10**6
    assert solve_dict(data, tmp_path).solution.stats.method == "direct"


def test_one_sweep_in_2d_two_in_3d(tmp_path):
    for shape, sweeps in (((20, 16), 1), ((7, 6, 5), 2)):
        _, matrix, grid = grid_of(tmp_path, shape, "mixed")
        assert mixed.FaceMultigrid(matrix, grid).sweeps == sweeps


def test_certified_runs_take_amg_off_the_voxel_grid(tmp_path):
    # bounds with refinement: the voxel-grid solves take the grid multigrid, the refined
    # trees (not on the voxel grid) the general AMG fallback, and the bracket holds
    data = polycrystal((24, 20), ratio_ip_op=1e3)
    data["solver"] = {"discretization": "fem", "bounds": True, "rtol": 1e-10}
    reference = solve_dict(data, tmp_path)
    data["solver"]["method"] = "gmg"
    result = solve_dict(data, tmp_path)
    assert result.solution.stats.method == "gmg"
    assert result.certificate.refinement is not None  # the trees were solved
    bracket, ref_bracket = result.certificate.resistance_ohm, reference.certificate.resistance_ohm
    assert bracket.lower <= bracket.upper
    assert bracket.lower == pytest.approx(ref_bracket.lower, rel=1e-6)
    assert bracket.upper == pytest.approx(ref_bracket.upper, rel=1e-6)


def test_the_galerkin_corner_operator_equals_p_transpose_a_p(tmp_path):
    _, matrix, grid = grid_of(tmp_path, (12, 10), "mixed")
    cycle = mixed.FaceMultigrid(matrix, grid, np.float64)
    p = cycle.interpolation
    expected = (p.T @ matrix @ p).toarray()
    # the corner multigrid's finest level is that operator (scaled by its own diagonal)
    coarse = cycle.coarse
    first = coarse.levels[0].toarray() / coarse.scale if coarse.levels else None
    assert first is not None
    np.testing.assert_allclose(first, expected, rtol=1e-12, atol=1e-12 * abs(expected).max())
    assert sp.issparse(p) and p.shape == (matrix.shape[0], len(grid.corner))

"""The grid multigrid for the finite-element operator (solver.method = "gmg" with
discretization = "fem", netsolve.multigrid.fem): the structure it is built from, its choice
and its float64 continuation (agreement with the direct solver and the failure modes it
shares with the mixed operator's: test_gmg_aggregation.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import netsolve
from netsolve import multigrid
from netsolve.multigrid import fem
from conftest import base_case, solve_dict
from test_gmg import direct, polycrystal
from test_gmg_aggregation import deep_hierarchies, grid_of, kind_case  # noqa: F401 (autouse)


# --------------------------------------------------------------------------- the structure


@pytest.mark.parametrize("shape", [(30, 22), (9, 8, 7)])
def test_unknowns_sit_at_the_corners_of_their_couplings(tmp_path, shape):
    result, matrix, grid = grid_of(tmp_path, shape, "fem")
    corner = grid.corner
    assert not grid.periodic
    assert corner.shape == (matrix.shape[0], len(shape))
    assert corner.min() >= 0 and np.all(corner.max(axis=0) <= np.array(shape))
    coo = matrix.tocoo()
    # Q1 couplings join corners of one element; interface links join copies of one corner
    assert np.abs(corner[coo.row] - corner[coo.col]).max() == 1
    same = np.all(corner[coo.row] == corner[coo.col], axis=1) & (coo.row < coo.col)
    op = result.network
    row_of = np.full(op.n_nodes, -1)
    row_of[~result.solution.floating] = np.arange(matrix.shape[0])
    unknown = op.copy_unknown[op.gb_link_copies]
    linked = unknown[(unknown >= 0).all(axis=1)]
    linked = np.sort(row_of[linked], axis=1)
    linked = linked[(linked >= 0).all(axis=1)]
    assert len(linked) > 0
    assert (set(map(tuple, linked.tolist()))
            == set(zip(coo.row[same].tolist(), coo.col[same].tolist())))


@pytest.mark.parametrize("shape", [(17, 12), (7, 6, 5)])
def test_the_stencil_galerkin_product_is_p_transpose_a_p(tmp_path, shape):
    _, matrix, grid = grid_of(tmp_path, shape, "fem")
    aggregate, coords = fem.box_level(grid.corner)
    p = sp.csr_matrix((np.ones(len(aggregate)), (np.arange(len(aggregate)), aggregate)),
                      shape=(len(aggregate), len(coords)))
    expected = (p.T @ matrix @ p).toarray()
    coarse = fem.galerkin(matrix, aggregate, coords)
    assert coarse.has_sorted_indices
    np.testing.assert_allclose(coarse.toarray(), expected, rtol=1e-13,
                               atol=1e-13 * abs(expected).max())
    general = fem.galerkin_general(matrix, aggregate, len(coords))
    np.testing.assert_allclose(general.toarray(), expected, rtol=1e-13,
                               atol=1e-13 * abs(expected).max())
    # every unknown of a box, copies included, is in it; boxes are 2 corners wide
    assert np.array_equal(coords[aggregate], grid.corner // 2)


@pytest.mark.parametrize("algebraic_below", [False, True])
@pytest.mark.parametrize("shape", [(40, 30), (11, 10, 9)])
def test_the_cycle_is_a_symmetric_positive_definite_preconditioner(tmp_path, shape,
                                                                   algebraic_below):
    _, matrix, grid = grid_of(tmp_path, shape, "fem")
    for dtype, tolerance in ((np.float32, 1e-5), (np.float64, 1e-12)):
        cycle = fem.CornerMultigrid(matrix, grid.corner, dtype, algebraic_below=algebraic_below)
        if algebraic_below:  # one box level, root-node AMG on its aggregated operator
            assert len(cycle.levels) == 1 and cycle.algebraic is not None
            assert cycle.algebraic.levels[0].A.shape[0] == cycle.sizes[1]
        else:
            assert len(cycle.levels) >= 3 and cycle.algebraic is None
        x, y = np.random.default_rng(0).standard_normal((2, matrix.shape[0]))
        assert x @ cycle(y) == pytest.approx(y @ cycle(x), rel=tolerance)
        assert x @ cycle(x) > 0
    with pytest.raises(ValueError, match=r"^coarse-correction weight 2\.0 outside \(0, 2\)$"):
        fem.CornerMultigrid(matrix, grid.corner, weight=2.0)


def test_periodic_couplings_take_the_general_galerkin_product(tmp_path):
    from netsolve.discretization.q1 import build_fem_operator
    from netsolve.microstructure import build_microstructure
    from netsolve.properties import compute_properties

    # one grain: the copies of opposite faces are identified (different grains would not be)
    data = kind_case(base_case((20, 16), "tensor", ratio_ip_op=1e3), "fem")
    data["grains"] = [{"id": 1, "c_axis": [1.0, 0.6, 0.3]}]
    case = netsolve.case_from_dict(data)
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    op = build_fem_operator(case, micro, props, periodic_axes=(1,))
    rows = np.arange(op.n_nodes)
    grid = op.grid_operator(rows)
    assert grid.periodic
    rhs = np.zeros((op.n_nodes, 1))
    np.add.at(rhs[:, 0], op.electrode_link_node, op.electrode_link_conductance)
    x, stats = multigrid.solve(op.matrix, rhs, grid, 1e-10, 200)
    reference = sp.linalg.spsolve(op.matrix.tocsc(), rhs[:, 0])
    assert stats.method == "gmg" and stats.residual_rel <= 1e-10
    assert np.abs(x[:, 0] - reference).max() <= 1e-7 * np.abs(reference).max()


# --------------------------------------------------------------------------- choices and errors


def test_auto_picks_the_grid_multigrid_for_3d_finite_elements_only(tmp_path):
    data = kind_case(polycrystal((40, 30), ratio_ip_op=1e3), "fem")
    data["solver"].update({"method": "auto", "direct_max_unknowns": 100})
    assert solve_dict(data, tmp_path).solution.stats.method == "amg"
    data = kind_case(polycrystal((12, 10, 8), ratio_ip_op=1e3), "fem")
    data["solver"].update({"method": "auto", "direct_max_unknowns": 100})
    assert solve_dict(data, tmp_path).solution.stats.method == "gmg"


@pytest.mark.parametrize("shape, maxiter", [((64, 48), 40), ((18, 14, 12), 20)])
def test_a_float32_hierarchy_short_of_rtol_continues_in_float64(tmp_path, shape, maxiter):
    # maxiter below what the solve needs (63 / 31 iterations): the float32 stage stops short,
    # the float64 stage continues from its iterate (up to maxiter again) and reaches rtol
    data = kind_case(polycrystal(shape, ratio_ip_op=1e3), "fem")
    data["solver"].update({"maxiter": maxiter, "balance_tol": 0.5})  # no balance tightening
    reference = solve_dict(direct(data), tmp_path)
    data["solver"].update({"method": "gmg", "rtol": 1e-10})
    result = solve_dict(data, tmp_path)
    stats = result.solution.stats
    assert stats.method == "gmg" and stats.precision == "float64"
    assert maxiter < stats.iterations <= 2 * maxiter
    assert stats.residual_rel <= 10 * 1e-10  # the solver's acceptance (docs/model.md, Guards)
    assert result.total_current_A == pytest.approx(reference.total_current_A, rel=1e-7)



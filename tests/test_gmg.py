"""The grid multigrid solver (solver.method = "gmg"): exact answers, agreement with the direct
solver on the two-point operator, the structure it is given, and its failure modes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp

import netsolve
from netsolve.errors import CaseError
from netsolve import multigrid
from netsolve.multigrid import cycle
from netsolve.multigrid.cycle import aggregate
from netsolve.solve import network_matrix
from netsolve.solvers import choose_method
from conftest import H, base_case, solve_dict, with_labels
from test_analytic import series_layers

SIGMA = 2.0


@pytest.fixture(autouse=True)
def deep_hierarchies(monkeypatch):
    """Small test grids get several levels (the coarsest grid is otherwise solved directly)."""
    monkeypatch.setattr(cycle, "COARSEST_MAX", 12)


def gmg(data: dict, rtol: float = 1e-10) -> dict:
    data = copy.deepcopy(data)
    data["solver"] = {**data.get("solver", {}), "method": "gmg", "rtol": rtol}
    return data


def direct(data: dict) -> dict:
    data = copy.deepcopy(data)
    data["solver"] = {**data.get("solver", {}), "method": "direct"}
    return data


def polycrystal(shape, ratio_ip_op=1000.0, zro2=0.05, seed=2, **extra) -> dict:
    data = base_case(shape, "tensor", ratio_ip_op=ratio_ip_op, ratio_ip_gb=20.0,
                     gb_thickness_nm=1.0, **extra)
    n_grains = max(2, int(np.prod(shape) // 8 ** len(shape)))
    data["microstructure"] = {"source": "voronoi", "n_grains": n_grains, "seed": seed,
                              "zro2_fraction": zro2, "zro2_radius_nm": 20.0}
    return data


# --------------------------------------------------------------------------- exact answers


@pytest.mark.parametrize("shape", [(40, 24), (12, 10, 9)])
def test_homogeneous_slab_is_exact(tmp_path, shape):
    result = solve_dict(gmg(base_case(shape), rtol=1e-12), tmp_path)
    area = np.prod(shape[1:]) * H * H if len(shape) == 3 else shape[1] * H * H
    assert result.solution.stats.method == "gmg"
    assert result.effective_resistance_ohm == pytest.approx(shape[0] * H / (SIGMA * area),
                                                            rel=1e-10)


def test_series_layers_with_grain_boundaries_are_exact(tmp_path):
    data, exact = series_layers(tmp_path, widths=(14, 20, 14), height=20)
    result = solve_dict(gmg(data, rtol=1e-12), tmp_path)
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-10)


# --------------------------------------------------------------------------- against direct


def assert_agrees(data: dict, tmp_path, rtol: float = 1e-10):
    reference = solve_dict(direct(data), tmp_path)
    result = solve_dict(gmg(data, rtol), tmp_path)
    stats = result.solution.stats
    # no iteration only when the offset-free potential is 0 everywhere (the symmetric drive
    # of a one-voxel-wide strip between its electrodes): the zero guess is the answer
    trivial = not np.any(np.nan_to_num(result.solution.node_potential))
    assert stats.method == "gmg" and (0 < stats.iterations or trivial)
    assert stats.residual_rel <= rtol
    assert np.array_equal(result.solution.floating, reference.solution.floating)
    u, u_ref = result.solution.node_potential, reference.solution.node_potential
    conducting = ~reference.solution.floating
    assert np.all(np.isnan(u[~conducting]))
    drop = np.ptp(reference.solution.electrode_potential)  # the applied voltage
    assert np.max(np.abs(u[conducting] - u_ref[conducting])) <= 1e3 * rtol * drop
    current = reference.solution.electrode_current
    np.testing.assert_allclose(result.solution.electrode_current, current, rtol=1e3 * rtol,
                               atol=1e3 * rtol * np.abs(current).max())
    np.testing.assert_allclose(result.solution.electrode_potential,
                               reference.solution.electrode_potential, rtol=1e3 * rtol)
    return result


@pytest.mark.parametrize("ratio", [1.0, 1e3, 1e4])
def test_2d_polycrystal_with_inclusions_and_gbs(tmp_path, ratio):
    result = assert_agrees(polycrystal((72, 56), ratio_ip_op=ratio), tmp_path)
    assert result.network.n_gb_links > 0
    assert result.microstructure.conducting.sum() < 72 * 56  # ZrO2 inclusions


@pytest.mark.parametrize("ratio", [1.0, 1e4])
def test_3d_polycrystal_with_inclusions_and_gbs(tmp_path, ratio):
    assert_agrees(polycrystal((20, 14, 12), ratio_ip_op=ratio), tmp_path)


@pytest.mark.parametrize("shape", [(300, 1), (1, 300), (3, 37), (41, 1, 1), (1, 1, 41),
                                   (5, 33, 2), (2, 3, 40)])
def test_grids_with_axes_of_length_one_or_two(tmp_path, shape):
    data = base_case(shape, "tensor", ratio_ip_op=100.0)
    data["microstructure"] = {"source": "voronoi", "n_grains": 5, "seed": 1}
    # a 300-voxel chain is ill-conditioned (~1e6 with its 100:1 grains): a tighter rtol for
    # the same agreement bound
    assert_agrees(data, tmp_path, rtol=1e-12)


def test_floating_clusters_are_removed(tmp_path):
    labels = np.ones((60, 40), dtype=np.int32)
    labels[30:] = 2
    labels[10:22, 8:20] = -1  # a ZrO2 wall ...
    labels[12:20, 10:18] = 1  # ... around an island of grain 1
    labels[40:50, 30:40] = -1
    labels[42:48, 32:40] = 2  # an island walled in against the top edge
    grains = [{"id": 1, "c_axis": [1, 0, 0]}, {"id": 2, "c_axis": [0.3, 0.2, 1.0]}]
    data = with_labels(base_case((60, 40), "tensor", ratio_ip_op=1000.0, ratio_ip_gb=20.0,
                                 gb_thickness_nm=1.0), labels, tmp_path,
                       phases={"zro2": -1}, grains=grains)
    result = assert_agrees(data, tmp_path)
    assert result.solution.floating.sum() == 8 * 8 + 6 * 8


def test_current_controlled_electrodes(tmp_path):
    data = polycrystal((64, 48), ratio_ip_op=100.0)
    data["electrodes"][0] = {"name": "source", "region": "left", "current_A": 3e-9}
    data["electrodes"].append({"name": "probe", "region": "top", "current_A": 0.0})
    result = assert_agrees(data, tmp_path)
    assert result.solution.stats.n_rhs == 3
    assert result.electrode_currents_A["source"] == pytest.approx(3e-9, rel=1e-9)


# --------------------------------------------------------------------------- the structure


def test_grid_operator_is_the_matrix_on_the_grid(tmp_path):
    result = solve_dict(direct(polycrystal((30, 22))), tmp_path)
    network = result.network
    rows = np.flatnonzero(~result.solution.floating)
    grid = network.grid_operator(rows)
    matrix = network_matrix(network)[rows][:, rows]
    assert np.array_equal(grid.row_voxel, network.node_voxel[rows])
    assert np.array_equal(grid.active.reshape(-1)[grid.row_voxel], np.ones(len(rows), bool))
    assert grid.active.sum() == len(rows)
    rebuilt = grid_matrix(grid.face, grid.diagonal_extra)[grid.row_voxel][:, grid.row_voxel]
    assert abs(rebuilt - matrix).max() <= 1e-15 * abs(matrix).max()


def grid_matrix(face, extra) -> sp.csr_matrix:
    """The operator of face conductances on a grid, assembled entry by entry (reference)."""
    shape = extra.shape
    n = extra.size
    index = np.arange(n).reshape(shape)
    rows, cols, values = [], [], []
    for axis, g in enumerate(face):
        lower = [slice(None)] * len(shape)
        upper = [slice(None)] * len(shape)
        lower[axis] = slice(0, -1)
        upper[axis] = slice(1, None)
        a, b = index[tuple(lower)].ravel(), index[tuple(upper)].ravel()
        assert not np.any(g[tuple([slice(None)] * axis + [-1])])  # no face beyond the grid
        w = g[tuple(lower)].ravel()
        rows += [a, b, a, b]
        cols += [b, a, a, b]
        values += [-w, -w, w, w]
    matrix = sp.coo_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(n, n)).tocsr()
    return matrix + sp.diags(extra.ravel())


@pytest.mark.parametrize("shape", [(1, 7, 9), (5, 6, 7)])
def test_box_aggregation_is_the_galerkin_operator(shape):
    rng = np.random.default_rng(1)
    active = rng.random(shape) > 0.2
    face = []
    for axis in range(3):
        g = rng.random(shape) * active
        upper = np.roll(active, -1, axis=axis)
        g *= upper
        g[tuple([slice(None)] * axis + [-1])] = 0.0
        face.append(g if shape[axis] > 1 else np.zeros(shape))
    extra = rng.random(shape) * active * (rng.random(shape) > 0.7)
    coarse_face, coarse_extra, coarse_active = aggregate(tuple(face), extra, active)
    parent = np.ravel_multi_index(tuple(i // 2 for i in np.indices(shape)),
                                  coarse_extra.shape).ravel()
    p = sp.csr_matrix((active.ravel().astype(float), (np.arange(active.size), parent)),
                      shape=(active.size, coarse_extra.size))
    galerkin = (p.T @ grid_matrix(face, extra) @ p).toarray()
    coarse = grid_matrix(coarse_face, coarse_extra).toarray()
    np.testing.assert_allclose(coarse, galerkin, rtol=1e-13, atol=1e-14)
    assert np.array_equal(coarse_active.ravel(), np.asarray(p.sum(axis=0)).ravel() > 0)


@pytest.mark.parametrize("smoother, cycle_type", [("point", "V"), ("line", "V"), ("line", "W")])
@pytest.mark.parametrize("shape", [(70, 50), (18, 14, 11)])
def test_the_cycle_is_a_symmetric_positive_definite_preconditioner(tmp_path, smoother,
                                                                   cycle_type, shape):
    result = solve_dict(direct(polycrystal(shape, ratio_ip_op=1e3)), tmp_path)
    rows = np.flatnonzero(~result.solution.floating)
    grid = result.network.grid_operator(rows)
    for dtype, tolerance in ((np.float32, 1e-5), (np.float64, 1e-12)):
        hierarchy = cycle.Hierarchy(grid, dtype, smoother, cycle=cycle_type,
                                    weight=1.0 if cycle_type == "W" else None)
        assert len(hierarchy.levels) >= 3
        x, y = np.random.default_rng(0).standard_normal((2, len(rows)))
        assert x @ hierarchy(y) == pytest.approx(y @ hierarchy(x), rel=tolerance)
        assert x @ hierarchy(x) > 0
    with pytest.raises(ValueError, match=r"^coarse-correction weight 2\.5 outside \(0, 2\.0\]$"):
        cycle.Hierarchy(grid, np.float32, smoother, weight=2.5)


@pytest.mark.parametrize("smoother, shape", [("point", (70, 50)), ("line", (70, 50)),
                                             ("point", (18, 14, 11)), ("line", (18, 14, 11)),
                                             ("point", (9, 12, 1))])
def test_skipping_the_exactly_solved_residuals_does_not_change_the_cycle(tmp_path, smoother,
                                                                         shape):
    """The restriction leaves out the blocks the last smoothing step solved (their residual is
    0): the same cycle as with every residual computed, to float64 rounding."""
    result = solve_dict(direct(polycrystal(shape, ratio_ip_op=1e3)), tmp_path)
    rows = np.flatnonzero(~result.solution.floating)
    grid = result.network.grid_operator(rows)
    hierarchy = cycle.Hierarchy(grid, np.float64, smoother)
    skipped = {level.solved_blocks[0] for level in hierarchy.levels[:-1]}
    assert skipped - {0}, "no level skips a colour: the test would compare a cycle to itself"
    y = np.random.default_rng(1).standard_normal(len(rows))
    skipping = hierarchy(y)
    for level in hierarchy.levels[:-1]:
        level.solved_blocks = (0, 0)
    everything = hierarchy(y)
    np.testing.assert_allclose(skipping, everything, rtol=1e-11,
                               atol=1e-11 * np.abs(everything).max())


def test_the_first_red_black_step_from_zero_is_a_gauss_seidel_step():
    """point_start(b) == one Gauss-Seidel step of that colour from x = 0 (other colour 0)."""
    from netsolve.multigrid import kernels
    from netsolve.multigrid.grid import grid_pad

    rng = np.random.default_rng(3)
    n0, n1, n2 = 5, 6, 7
    pad = grid_pad((n0, n1, n2))
    size = n0 * n1 * n2 + 2 * pad
    g0, g1, g2 = (np.zeros(size) for _ in range(3))
    for axis, g in enumerate((g0, g1, g2)):
        faces = rng.uniform(0.1, 2.0, (n0, n1, n2))
        np.moveaxis(faces, axis, 0)[-1] = 0.0  # no face beyond the last layer (kernels' layout)
        g[pad:pad + n0 * n1 * n2] = faces.ravel()
    b = np.zeros(size)
    b[pad:pad + n0 * n1 * n2] = rng.standard_normal(n0 * n1 * n2)
    inv_diagonal = np.zeros(size)
    inv_diagonal[pad:pad + n0 * n1 * n2] = rng.uniform(0.1, 1.0, n0 * n1 * n2)
    for colour in (0, 1):
        expected = np.zeros(size)
        kernels.point_sweep(expected, b, g0, g1, g2, inv_diagonal, n0, n1, n2, pad, colour)
        started = np.full(size, np.nan)
        started[:pad] = started[-pad:] = 0.0
        kernels.point_start(started, b, inv_diagonal, n0, n1, n2, pad, colour)
        np.testing.assert_array_equal(started, expected)


def test_line_smoothing_is_chosen_for_anisotropic_grids_only(tmp_path):
    for ratio, expected in ((1.0, "point"), (1e3, "line")):
        result = solve_dict(direct(polycrystal((40, 30), ratio_ip_op=ratio)), tmp_path)
        assert cycle.choose_smoother(result.network.grid_operator()) == expected


def _anisotropy_counts_by_numpy(faces):
    """The compiled count, written with grid-shaped NumPy arrays (the reference)."""
    strongest = []
    for axis, g in enumerate(faces):
        if g.shape[axis] == 1:
            continue
        lower = np.zeros_like(g)
        index, shifted = [slice(None)] * g.ndim, [slice(None)] * g.ndim
        index[axis], shifted[axis] = slice(1, None), slice(0, -1)
        lower[tuple(index)] = g[tuple(shifted)]
        strongest.append(np.maximum(g, lower))
    high, low = np.maximum.reduce(strongest), np.minimum.reduce(strongest)
    coupled = low > 0
    return (int(np.count_nonzero(coupled)),
            int(np.count_nonzero(high[coupled] > cycle.STRONG_RATIO * low[coupled])))


@pytest.mark.parametrize("shape", [(9, 7), (6, 5, 4), (1, 8, 6), (7, 1, 5)])
def test_the_compiled_anisotropy_count_matches_numpy(shape):
    from netsolve.multigrid import kernels
    from netsolve.multigrid.grid import GridOperator, as_3d, grid_pad

    rng = np.random.default_rng(len(shape) + sum(shape))
    faces = []
    for axis in range(len(shape)):
        g = rng.choice([0.0, 1.0, 3.0, 10.0, 1e3], size=shape)
        last = [slice(None)] * len(shape)
        last[axis] = -1
        g[tuple(last)] = 0.0  # no face beyond the last layer
        faces.append(g)
    pad = grid_pad(as_3d(shape))
    grid = GridOperator(shape, tuple(np.pad(g.reshape(-1), pad) for g in faces),
                        np.zeros(shape), np.arange(int(np.prod(shape))))
    padded = tuple(grid.padded_face)
    if len(shape) == 2:
        padded = (np.zeros(1),) + padded
    expected = _anisotropy_counts_by_numpy([g.reshape(as_3d(shape)) for g in
                                            ([np.zeros(as_3d(shape))] if len(shape) == 2 else [])
                                            + faces])
    counted = kernels.anisotropy_counts(*padded, *as_3d(shape), pad, cycle.STRONG_RATIO)
    assert tuple(int(c) for c in counted) == expected
    assert expected[0] > 0


# --------------------------------------------------------------------------- choices and errors


def test_auto_picks_the_grid_multigrid_for_large_two_point_operators_only():
    assert choose_method("auto", 10**6, 2, None, on_grid=True) == "gmg"
    assert choose_method("auto", 10**6, 3, None, on_grid=True) == "gmg"
    assert choose_method("auto", 10**6, 3, None, on_grid=False) == "amg"
    assert choose_method("auto", 10**5, 2, None, on_grid=True) == "amg"
    assert choose_method("auto", 512**2, 2, None, on_grid=True) == "gmg"
    assert choose_method("auto", 100, 2, None, on_grid=True) == "direct"
    assert choose_method("amg", 10**6, 2, None, on_grid=True) == "amg"
    # an operator that was measured slower with gmg (the 2D finite elements) says never
    assert choose_method("auto", 10**6, 2, None, on_grid=True, gmg_min=None) == "amg"
    assert choose_method("auto", 10**4, 3, None, on_grid=True, gmg_min=0) == "gmg"
    # an operator off the voxel grid (a certified run's refined trees) takes the AMG fallback
    assert choose_method("gmg", 10**6, 2, None, on_grid=False) == "amg"


def test_a_float32_hierarchy_short_of_rtol_continues_in_float64(tmp_path):
    # maxiter below what the solve needs: the float32 stage stops short, the float64 stage
    # continues from its iterate (up to maxiter again) and reaches rtol
    data = polycrystal((72, 56), ratio_ip_op=1e3)
    data["solver"] = {"maxiter": 8, "balance_tol": 0.5}  # no balance-driven tightening here
    reference = solve_dict(direct(data), tmp_path)
    result = solve_dict(gmg(data, rtol=1e-10), tmp_path)
    stats = result.solution.stats
    assert stats.precision == "float64" and 8 < stats.iterations <= 16
    assert stats.residual_rel <= 10 * 1e-10  # the solver's acceptance (docs/model.md, Guards)
    assert result.total_current_A == pytest.approx(reference.total_current_A, rel=1e-7)


def test_a_nan_conductance_is_an_error_not_a_result(tmp_path):
    result = solve_dict(direct(polycrystal((40, 30))), tmp_path)
    network = result.network
    grid = network.grid_operator()
    grid.padded_face[0][grid.pad + grid.row_voxel[5]] = np.nan
    matrix = network_matrix(network)
    rhs = np.zeros((network.n_nodes, 1))
    rhs[network.electrode_link_node, 0] = network.electrode_link_conductance
    with pytest.raises(CaseError, match=r"^case: solver 'gmg' did not converge: relative "
                                        r"residual nan > rtol"):
        multigrid.solve(matrix, rhs, grid, 1e-8, 100)


def test_non_convergence_is_an_error_naming_the_remedy(tmp_path):
    data = gmg(polycrystal((64, 48)), rtol=1e-12)
    data["solver"]["maxiter"] = 1
    with pytest.raises(CaseError, match=r"^case: solver 'gmg' did not converge: relative "
                                        r"residual .* > rtol 1\.0e-12 after \d+ iterations "
                                        r"\(raise solver\.maxiter, or use solver\.method = "
                                        r"\"amg\" or \"direct\"\)$"):
        solve_dict(data, tmp_path)


# --------------------------------------------------------------------------- balances in CG


def _balance_problem(tmp_path, tolerance):
    """A 2D polycrystal's gmg system with its electrodes at 1 V / 0 V, the balance target of
    that right-hand side, and the exact electrode currents (direct solve)."""
    from netsolve.stopping import BalanceTarget

    result = solve_dict(direct(polycrystal((72, 56), ratio_ip_op=1e3)), tmp_path)
    network = result.network
    rows = np.flatnonzero(~result.solution.floating)
    index = np.full(network.n_nodes, -1)
    index[rows] = np.arange(len(rows))
    link_node = index[network.electrode_link_node]
    potential = np.array([1.0, 0.0])
    rhs = np.bincount(link_node, network.electrode_link_conductance
                      * potential[network.electrode_link_electrode], len(rows))[:, None]
    target = BalanceTarget(link_node, network.electrode_link_electrode.astype(np.int64),
                           network.electrode_link_conductance, potential, np.zeros((2, 2)),
                           tolerance)
    matrix = network_matrix(network)[rows][:, rows]
    return network.grid_operator(rows), matrix, rhs, target


def test_cg_continues_past_rtol_until_the_balances_hold(tmp_path):
    grid, matrix, rhs, target = _balance_problem(tmp_path, 1e-9)
    loose, loose_stats = multigrid.solve(matrix, rhs, grid, 1e-3, 200)
    u = loose[:, 0]
    assert not target.holds(u[target.rows], float(u @ (rhs[:, 0] - matrix @ u)))
    x, stats = multigrid.solve(matrix, rhs, grid, 1e-3, 200, balance=target)
    u = x[:, 0]
    assert stats.iterations > loose_stats.iterations
    assert target.holds(u[target.rows], float(u @ (rhs[:, 0] - matrix @ u)))
    exact = sp.linalg.spsolve(matrix.tocsc(), rhs[:, 0])
    assert np.allclose(target.currents(u[target.rows]), target.currents(exact[target.rows]),
                       rtol=1e-8)


def test_balance_targets_reject_nan_and_a_missing_power(tmp_path):
    grid, matrix, rhs, target = _balance_problem(tmp_path, 1e-9)
    exact = sp.linalg.spsolve(matrix.tocsc(), rhs[:, 0])
    u = exact[target.rows]
    assert target.holds(u, 0.0)
    assert not target.holds(u, float("nan"))
    assert not target.holds(np.where(np.arange(len(u)) == 0, np.nan, u), 0.0)
    # the residual's share of the power beyond the tolerance
    power = float(target.electrode_potential @ target.currents(u))
    assert not target.holds(u, 2e-9 * power) and target.holds(u, 0.5e-9 * power)
    # no current at all (every link at its electrode's potential): no balance to speak of
    assert not target.holds(target.electrode_potential[target.link_electrode], 0.0)

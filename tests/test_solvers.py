"""The root-node AMG preconditioner of the FEM matrix and its spectral-radius estimate."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import netsolve
from netsolve.solvers import RugeStubenPreconditioner, lanczos_largest_eigenvalue
from conftest import base_case


def fem_matrix() -> sp.csr_matrix:
    data = base_case((24, 18), model="tensor", ratio_ip_op=1000.0)
    data["microstructure"] = {"source": "voronoi", "n_grains": 6, "seed": 3}
    data["solver"]["discretization"] = "fem"
    return netsolve.solve(netsolve.case_from_dict(data)).network.matrix


def test_lanczos_is_exact_on_an_invariant_subspace_and_on_the_path_laplacian():
    assert lanczos_largest_eigenvalue(lambda x: np.array([2.0, 5.0, 3.0]) * x, 3) == \
        pytest.approx(5.0, rel=1e-12)
    n = 12  # 1D Dirichlet Laplacian: eigenvalues 2 - 2 cos(k pi / (n + 1))
    path = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).tocsr()
    exact = 2 - 2 * np.cos(n * np.pi / (n + 1))
    assert lanczos_largest_eigenvalue(lambda x: path @ x, n, steps=n) == \
        pytest.approx(exact, rel=1e-10)
    assert lanczos_largest_eigenvalue(lambda x: path @ x, n, steps=4) <= exact  # Ritz bound


def test_rootnode_preconditioner_is_symmetric_and_leaves_the_matrix_alone():
    matrix = fem_matrix()
    before = (matrix.indptr.copy(), matrix.indices.copy(), matrix.data.copy())
    precond = RugeStubenPreconditioner(matrix, hierarchy="rootnode")
    assert all(level.A.format == "csr" for level in precond.levels)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, matrix.shape[0]))
    assert x @ precond(y) == pytest.approx(y @ precond(x), rel=1e-5)
    assert x @ precond(x) > 0
    for saved, now in zip(before, (matrix.indptr, matrix.indices, matrix.data)):
        assert np.array_equal(saved, now)


def test_explicit_zeros_of_the_operator_survive_the_amg_setup():
    # Stored zeros are connectivity (netsolve.solve): pyamg, which drops them, gets a copy.
    matrix = fem_matrix().copy()
    matrix.data[np.flatnonzero(matrix.indices != np.repeat(np.arange(matrix.shape[0]),
                                                           np.diff(matrix.indptr)))[0]] = 0.0
    nnz = matrix.nnz
    RugeStubenPreconditioner(matrix, hierarchy="rootnode")
    assert matrix.nnz == nnz and np.count_nonzero(matrix.data == 0) == 1


# --------------------------------------------------------------------------- stopping rule


@pytest.mark.parametrize("method", ["amg", "cg"])
def test_iterative_solvers_continue_past_rtol_until_the_balances_hold(tmp_path, method):
    from netsolve.solvers import linear_solve
    from test_gmg import _balance_problem

    _, matrix, rhs, target = _balance_problem(tmp_path, 1e-9)
    loose, loose_stats = linear_solve(matrix, rhs, method, 1e-3, 5000)
    u = loose[:, 0]
    assert not target.holds(u[target.rows], float(u @ (rhs[:, 0] - matrix @ u)))
    x, stats = linear_solve(matrix, rhs, method, 1e-3, 5000, balance=target)
    u = x[:, 0]
    assert stats.iterations > loose_stats.iterations
    assert target.holds(u[target.rows], float(u @ (rhs[:, 0] - matrix @ u)))


def test_pcg_solves_exactly_and_never_passes_nan():
    from netsolve.stopping import pcg

    rng = np.random.default_rng(3)
    a = sp.random(60, 60, density=0.1, random_state=4)
    matrix = (a @ a.T + 60 * sp.identity(60)).tocsr()  # SPD
    b = rng.standard_normal(60)
    x, iterations, residual = pcg(matrix, b, sp.identity(60), 1e-12, 200)
    assert np.allclose(x, sp.linalg.spsolve(matrix.tocsc(), b), rtol=1e-10, atol=1e-12)
    assert residual <= 1e-12 and 0 < iterations <= 60
    matrix.data[0] = np.nan
    _, _, residual = pcg(matrix, b, sp.identity(60), 1e-12, 200)
    assert residual == float("inf")


@pytest.mark.parametrize("method", ["amg", "gmg"])
def test_an_unreachable_balance_stops_at_the_floor_or_stagnation_not_maxiter(tmp_path, method):
    from netsolve.solvers import linear_solve
    from netsolve.stopping import BALANCE_FLOOR
    from test_gmg import _balance_problem

    grid, matrix, rhs, target = _balance_problem(tmp_path, 1e-300)
    fresh, fresh_stats = linear_solve(matrix, rhs, method, 1e-6, 100_000, grid=grid)
    x, stats = linear_solve(matrix, rhs, method, 1e-6, 100_000, grid=grid, balance=target)
    assert fresh_stats.iterations < stats.iterations < 100_000
    # it went on to about what float64 CG can reach
    assert stats.residual_rel <= 1e3 * BALANCE_FLOOR


def test_ordinary_pages_switches_numpy_for_the_duration_and_respects_the_user(monkeypatch):
    from netsolve.resources import ordinary_pages

    switch = np._core.multiarray._set_madvise_hugepage  # returns the previous setting

    def current() -> bool:
        value = switch(True)
        switch(value)
        return bool(value)

    original = switch(True)
    try:
        monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
        with ordinary_pages():
            assert current() is False
        assert current() is True
        with pytest.raises(RuntimeError):  # restored on an exception too
            with ordinary_pages():
                raise RuntimeError
        assert current() is True
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")  # the user's choice wins
        with ordinary_pages():
            assert current() is True
    finally:
        switch(original)


def test_balance_targets_are_one_per_right_hand_side(tmp_path):
    from netsolve.stopping import column_targets
    from test_gmg import _balance_problem

    _, _, _, target = _balance_problem(tmp_path, 1e-9)
    assert column_targets(None, 3) == [None, None, None]
    assert column_targets(target, 1) == [target]
    assert column_targets([target, None], 2) == [target, None]
    with pytest.raises(ValueError, match="^2 balance targets for 3 right-hand sides$"):
        column_targets([target, target], 3)


def test_netsolve_solve_runs_blas_on_one_thread_and_restores_the_limit(tmp_path, monkeypatch):
    import netsolve.api as api
    from conftest import solve_dict
    from test_sweep_cost import _blas_threads as blas_threads

    seen = []
    solve_network = api.solve_network

    def recording(*args, **kwargs):
        seen.append(blas_threads())
        return solve_network(*args, **kwargs)

    monkeypatch.setattr(api, "solve_network", recording)
    before = blas_threads()
    result = solve_dict(base_case((12, 8)), tmp_path)
    assert result.total_current_A > 0 and seen == [{1}]
    assert blas_threads() == before

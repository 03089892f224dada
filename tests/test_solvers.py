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

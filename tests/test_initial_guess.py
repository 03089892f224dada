"""The Galerkin projection onto earlier solutions (netsolve.initial_guess): never further from
the answer in the energy norm than any earlier solution or a linear extrapolation through
them, exact when the answer is in the span, and refused for unusable bases."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from netsolve.initial_guess import projected_guess
from netsolve.solve import laplacian


def _system(gb_ratio: float, n: int = 24, seed: int = 3):
    """A two-point network on an n x n grid: random grain conductances, one column of links
    with conductance / gb_ratio (a grain boundary), the left column tied to 1 V, the right
    to 0 V through electrode links. Returns the SPD matrix and its right-hand side."""
    rng = np.random.default_rng(seed)
    index = np.arange(n * n).reshape(n, n)
    a = np.concatenate([index[:, :-1].ravel(), index[:-1, :].ravel()])
    b = np.concatenate([index[:, 1:].ravel(), index[1:, :].ravel()])
    g = rng.uniform(0.5, 2.0, len(a))
    crossing = np.zeros(len(a), dtype=bool)
    crossing[:n * (n - 1)] = (np.arange(n * (n - 1)) % (n - 1)) == n // 2
    g[crossing] /= gb_ratio
    electrode = np.zeros(n * n)
    electrode[index[:, 0]] = electrode[index[:, -1]] = 2.0
    matrix = laplacian(n * n, (a, b), g, electrode)
    rhs = np.zeros((n * n, 1))
    rhs[index[:, 0], 0] = 2.0 * 1.0
    return matrix, rhs


def _energy_error(matrix, x, exact) -> float:
    e = x - exact
    return float(np.sqrt(e @ (matrix @ e)))


def test_projection_beats_every_earlier_solution_and_extrapolation():
    ratios = [1.0, 2.0, 5.0]
    earlier = [spla.spsolve(_system(r)[0].tocsc(), _system(r)[1][:, 0])[:, None] for r in ratios]
    matrix, rhs = _system(10.0)
    exact = spla.spsolve(matrix.tocsc(), rhs[:, 0])
    guess = projected_guess(matrix, rhs, earlier)
    assert guess is not None and guess.shape == rhs.shape
    projected = _energy_error(matrix, guess[:, 0], exact)
    # linear extrapolation in log(ratio) through the last two solutions: in the span
    t = (np.log(10.0) - np.log(5.0)) / (np.log(5.0) - np.log(2.0))
    extrapolated = earlier[2][:, 0] + t * (earlier[2][:, 0] - earlier[1][:, 0])
    others = [_energy_error(matrix, u[:, 0], exact) for u in earlier]
    others.append(_energy_error(matrix, extrapolated, exact))
    assert projected <= min(others) * (1 + 1e-9)
    assert projected < 0.5 * min(others)  # and by a margin on this smooth family


def test_answer_in_the_span_is_recovered():
    matrix, rhs = _system(20.0)
    exact = spla.spsolve(matrix.tocsc(), rhs[:, 0])
    other = spla.spsolve(_system(3.0)[0].tocsc(), _system(3.0)[1][:, 0])
    basis = [other[:, None], (exact + 0.5 * other)[:, None]]  # exact = second - 0.5 first
    guess = projected_guess(matrix, rhs, basis)
    np.testing.assert_allclose(guess[:, 0], exact, rtol=0, atol=1e-10 * np.abs(exact).max())


def test_zero_columns_stay_zero_and_parallel_vectors_are_harmless():
    matrix, rhs = _system(5.0)
    rhs2 = np.concatenate([rhs, np.zeros_like(rhs)], axis=1)
    exact = spla.spsolve(matrix.tocsc(), rhs[:, 0])
    u = np.stack([exact, exact], axis=1) * 0.9
    guess = projected_guess(matrix, rhs2, [u, 2 * u, u * (1 + 1e-15)])  # nearly dependent
    assert np.all(guess[:, 1] == 0.0)
    np.testing.assert_allclose(guess[:, 0], exact, rtol=1e-9)


def test_unusable_bases_give_none():
    matrix, rhs = _system(5.0)
    n = rhs.shape[0]
    assert projected_guess(matrix, rhs, []) is None
    assert projected_guess(matrix, rhs, [np.ones((n + 1, 1))]) is None  # another shape
    bad = np.ones((n, 1))
    bad[3] = np.nan
    assert projected_guess(matrix, rhs, [bad]) is None
    assert projected_guess(matrix, rhs, [np.zeros((n, 1))]) is None  # no energy at all
    assert projected_guess(sp.csr_matrix((n, n)), rhs, [np.ones((n, 1))]) is None

"""Initial guesses for a solve from the solutions of similar systems (a parameter sweep).

:func:`projected_guess` is the Galerkin projection of the new system onto the span of earlier
solutions: of all combinations ``U c`` of the given solutions, the one closest to the new
solution in the energy norm ``||x - x*||_A`` (``A`` SPD). That span contains every earlier
solution and every linear extrapolation through them, so the projection is never further from
the answer (in that norm, the one CG minimises) than the nearest earlier solution alone, or a
linear extrapolation along a sweep axis; measured on the 512^2 grid-multigrid sweep, its
residual is 10-300x below the nearest solution's on most points (docs/performance.md).
Cost: one matrix product per basis vector and a small dense eigen-solve.
"""

from __future__ import annotations

import numpy as np

# Basis directions whose energy is below this fraction of the largest are dropped: earlier
# solutions of neighbouring points are nearly parallel, and the small system must not amplify
# their rounding.
RELATIVE_CUTOFF = 1e-13


def projected_guess(matrix, rhs: np.ndarray, basis: list[np.ndarray]) -> np.ndarray | None:
    """The Galerkin projection of ``matrix @ X = rhs`` (SPD matrix, rhs (n, k)) onto the span
    of ``basis`` (arrays of the shape of ``rhs``), column by column: ``X[:, j] = U c`` with
    ``(U^T A U) c = U^T b``, ``U`` the j-th columns of the basis. ``matrix``: anything with
    ``@`` on a vector. A zero right-hand side column gets zeros. None when the basis is empty,
    has another shape or is not finite (the caller keeps its own guess)."""
    basis = [u for u in basis if u is not None and u.shape == rhs.shape]
    if not basis or not all(np.all(np.isfinite(u)) for u in basis):
        return None
    guess = np.zeros(rhs.shape)
    for j in range(rhs.shape[1]):  # one column per right-hand side (a handful)
        b = rhs[:, j]
        if not b.any():
            continue
        u = [np.ascontiguousarray(v[:, j]) for v in basis]
        au = [np.asarray(matrix @ v, dtype=np.float64) for v in u]
        # dot products of the vectors as they are (stacking them would copy the basis)
        gram = np.array([[float(x @ y) for y in au] for x in u])
        gram = 0.5 * (gram + gram.T)  # symmetric up to rounding: make it exactly so
        values, vectors = np.linalg.eigh(gram)
        largest = float(values.max())
        if not largest > 0 or not np.isfinite(largest):
            return None
        keep = values > RELATIVE_CUTOFF * largest
        load = np.array([float(x @ b) for x in u])
        coefficients = vectors[:, keep] @ ((vectors[:, keep].T @ load) / values[keep])
        column = guess[:, j]
        for c, x in zip(coefficients, u):
            column += c * x
    return guess if np.all(np.isfinite(guess)) else None

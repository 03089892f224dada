"""Solvers for the complex symmetric admittance systems Y u = b.

- ``direct``: SuperLU (COLAMD) of the complex matrix, one factorization per frequency.
- ``amg``: COCG (conjugate orthogonal conjugate gradients: CG with the unconjugated bilinear
  form x^T y, for complex symmetric matrices; van der Vorst & Melissen 1990) preconditioned by
  a real AMG V-cycle of P = W + T, the Laplacian of Re y + Im y of the branches
  (:class:`netsolve.solvers.RugeStubenPreconditioner`, applied to the real and the imaginary
  part). For Y = W + i T with W, T symmetric positive semi-definite, the field of values of
  P^-1/2 Y P^-1/2 lies on the segment from 1 to i, at least 1/sqrt(2) from the origin, at every
  frequency: the iteration count does not grow with omega (docs/impedance.md has the
  measurements that chose COCG and this P over GMRES/BiCGStab and the DC matrix).

SciPy has no COCG; it is a dozen lines (:func:`cocg`). When COCG stalls (its short recurrence
can break down) the solve continues with SciPy's GMRES from where COCG stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import CaseError
from ..solvers import RugeStubenPreconditioner


@dataclass(frozen=True)
class FrequencyStats:
    """How one frequency was solved: method, iterations (0 for direct), relative residual
    ||b - Y u|| / ||b||, time (s), whether an AMG hierarchy was set up for it."""

    method: str
    iterations: int
    residual_rel: float
    time_s: float
    setup: bool = False


class ComplexAMG:
    """A real AMG V-cycle applied to complex vectors (real and imaginary part separately)."""

    def __init__(self, real_matrix: sp.csr_matrix, ndim: int):
        interpolation = "classical" if ndim == 2 else "direct"
        self.cycle = RugeStubenPreconditioner(real_matrix, np.float32, interpolation)

    def __call__(self, residual: np.ndarray) -> np.ndarray:
        return self.cycle(residual.real) + 1j * self.cycle(residual.imag)


def cocg(matrix, b, preconditioner, rtol: float, maxiter: int, x0=None):
    """Preconditioned COCG for a complex symmetric ``matrix`` and a complex symmetric
    (here real SPD) preconditioner. Returns (x, iterations, relative residual)."""
    x = np.zeros_like(b) if x0 is None else x0.copy()
    r = b - matrix @ x
    norm_b = np.linalg.norm(b)
    z = preconditioner(r)
    p = z.copy()
    rho = r @ z  # unconjugated: the bilinear form COCG is built on
    for iteration in range(1, maxiter + 1):
        q = matrix @ p
        pq = p @ q
        if pq == 0 or rho == 0:
            return x, iteration, float(np.linalg.norm(r) / norm_b)
        alpha = rho / pq
        x += alpha * p
        r -= alpha * q
        residual = float(np.linalg.norm(r) / norm_b)
        if residual <= rtol:
            return x, iteration, residual
        z = preconditioner(r)
        rho_new = r @ z
        p = z + (rho_new / rho) * p
        rho = rho_new
    return x, maxiter, float(np.linalg.norm(r) / norm_b)


def solve_direct(matrix: sp.csr_matrix, rhs: np.ndarray):
    start = time.perf_counter()
    x = spla.splu(matrix.tocsc(), permc_spec="COLAMD").solve(rhs)
    return x, FrequencyStats("direct", 0, relative_residual(matrix, x, rhs),
                             time.perf_counter() - start)


# A hierarchy set up at one frequency is reused at the next ones with a budget of this many
# COCG iterations beyond those it took where it was set up; a solve that runs out of budget
# sets up a hierarchy for its own matrix and goes on from where it stopped. A setup costs
# about as much as this many iterations (measured at 512^2, docs/impedance.md).
REBUILD_EXTRA_ITERATIONS = 10


@dataclass
class HierarchyReuse:
    """What one frequency hands to the next (mutable): the AMG preconditioner, the iterations
    it took at the frequency where it was set up, and the last solution (initial guess)."""

    preconditioner: ComplexAMG | None = None
    fresh_iterations: int = 0
    previous: np.ndarray | None = None


def solve_amg(matrix, rhs, real_matrix, ndim: int, reuse: HierarchyReuse, rtol: float,
              maxiter: int, origin: str):
    """COCG + AMG for one frequency. ``real_matrix()``: the real SPD matrix W + T to set up a
    hierarchy for (called only when one is needed)."""
    start = time.perf_counter()
    x, iterations, residual, setup = reuse.previous, 0, np.inf, False
    if reuse.preconditioner is not None:
        budget = min(maxiter, reuse.fresh_iterations + REBUILD_EXTRA_ITERATIONS)
        x, iterations, residual = cocg(matrix, rhs, reuse.preconditioner, rtol, budget, x)
    if residual > rtol:
        reuse.preconditioner, setup = ComplexAMG(real_matrix(), ndim), True
        x, fresh, residual = cocg(matrix, rhs, reuse.preconditioner, rtol,
                                  maxiter - iterations, x)
        reuse.fresh_iterations = fresh
        iterations += fresh
    if residual > rtol:  # COCG broke down or stalled: GMRES from where it stopped
        count = [0]
        operator = spla.LinearOperator(matrix.shape, matvec=reuse.preconditioner, dtype=complex)
        x, _ = spla.gmres(matrix, rhs, x0=x, rtol=rtol, atol=0.0, restart=50, maxiter=maxiter,
                          M=operator, callback=lambda _r: count.__setitem__(0, count[0] + 1),
                          callback_type="pr_norm")
        iterations += count[0]
        residual = relative_residual(matrix, x, rhs)
    if not residual <= max(10 * rtol, 1e-12):
        raise CaseError(f"{origin}: impedance solver 'amg' did not converge: relative residual "
                        f"{residual:.2e} > rtol {rtol:.1e} after {iterations} iterations (raise "
                        f"impedance.maxiter or use impedance.method = \"direct\")")
    reuse.previous = x
    return x, FrequencyStats("amg", iterations, residual, time.perf_counter() - start, setup)


def relative_residual(matrix, x, rhs) -> float:
    norm = np.linalg.norm(rhs)
    return float(np.linalg.norm(rhs - matrix @ x) / norm) if norm > 0 else 0.0

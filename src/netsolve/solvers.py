"""Linear solvers for the symmetric positive definite network matrices.

- ``direct``: SuperLU with COLAMD ordering (MMD_AT_PLUS_A was measured pathological on these
  grids: 100x slower). Exact to rounding; fill-in limits it to small systems, especially in 3D.
- ``amg``: conjugate gradients (float64) preconditioned by one V-cycle of classical
  Ruge-Stueben AMG (pyamg) whose levels are stored in float32. Classical AMG copes with the
  random 1000:1 anisotropy of the grains far better than smoothed aggregation (measured 29
  against 51 iterations at 2048^2); float32 levels halve the memory traffic of the cycle while
  CG, the residual and the convergence check stay in float64. If the float32 hierarchy does not
  reach the tolerance, the solve is repeated with a float64 hierarchy from where it stopped.
  The finite-element matrix gets a root-node aggregation hierarchy instead (the operator's
  ``amg_hierarchy``; :class:`RugeStubenPreconditioner`), with the same cycle.
- ``cg``: Jacobi-preconditioned CG (no setup; slow, mostly a reference).

All share one contract: ``solve(matrix, rhs, rtol, maxiter) -> (X, SolverStats)`` with rhs of
shape (n, k); a hierarchy or factorization is built once for all k right-hand sides.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .errors import SolveError
from .stopping import column_targets, pcg

# "auto" uses the direct solver only below these sizes: LU fill-in grows much faster on 3D
# grids (measured: 32^3 took 7 s direct against 0.1 s AMG), see docs/performance.md.
DIRECT_MAX_UNKNOWNS = {2: 40_000, 3: 5_000}
# Iterative refinement after a direct solve: at most this many extra solves with the factors,
# stopped once the residual is at rounding level.
DIRECT_REFINEMENT_STEPS = 4
REFINEMENT_TARGET = 1e-15
# ... and the grid multigrid (two-point operator) from this size on: below it, numba's import
# and kernel loading (~0.5 s per process) outweigh its faster cycle (measured, one process per
# solve: 512^2 and 64^3 gmg 20-25 % less CPU than amg, 256^2 75 % more; docs/performance.md).
GMG_MIN_UNKNOWNS = 200_000


@dataclass(frozen=True)
class SolverStats:
    """How the linear system was solved. ``iterations`` is 0 for the direct solver and the
    largest count over the right-hand sides otherwise; ``residual_rel`` = max ||b - Ax|| / ||b||."""

    method: str
    iterations: int
    residual_rel: float
    time_s: float
    setup_time_s: float = 0.0
    n_rhs: int = 1
    precision: str = "float64"

    def as_dict(self) -> dict:
        return {"method": self.method, "iterations": self.iterations,
                "residual_rel": self.residual_rel, "time_s": self.time_s,
                "setup_time_s": self.setup_time_s, "n_rhs": self.n_rhs,
                "preconditioner_precision": self.precision}


@dataclass
class WarmStart:
    """Reuse between similar systems (a parameter sweep; mutable, filled in by the solve).

    In: ``x0`` (n, k) initial guesses; ``preconditioner``, an AMG preconditioner built for a
    similar matrix (used instead of a new setup); ``reused_maxiter``, the iteration budget of a
    reused preconditioner before a fresh one is built for this matrix and CG continues from where
    it stopped (every solve still converges to its rtol); ``basis``, solutions of similar
    systems (each of the shape of ``x0``): the guess is then their Galerkin projection for this
    matrix (:func:`netsolve.initial_guess.projected_guess`; ``x0`` if that fails).
    Out: ``solution`` and the ``preconditioner`` that was used last; ``rebuilt`` when a new
    hierarchy was set up, and ``fresh_iterations``, the most CG iterations a right-hand side
    took with it.
    Iterative methods only; the direct solver ignores it.
    """

    x0: np.ndarray | None = None
    preconditioner: "RugeStubenPreconditioner | None" = None
    reused_maxiter: int | None = None
    basis: list | None = None
    solution: np.ndarray | None = None
    rebuilt: bool = False
    fresh_iterations: int = 0


def choose_method(method: str, n_unknowns: int, ndim: int, direct_max: int | None,
                  on_grid: bool = False, gmg_min: int | None = GMG_MIN_UNKNOWNS) -> str:
    """``on_grid``: the operator gives its voxel-grid structure (grid multigrid possible);
    ``gmg_min``: from how many unknowns on ``auto`` prefers the grid multigrid (None: never,
    an operator's choice where it was measured slower than AMG). An explicit "gmg" on an
    operator off the voxel grid (the refined trees of a certified solve) takes "amg", the
    general fallback; the statistics record the method that ran."""
    if method == "gmg" and not on_grid:
        return "amg"
    if method != "auto":
        return method
    limit = DIRECT_MAX_UNKNOWNS[ndim] if direct_max is None else direct_max
    if n_unknowns <= limit:
        return "direct"
    return "gmg" if on_grid and gmg_min is not None and n_unknowns >= gmg_min else "amg"


def linear_solve(matrix: sp.csr_matrix, rhs: np.ndarray, method: str, rtol: float,
                 maxiter: int, ndim: int = 2, origin: str = "case",
                 amg_hierarchy: str = "classical",
                 warm: WarmStart | None = None, grid=None,
                 balance=None) -> tuple[np.ndarray, SolverStats]:
    """Solve ``matrix @ X = rhs`` (SPD matrix; rhs of shape (n, k); ndim of the voxel grid).

    ``amg_hierarchy``: "classical" (Ruge-Stueben) or "rootnode"; the discretization's choice.
    ``warm``: initial guesses and a reusable preconditioner (:class:`WarmStart`).
    ``grid``: the matrix on the voxel grid (:class:`netsolve.multigrid.GridOperator`), or where
    the finite-element unknowns sit (:class:`netsolve.multigrid.fem.CornerGrid`) or the mixed
    operator's faces (:class:`netsolve.multigrid.mixed.FaceGrid`), for "gmg".
    ``balance``: the balances each right-hand side's solution must meet (a
    :class:`~netsolve.stopping.BalanceTarget`, or one per column): the iterative methods test
    them on their iterates once ``rtol`` is reached and continue until they hold
    (:mod:`netsolve.stopping`; the caller still checks them); "direct" ignores it.
    """
    from threadpoolctl import threadpool_limits

    # pyamg and SuperLU make many small dense BLAS calls; a multithreaded BLAS spends more time
    # waking threads than computing (measured 5-15x slower AMG setup on 2 busy cores).
    with threadpool_limits(limits=1, user_api="blas"):
        if warm is not None and warm.basis and method != "direct":
            from .initial_guess import projected_guess

            guess = projected_guess(matrix, rhs, warm.basis)
            if guess is not None:
                warm.x0 = guess
        if method == "direct":
            x, stats = _direct(matrix, rhs, rtol, origin)
        elif method == "amg":
            # direct interpolation halves the 3D setup for ~3 more iterations (measured)
            interpolation = "classical" if ndim == 2 else "direct"
            x, stats = _amg(matrix, rhs, rtol, maxiter, interpolation, origin, amg_hierarchy,
                            warm, balance)
        elif method == "gmg":
            from .multigrid import solve as grid_multigrid_solve

            x, stats = grid_multigrid_solve(matrix, rhs, grid, rtol, maxiter, origin, warm,
                                            balance)
        elif method == "cg":
            x, stats = _jacobi_cg(matrix, rhs, rtol, maxiter, origin, warm, balance)
        else:
            raise ValueError(f"unknown solver method {method!r}")  # pragma: no cover
    if warm is not None:
        warm.solution = x
    return x, stats


def _initial_guess(rhs: np.ndarray, warm: WarmStart | None) -> np.ndarray:
    """Zeros, or the warm start's guesses (zero columns stay zero: their solution is 0)."""
    if warm is None or warm.x0 is None or warm.x0.shape != rhs.shape:
        return np.zeros_like(rhs)
    return np.where(rhs.any(axis=0), warm.x0, 0.0)


def relative_residual(matrix: sp.csr_matrix, x: np.ndarray, rhs: np.ndarray) -> float:
    """Largest ||b - Ax|| / ||b|| over the right-hand sides (columns with b = 0 count when x is
    not 0 there). NaN or Inf anywhere gives inf: a non-finite solution never passes a check."""
    if not np.all(np.isfinite(x)):
        return float("inf")
    worst = 0.0
    for k in range(rhs.shape[1]):
        norm = np.linalg.norm(rhs[:, k])
        residual = np.linalg.norm(rhs[:, k] - matrix @ x[:, k])
        if norm > 0:
            worst = max(worst, float(residual / norm))
        elif residual > 0:
            worst = float("inf")
    return worst if np.isfinite(worst) else float("inf")


def _direct(matrix, rhs, rtol, origin):
    """SuperLU, then iterative refinement in float64 (a few solves with the same factors) while
    it still reduces the residual: ill-conditioned networks (1e10 conductance contrasts) gain
    digits this way; the final residual is checked like an iterative solver's."""
    import scipy.sparse.linalg as spla

    start = time.perf_counter()
    try:
        factor = spla.splu(matrix.tocsc(), permc_spec="COLAMD")
    except RuntimeError as exc:  # SuperLU: "Factor is exactly singular" (NaN or no reference)
        raise SolveError(f"{origin}: solver 'direct' failed: the network matrix is singular or "
                         f"not finite ({exc})") from None
    setup = time.perf_counter() - start
    x = factor.solve(rhs)
    residual = relative_residual(matrix, x, rhs)
    for _ in range(DIRECT_REFINEMENT_STEPS):
        if residual <= REFINEMENT_TARGET:
            break
        refined = x + factor.solve(rhs - matrix @ x)
        refined_residual = relative_residual(matrix, refined, rhs)
        if not refined_residual < residual:
            break
        x, residual = refined, refined_residual
    elapsed = time.perf_counter() - start
    _check_converged("direct", residual, rtol, 0, origin)
    return x, SolverStats("direct", 0, residual, elapsed, setup, rhs.shape[1])


class RugeStubenPreconditioner:
    """One V-cycle of classical AMG (forward Gauss-Seidel down, backward up: symmetric), or of
    root-node aggregation AMG (``hierarchy="rootnode"``, same cycle).

    pyamg's own ``aspreconditioner`` computes two residual norms per call; this cycle does only
    the work of the cycle itself.
    """

    def __init__(self, matrix: sp.csr_matrix, dtype=np.float32, interpolation: str = "classical",
                 hierarchy: str = "classical"):
        import pyamg

        self.dtype = dtype
        # The levels hold the matrix divided by its largest diagonal entry, and every residual
        # is divided by its largest entry before it is cast: float32 then never sees a
        # conductance of 1e-30 S (it would underflow in the Galerkin products and make NaN),
        # whatever the units of the case. The cycle is linear, so both scalings are undone
        # exactly on return.
        diagonal_max = float(np.abs(matrix.diagonal()).max()) if matrix.shape[0] else 0.0
        self.scale = 1.0 / diagonal_max if np.isfinite(diagonal_max) and diagonal_max > 0 else 1.0
        smoothers = {"presmoother": ("gauss_seidel", {"sweep": "forward"}),
                     "postsmoother": ("gauss_seidel", {"sweep": "backward"}),
                     "max_coarse": 500, "keep": False}
        if hierarchy == "rootnode":
            # Root-node (energy-minimizing) aggregation AMG with evolution strength: follows
            # anisotropy that is oblique to the grid and changes direction from grain to grain
            # (finite elements with 1000:1 grains: about 50 iterations at 512^2, where classical
            # AMG needs about 700 and grows with size; docs/performance.md).
            # pyamg's evolution strength does not accept float32: set up in float64, then
            # store the levels in the requested precision. Evolution strength only on the
            # finest level, where the grains' anisotropy lives, classical strength below:
            # measured 20-25 % less setup for the same iterations (docs/performance.md).
            # pyamg's float64 setup has absolute thresholds: far from O(1) (sigma near the
            # accepted limits), set up on the scaled matrix; else on the matrix itself (no
            # matrix-sized copy at the memory peak).
            far = not 1e-8 < diagonal_max < 1e8
            setup_matrix = (_csr_as(matrix, np.float64, self.scale) if far
                            else _untouchable_by_pyamg(matrix))
            level_scale = 1.0 if far else self.scale
            with _short_spectral_radius_estimate(setup_matrix):
                self.hierarchy = pyamg.rootnode_solver(
                    setup_matrix,
                    strength=[("evolution", {"k": 2, "epsilon": 4.0}),
                              ("classical", {"theta": 0.25})],
                    smooth=("energy", {"degree": 1, "maxiter": 2, "weighting": "diagonal"}),
                    improve_candidates=None,
                    **smoothers)
            # Root-node levels come out as 1x1-block BSR: pyamg then runs its block
            # Gauss-Seidel, measured 3x slower per V-cycle than the same levels in CSR.
            for level in self.hierarchy.levels:
                for name in ("A", "P", "R"):
                    if hasattr(level, name):
                        factor = level_scale if name == "A" else 1.0
                        setattr(level, name, _csr_as(getattr(level, name), dtype, factor))
        else:
            self.hierarchy = pyamg.ruge_stuben_solver(
                _csr_as(matrix, dtype, self.scale), strength=("classical", {"theta": 0.25}),
                interpolation=interpolation, **smoothers)
        self.levels = self.hierarchy.levels
        self._coarse_inverse = _symmetric_pseudo_inverse(self.levels[-1].A)

    def __call__(self, residual: np.ndarray) -> np.ndarray:
        magnitude = float(np.abs(residual).max()) if residual.size else 0.0
        if magnitude == 0.0 or not np.isfinite(magnitude):
            return np.zeros_like(residual) if magnitude == 0.0 else np.full_like(residual, np.nan)
        levels = self.levels
        rhs = [(residual / magnitude).astype(self.dtype)]
        corrections = []
        for level in levels[:-1]:
            x = np.zeros_like(rhs[-1])
            level.presmoother(level.A, x, rhs[-1])
            corrections.append(x)
            rhs.append(level.R @ (rhs[-1] - level.A @ x))
        coarse = (self._coarse_inverse @ rhs[-1].astype(np.float64)).astype(self.dtype)
        for i in range(len(levels) - 2, -1, -1):
            x = corrections[i]
            x += levels[i].P @ coarse
            levels[i].postsmoother(levels[i].A, x, rhs[i])
            coarse = x
        return coarse.astype(np.float64) * (magnitude * self.scale)

    def operator(self, n: int) -> spla.LinearOperator:
        import scipy.sparse.linalg as spla

        return spla.LinearOperator((n, n), matvec=self, dtype=np.float64)


def _csr_as(matrix: sp.spmatrix, dtype, factor: float = 1.0) -> sp.csr_matrix:
    """``factor * matrix`` as CSR in ``dtype``; the product is formed in float64 before the
    cast (so that tiny entries are scaled up before float32 could flush them)."""
    matrix = sp.csr_matrix(matrix)
    data = matrix.data * factor if factor != 1.0 else matrix.data
    return sp.csr_matrix((data.astype(dtype), matrix.indices, matrix.indptr), shape=matrix.shape)


def _symmetric_pseudo_inverse(coarse: sp.spmatrix) -> np.ndarray:
    """Pseudo-inverse of the (small, <= max_coarse) coarsest matrix in float64 from its
    symmetric eigendecomposition: exactly symmetric, so the cycle stays a symmetric
    preconditioner for CG. pyamg's own 'pinv' of a float32 level is computed in float32 and
    was measured 1.6e-5 asymmetric (x.My against y.Mx) on a 1200-node network."""
    dense = coarse.astype(np.float64).toarray()
    dense = 0.5 * (dense + dense.T)
    values, vectors = np.linalg.eigh(dense)
    largest = float(np.abs(values).max()) if len(values) else 0.0
    keep = np.abs(values) > largest * len(values) * np.finfo(np.float64).eps
    return (vectors[:, keep] / values[keep]) @ vectors[:, keep].T


def _untouchable_by_pyamg(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The float64 matrix itself when pyamg's in-place clean-ups (sort_indices, sum_duplicates,
    eliminate_zeros) cannot change it, else a copy: the operator's stored entries, explicit
    zeros included, are its connectivity (netsolve.solve). Saves a matrix-sized copy at the
    memory peak of the setup."""
    canonical = (matrix.dtype == np.float64 and matrix.has_canonical_format
                 and not np.any(matrix.data == 0))
    return matrix if canonical else matrix.astype(np.float64)


@contextmanager
def _short_spectral_radius_estimate(matrix: sp.csr_matrix):
    """Within the block, pyamg's evolution strength gets rho(D^-1 A) (its Jacobi time step)
    for the fine matrix A from :func:`lanczos_largest_eigenvalue` of the similar symmetric
    D^-1/2 A D^-1/2 (10 steps, fixed start), instead of up to 6 restarted 15-step Arnoldi runs
    with full orthogonalization: those cost a third of the root-node setup at 1024^2 and 3.6 s
    at 2048^2 (memory-bound vector updates), and their random start vector made the iteration
    counts vary by 15 % from run to run. Same iterations (docs/performance.md). Other matrices
    (not expected: evolution strength runs on the finest level only) get a short Arnoldi run."""
    import pyamg.strength
    from pyamg.util.linalg import approximate_spectral_radius

    diagonal = matrix.diagonal()
    positive = diagonal > 0
    scale = np.ones_like(diagonal)  # 1 where the diagonal vanishes, as pyamg's D^-1
    scale[positive] = 1.0 / np.sqrt(diagonal[positive])

    def short_estimate(jacobi_matrix, *args, **kwargs):
        if jacobi_matrix.shape == matrix.shape:
            return lanczos_largest_eigenvalue(lambda x: scale * (matrix @ (scale * x)),
                                              matrix.shape[0])
        start = np.random.default_rng(0).random((jacobi_matrix.shape[0], 1))
        return approximate_spectral_radius(jacobi_matrix, maxiter=10, restart=0,
                                           initial_guess=start)

    if not hasattr(pyamg.strength, "approximate_spectral_radius"):  # pyamg changed: keep its own
        yield
        return
    from unittest import mock  # imported here: the other solvers do not need it

    with mock.patch.object(pyamg.strength, "approximate_spectral_radius", short_estimate):
        yield


def lanczos_largest_eigenvalue(apply, n: int, steps: int = 10) -> float:
    """Largest Ritz value of a symmetric operator after ``steps`` Lanczos steps from a fixed
    start vector (a lower bound of the largest eigenvalue; 1 mat-vec and a few vector updates per
    step, no reorthogonalization: only the extreme Ritz value is used)."""
    from scipy.linalg import eigvalsh_tridiagonal

    v = np.random.default_rng(0).random(n)
    v /= np.linalg.norm(v)
    v_prev = np.zeros(n)
    alphas, betas = [], []
    beta = 0.0
    for _ in range(min(steps, n)):
        w = apply(v) - beta * v_prev
        alpha = float(w @ v)
        w -= alpha * v
        alphas.append(alpha)
        beta = float(np.linalg.norm(w))
        if beta <= 1e-12 * abs(alpha):  # invariant subspace: the Ritz values are exact
            break
        betas.append(beta)
        v_prev, v = v, w / beta
    return float(eigvalsh_tridiagonal(np.array(alphas), np.array(betas[:len(alphas) - 1]))[-1])


def _amg(matrix, rhs, rtol, maxiter, interpolation, origin, hierarchy="classical", warm=None,
         balance=None):
    return preconditioned_cg(
        matrix, rhs, rtol, maxiter, origin,
        lambda dtype: RugeStubenPreconditioner(matrix, dtype, interpolation, hierarchy),
        "amg", warm, balance)


def preconditioned_cg(matrix, rhs, rtol, maxiter, origin, build, name: str, warm=None,
                      balance=None, reusable=lambda preconditioner: True):
    """CG per right-hand side with the preconditioner ``build(dtype)`` (float32 levels first;
    a float64 one, continuing from where CG stopped, if those cannot reach ``rtol``), or the
    warm start's reusable one (``reusable``: whether it fits this matrix) within its iteration
    budget. ``name``: the method, for the statistics and the error message."""
    start = time.perf_counter()
    n = matrix.shape[0]
    reused = (warm is not None and warm.preconditioner is not None
              and reusable(warm.preconditioner))
    if reused:
        precond, setup = warm.preconditioner, 0.0
    else:
        precond = build(np.float32)
        setup = time.perf_counter() - start
    x = _initial_guess(rhs, warm)
    iterations = fresh_iterations = 0
    precision = np.dtype(precond.dtype).name if reused else "float32"
    targets = column_targets(balance, rhs.shape[1])
    for k in range(rhs.shape[1]):
        b = rhs[:, k]
        if not b.any():
            continue
        budget = min(maxiter, warm.reused_maxiter or maxiter) if reused else maxiter
        x[:, k], its, residual = pcg(matrix, b, precond.operator(n), rtol, budget, x[:, k],
                                     targets[k])
        if residual > rtol and reused:
            # the hierarchy of another matrix is not good enough here: set up this matrix's
            lap = time.perf_counter()
            precond = build(np.float32)
            setup += time.perf_counter() - lap
            reused, precision = False, "float32"
            x[:, k], more, residual = pcg(matrix, b, precond.operator(n), rtol, maxiter,
                                          x[:, k], targets[k])
            its += more
            fresh_iterations = max(fresh_iterations, more)
        elif not reused:
            fresh_iterations = max(fresh_iterations, its)
        if residual > rtol:
            # float32 levels could not get there: rebuild in float64, continue from x
            precond = build(np.float64)
            precision = "float64"
            x[:, k], more, residual = pcg(matrix, b, precond.operator(n), rtol, maxiter,
                                          x[:, k], targets[k])
            its += more
        iterations = max(iterations, its)
    elapsed = time.perf_counter() - start
    residual = relative_residual(matrix, x, rhs)
    _check_converged(name, residual, rtol, iterations, origin)
    if warm is not None:
        warm.rebuilt = warm.preconditioner is not precond
        warm.preconditioner = precond
        warm.fresh_iterations = fresh_iterations
    return x, SolverStats(name, iterations, residual, elapsed, setup, rhs.shape[1], precision)


def _jacobi_cg(matrix, rhs, rtol, maxiter, origin, warm=None, balance=None):
    start = time.perf_counter()
    diagonal = matrix.diagonal()
    inv_diag = np.divide(1.0, diagonal, out=np.ones_like(diagonal), where=diagonal > 0)
    import scipy.sparse.linalg as spla

    preconditioner = spla.LinearOperator(matrix.shape, matvec=lambda v: inv_diag * v,
                                         dtype=np.float64)
    x = _initial_guess(rhs, warm)
    iterations = 0
    targets = column_targets(balance, rhs.shape[1])
    for k in range(rhs.shape[1]):
        if rhs[:, k].any():
            x[:, k], its, _ = pcg(matrix, rhs[:, k], preconditioner, rtol, maxiter, x[:, k],
                                 targets[k])
            iterations = max(iterations, its)
    elapsed = time.perf_counter() - start
    residual = relative_residual(matrix, x, rhs)
    _check_converged("cg", residual, rtol, iterations, origin)
    return x, SolverStats("cg", iterations, residual, elapsed, 0.0, rhs.shape[1])


def _check_converged(method, residual, rtol, iterations, origin):
    """Raise when the true residual misses the tolerance (10 rtol: CG's recursive residual and
    the true one drift apart by rounding) or is not finite."""
    if residual <= max(10 * rtol, 1e-12):
        return
    if method == "direct":
        remedy = ("the network is too ill-conditioned for float64: its conductance contrast is "
                  "too large (see docs/model.md, 'Guards')")
        detail = "after iterative refinement"
    else:
        remedy = 'raise solver.maxiter or use solver.method = "direct"'
        if method == "gmg":
            remedy = 'raise solver.maxiter, or use solver.method = "amg" or "direct"'
        detail = f"after {iterations} iterations"
    shown = "non-finite" if not np.isfinite(residual) else f"{residual:.2e}"
    raise SolveError(f"{origin}: solver '{method}' did not converge: relative residual {shown} "
                     f"> rtol {rtol:.1e} {detail} ({remedy})")

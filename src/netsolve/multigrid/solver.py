"""Conjugate gradients (float64) on the voxel grid, preconditioned by the grid multigrid cycle.

The contract of :mod:`netsolve.solvers`: ``solve(matrix, rhs, ...) -> (X, SolverStats)`` for rhs
of shape (n, k), given also the :class:`~netsolve.multigrid.grid.GridOperator` of the same
matrix (its grid structure). CG runs on grid-shaped vectors with the compiled stencil product;
every answer's true residual is computed with ``matrix`` before it is returned: the assembled
CSR matrix when the caller has one (a sweep), else :class:`GridMatrix`, the same operator
applied with the stencil kernel in float64 (independent of the float32 hierarchy and of CG's
recursive residual).
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import SolveError
from ..stopping import StoppingRule, column_targets
from . import kernels
from .cycle import Hierarchy, choose_smoother
from .grid import GridOperator, as_3d, grid_pad


class GridMatrix:
    """The matrix of ``grid`` over its rows (``shape`` (n_rows, n_rows), S), applied with the
    compiled stencil: what the solve stage needs of the assembled matrix on the grid multigrid
    path (products for the residual and power checks, ``data`` for the conductance contrast
    of an error message) without the CSR matrix, its active-node copy and their memory.

    ``A @ x`` equals the CSR product of :func:`netsolve.solve.network_matrix` restricted to the
    rows up to rounding (the same terms, summed in another order); NaN or Inf in a
    conductance or in ``x`` propagates into the product, so the checks built on it fail.
    """

    def __init__(self, grid: GridOperator):
        shape = as_3d(grid.shape)
        self.grid_shape = shape
        self.pad = grid_pad(shape)
        self.faces = tuple(grid.padded_face)
        if len(grid.shape) == 2:
            self.faces = (np.zeros(1),) + self.faces
        size = int(np.prod(shape))
        diagonal = np.zeros(size + 2 * self.pad)
        diagonal[self.pad:self.pad + size] = grid.diagonal_extra.reshape(-1)
        kernels.add_face_sums(diagonal, *self.faces, *shape, self.pad)
        self.diagonal = diagonal
        self.rows = self.pad + grid.row_voxel
        self.shape = (len(self.rows), len(self.rows))

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2:
            return np.stack([self @ x[:, k] for k in range(x.shape[1])], axis=1)
        full = np.zeros(len(self.diagonal))
        full[self.rows] = x
        out = np.zeros(len(self.diagonal))
        kernels.apply_operator(full, out, *self.faces, self.diagonal, *self.grid_shape, self.pad)
        return out[self.rows]

    @property
    def data(self) -> np.ndarray:
        """The non-zero entries' magnitudes as the CSR matrix stores them (couplings and the
        diagonal of the rows; each coupling once), for the contrast of an error message."""
        couplings = [g[g != 0] for g in self.faces]
        return np.concatenate([*couplings, self.diagonal[self.rows]])


class GridCG:
    """CG on the padded flat vectors of the finest level of ``hierarchy`` (float64), for the
    operator ``grid`` (the hierarchy may have been built for other conductances on the same
    grid: a sweep reuses it)."""

    def __init__(self, grid: GridOperator, hierarchy: Hierarchy,
                 operator: GridMatrix | None = None):
        """``operator``: :class:`GridMatrix` of ``grid`` when the caller has one (its faces
        and diagonal are the ones CG needs)."""
        fine = hierarchy.levels[0]
        if fine.shape != as_3d(grid.shape):
            raise ValueError("the hierarchy belongs to another grid")  # pragma: no cover
        self.hierarchy = hierarchy
        self.fine = fine
        operator = operator if operator is not None else GridMatrix(grid)
        self.g64 = operator.faces
        self.rows = operator.rows
        diagonal = operator.diagonal.copy()
        diagonal[~fine.active_flat] = 1.0  # identity rows of voxels without a matrix row
        self.diagonal64 = diagonal

    def apply(self, x: np.ndarray, out: np.ndarray) -> float:
        """out = A x; returns x . A x."""
        return kernels.apply_operator(x, out, *self.g64, self.diagonal64, *self.fine.shape,
                                      self.fine.pad)

    def solve(self, b_rows: np.ndarray, x0_rows: np.ndarray | None, rtol: float,
              maxiter: int, balance=None) -> tuple[np.ndarray, int]:
        """Solution on the rows and the iteration count; stops at ||r|| <= rtol ||b|| (recursive
        residual: the caller checks the true one).

        ``balance`` (:class:`~netsolve.stopping.BalanceTarget`): from there on CG continues
        until the electrode balances hold (:class:`~netsolve.stopping.StoppingRule`).
        """
        fine = self.fine
        x = fine.zeros(np.float64)
        r = fine.zeros(np.float64)
        r[self.rows] = b_rows
        rule = StoppingRule(rtol, float(np.linalg.norm(b_rows)), balance)
        q = fine.zeros(np.float64)
        if x0_rows is not None and np.any(x0_rows):
            x[self.rows] = x0_rows
            self.apply(x, q)
            r -= q
        p = fine.zeros(np.float64)
        iterations = 0
        r_norm = float(np.linalg.norm(r))
        rz_old = 1.0
        while iterations < maxiter and not rule.done(
                iterations, r_norm, lambda rows: x[self.rows[rows]], lambda: float(x @ r)):
            np.copyto(fine.b, r, casting="same_kind")
            self.hierarchy.cycle()
            rz = kernels.update_direction(p, fine.x, r, 0.0 if iterations == 0 else 1.0, rz_old)
            pq = self.apply(p, q)
            r_norm = kernels.update_solution(x, r, p, q, rz / pq)
            rz_old = rz
            iterations += 1
        return x[self.rows], iterations


def solve(matrix, rhs: np.ndarray, grid: GridOperator, rtol: float, maxiter: int,
          origin: str = "case", warm=None, balance=None):
    """Solve ``matrix @ X = rhs`` (rhs (n, k)); ``grid`` is ``matrix`` on the voxel grid.

    ``warm`` (:class:`netsolve.solvers.WarmStart`): initial guesses, and a hierarchy of a
    similar matrix on the same grid to use within ``warm.reused_maxiter`` iterations before a
    fresh one is built. A float32 hierarchy that cannot reach ``rtol`` is rebuilt in float64
    and CG continues; a solve that still does not converge raises :class:`~netsolve.errors.SolveError`.
    ``balance``: a :class:`~netsolve.stopping.BalanceTarget` per column (or one for one
    column): see :meth:`GridCG.solve`.
    """
    from ..solvers import SolverStats

    start = time.perf_counter()
    previous = warm.preconditioner if warm is not None else None
    reused = (isinstance(previous, Hierarchy) and previous.levels[0].shape == as_3d(grid.shape)
              and np.array_equal(previous.row_voxel, grid.row_voxel))
    hierarchy = previous if reused else Hierarchy(grid, np.float32, choose_smoother(grid))
    own = matrix if isinstance(matrix, GridMatrix) else None  # not a sweep's CSR matrix
    cg = GridCG(grid, hierarchy, own)
    setup = 0.0 if reused else time.perf_counter() - start
    x = np.zeros(rhs.shape) if warm is None or warm.x0 is None else np.array(warm.x0, float)
    iterations = fresh_iterations = 0
    residual = 0.0  # the worst true relative residual over the columns (NaN wins)
    targets = column_targets(balance, rhs.shape[1])
    for k in range(rhs.shape[1]):
        b = rhs[:, k]
        if not b.any():
            x[:, k] = 0.0
            continue
        budget = min(maxiter, warm.reused_maxiter or maxiter) if reused else maxiter
        x[:, k], its = cg.solve(b, x[:, k], rtol, budget, targets[k])
        total = its
        column_residual = _relative(matrix, x[:, k], b)
        if reused and column_residual > rtol:
            # the hierarchy of another matrix is not good enough here: build this matrix's
            lap = time.perf_counter()
            hierarchy = Hierarchy(grid, np.float32, choose_smoother(grid))
            cg = GridCG(grid, hierarchy, own)
            setup += time.perf_counter() - lap
            reused = False
            x[:, k], its = cg.solve(b, x[:, k], rtol, maxiter, targets[k])
            total += its
            column_residual = _relative(matrix, x[:, k], b)
        if not reused:
            fresh_iterations = max(fresh_iterations, its)
        if column_residual > rtol:
            # float32 smoothing could not get there (or the recursive residual drifted):
            # continue from x with a float64 hierarchy
            hierarchy = Hierarchy(grid, np.float64, choose_smoother(grid))
            cg = GridCG(grid, hierarchy, own)
            x[:, k], more = cg.solve(b, x[:, k], rtol, maxiter, targets[k])
            total += more
            column_residual = _relative(matrix, x[:, k], b)
        iterations = max(iterations, total)
        residual = column_residual if np.isnan(column_residual) else max(residual, column_residual)
    elapsed = time.perf_counter() - start
    if not residual <= max(10 * rtol, 1e-12):  # NaN fails too
        raise SolveError(f"{origin}: solver 'gmg' did not converge: relative residual "
                        f"{residual:.2e} > rtol {rtol:.1e} after {iterations} iterations (raise "
                        f"solver.maxiter, or use solver.method = \"amg\" or \"direct\")")
    if warm is not None:
        warm.rebuilt = warm.preconditioner is not hierarchy
        warm.preconditioner = hierarchy
        warm.fresh_iterations = fresh_iterations
        warm.solution = x
    precision = np.dtype(hierarchy.dtype).name
    return x, SolverStats("gmg", iterations, residual, elapsed, setup, rhs.shape[1], precision)


def _relative(matrix, x: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(b - matrix @ x) / np.linalg.norm(b))

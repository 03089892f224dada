"""Grid multigrid for the finite-element (Q1) operator (``method = "gmg"``, ``discretization =
"fem"``): box aggregation of the voxel corners.

The Q1 unknowns are voxel corners, plus extra copies of a corner where grains meet (interface
elements). The first coarse level joins every corner's copies and the corners of each 2x2(x2)
box of the corner grid into one coarse unknown (piecewise-constant interpolation); in 3D every
coarser level joins 2x2(x2) boxes again. A coarse unknown is a box, and a fine coupling joins
corners at most one corner apart, so every coarse operator (Galerkin, P^T A P) is a 9- / 27-point
stencil on the box grid: it is summed per (box, neighbour offset) with ``np.bincount``, without
a sparse matrix product. Smoothing: one forward Gauss-Seidel sweep before the coarse
correction and one backward sweep after it (pyamg's compiled kernel on CSR levels in float32),
so the V-cycle is symmetric; the coarse correction is scaled by ``WEIGHT`` (the aggregated
operator is too stiff for smooth error); the coarsest level (<= ``COARSEST_MAX`` unknowns) is
solved exactly in float64. In 2D the levels below the first box level are root-node AMG
instead (one V-cycle of :class:`netsolve.solvers.RugeStubenPreconditioner` on the aggregated
operator): box aggregates all the way down cannot follow 1000:1 grains that lie oblique to the
grid.

Measured against the root-node AMG that ``amg`` uses for this operator (docs/performance.md,
"Grid multigrid (issue 15)"; ``validation/bench_q1_grid.py``): in 3D the setup is 10-15x
cheaper and the total CPU time a third to a half; in 2D the two tie within the noise (256^2 to
2048^2), so ``auto`` picks this in 3D only. Conductances in S throughout (the levels hold them
divided by the largest diagonal entry).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

COARSEST_MAX = 500  # unknowns of the coarsest level (dense pseudo-inverse, float64)
# Coarse-correction weight: measured optimum 1.3-1.5 on the 3D benchmark cases (iterations
# 44-46 at 64^3, 1000:1 grains; 1.8, the two-point choice, took 54); below 2 the cycle stays
# positive definite (see cycle.MAX_WEIGHT).
WEIGHT = 1.4
# ... and with root-node AMG below the first box level (its coarse space is not piecewise
# constant): 1.0 (1.4 measured the same, 84 against 85 iterations at 512^2)
ALGEBRAIC_WEIGHT = 1.0
# Dimensions whose grids get root-node AMG below the first box level: in 2D, box levels all
# the way down cannot follow 1000:1 grains oblique to the grid (132 iterations against
# root-node AMG's 44 at 1024^2, 1.26x its CPU time); with root-node AMG below the first box
# level, 86 (a tie in CPU time). In 3D the box levels win (docs/performance.md).
ALGEBRAIC_BELOW_DIMS = (2,)
# Couplings are summed into the Galerkin stencil in chunks of this many matrix entries (the
# index arrays of a whole 27-point matrix would be the setup's memory peak).
CHUNK = 1 << 22


@dataclass(frozen=True)
class CornerGrid:
    """Where the unknowns of a Q1 operator sit: ``corner`` (n, d) int32, the voxel-grid corner
    of every unknown (the copies of a corner share it); ``periodic``: some couplings wrap
    around the grid (nodes of opposite faces identified, a validation option)."""

    corner: np.ndarray
    periodic: bool = False


def corner_grid(op, active: np.ndarray) -> CornerGrid:
    """The :class:`CornerGrid` of the unknowns ``active`` of a Q1 operator
    (:class:`netsolve.discretization.q1.FemOperator`): every copy sits at the corners its
    elements give it."""
    from ..discretization.q1 import corner_offsets

    voxel = np.stack(np.unravel_index(op.element_voxel, op.shape), axis=1)
    copy_corner = np.zeros((len(op.copy_unknown), op.ndim), dtype=np.int32)
    offsets = corner_offsets(op.ndim)
    for j, omega in enumerate(offsets):
        copy_corner[op.element_nodes[:, j]] = voxel + omega
    # a copy that sits at two corners: opposite faces identified (periodic axes)
    periodic = any(np.any(copy_corner[op.element_nodes[:, j]] != voxel + omega)
                   for j, omega in enumerate(offsets))
    free = op.copy_unknown >= 0
    unknown_corner = np.zeros((op.n_nodes, op.ndim), dtype=np.int32)
    unknown_corner[op.copy_unknown[free]] = copy_corner[free]
    return CornerGrid(unknown_corner[active], bool(periodic))


def box_level(corner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box (2x2(x2) corners -> 1) of every unknown, numbered in C order over the boxes
    that hold an unknown, and the box coordinates (n_boxes, d) of those boxes."""
    box = corner // 2
    extent = tuple(int(v) + 1 for v in box.max(axis=0)) if len(box) else (1,) * corner.shape[1]
    key = np.ravel_multi_index(tuple(box.T), extent)
    used = np.zeros(int(np.prod(extent)), dtype=bool)
    used[key] = True
    number = np.cumsum(used, dtype=np.int64) - 1
    boxes = np.flatnonzero(used)
    coords = np.stack(np.unravel_index(boxes, extent), axis=1).astype(np.int32)
    return number[key].astype(np.int32), coords


def galerkin(matrix: sp.csr_matrix, aggregate: np.ndarray, coords: np.ndarray) -> sp.csr_matrix:
    """P^T A P for the piecewise-constant P of ``aggregate`` (box of every row), as CSR on the
    boxes ``coords``. Couplings of A join boxes at most one apart along each axis, so the
    result is accumulated as a (box, 3^d neighbour offset) stencil (couplings that wrap around
    a periodic grid do not: :func:`galerkin_general`)."""
    n_coarse, ndim = coords.shape
    width = 3**ndim
    center = (width - 1) // 2
    place = 3 ** np.arange(ndim - 1, -1, -1)
    # offset code of two boxes: sum over axes of (their difference + 1) 3^(d - 1 - axis)
    box_code = coords.astype(np.int64) @ place
    stencil = np.zeros(n_coarse * width)
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    row_length = np.diff(indptr)
    start = 0
    while start < matrix.shape[0]:
        stop = int(np.searchsorted(indptr, indptr[start] + CHUNK, side="right")) - 1
        stop = max(stop, start + 1)
        lo, hi = indptr[start], indptr[stop]
        row_box = np.repeat(aggregate[start:stop], row_length[start:stop])
        col_box = aggregate[indices[lo:hi]]
        code = box_code[col_box] - box_code[row_box] + center
        code += row_box.astype(np.int64) * width
        stencil += np.bincount(code, data[lo:hi], minlength=len(stencil))
        start = stop
    stencil = stencil.reshape(n_coarse, width)
    # the neighbour box of every (box, offset), -1 where there is none
    extent = tuple(int(v) + 3 for v in coords.max(axis=0))
    lookup = np.full(int(np.prod(extent)), -1, dtype=np.int64)
    lookup[np.ravel_multi_index(tuple((coords + 1).T), extent)] = np.arange(n_coarse)
    offsets = np.stack(np.unravel_index(np.arange(width), (3,) * ndim), axis=1) - 1
    neighbour = np.empty((n_coarse, width), dtype=np.int64)
    for k, offset in enumerate(offsets):
        neighbour[:, k] = lookup[np.ravel_multi_index(tuple((coords + 1 + offset).T), extent)]
    keep = (stencil != 0) & (neighbour >= 0)
    keep[:, center] = True  # every box keeps its diagonal
    indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    # columns ascend within a row: offsets and box numbers are both in C order
    return sp.csr_matrix((stencil[keep], neighbour[keep], indptr), shape=(n_coarse, n_coarse))


def galerkin_general(matrix: sp.csr_matrix, aggregate: np.ndarray,
                     n_coarse: int) -> sp.csr_matrix:
    """P^T A P for the piecewise-constant P of ``aggregate``, for any couplings."""
    coo = matrix.tocoo()
    coarse = sp.csr_matrix((coo.data, (aggregate[coo.row], aggregate[coo.col])),
                           shape=(n_coarse, n_coarse))
    coarse.sum_duplicates()
    return coarse


class CornerMultigrid:
    """The symmetric V-cycle of box aggregation on the corner grid (see the module doc), a
    preconditioner with the interface of :class:`netsolve.solvers.RugeStubenPreconditioner`
    (``dtype``, ``__call__``, ``operator``). ``matrix``: the unknowns' SPD matrix (S);
    ``corner``, ``periodic``: as in :class:`CornerGrid`."""

    def __init__(self, matrix: sp.csr_matrix, corner: np.ndarray, dtype=np.float32,
                 weight: float | None = None, sweeps: int = 1, periodic: bool = False,
                 algebraic_below: bool = False):
        from ..solvers import RugeStubenPreconditioner, _csr_as, _symmetric_pseudo_inverse

        if weight is None:
            weight = ALGEBRAIC_WEIGHT if algebraic_below else WEIGHT
        if not 0 < weight < 2:
            raise ValueError(f"coarse-correction weight {weight} outside (0, 2)")
        self.dtype, self.weight, self.sweeps = dtype, weight, sweeps
        self.n = matrix.shape[0]
        diagonal_max = float(np.abs(matrix.diagonal()).max()) if self.n else 0.0
        # as in RugeStubenPreconditioner: float32 never sees a conductance of 1e-30 S
        self.scale = 1.0 / diagonal_max if np.isfinite(diagonal_max) and diagonal_max > 0 else 1.0
        level = _csr_as(matrix, np.float64, self.scale)
        level.sort_indices()
        self.levels: list[sp.csr_matrix] = []
        self.aggregates: list[np.ndarray] = []
        self.sizes = [self.n]  # unknowns per level
        self.algebraic = None  # root-node AMG below the first box level (algebraic_below)
        while level.shape[0] > COARSEST_MAX and not (algebraic_below and self.levels):
            aggregate, corner = box_level(corner)
            if len(corner) == level.shape[0]:  # nothing left to join (a 1-wide grid)
                break
            self.levels.append(_csr_as(level, dtype))
            self.aggregates.append(aggregate)
            level = (galerkin_general(level, aggregate, len(corner)) if periodic
                     else galerkin(level, aggregate, corner))
            self.sizes.append(level.shape[0])
        finite = np.isfinite(level.data).all()
        if algebraic_below and self.levels and finite:
            self.algebraic = RugeStubenPreconditioner(level, dtype, "classical", "rootnode")
        # NaN or Inf in a conductance: a NaN cycle, so that CG fails and says so
        elif finite:
            self.coarse_inverse = _symmetric_pseudo_inverse(level)
        else:
            self.coarse_inverse = np.full(level.shape, np.nan)

    def __call__(self, residual: np.ndarray) -> np.ndarray:
        magnitude = float(np.abs(residual).max()) if residual.size else 0.0
        if magnitude == 0.0 or not np.isfinite(magnitude):
            return np.zeros_like(residual) if magnitude == 0.0 else np.full_like(residual, np.nan)
        x = self._cycle(0, (residual / magnitude).astype(self.dtype))
        return x.astype(np.float64) * (magnitude * self.scale)

    def _cycle(self, depth: int, rhs: np.ndarray) -> np.ndarray:
        if depth == len(self.levels) and self.algebraic is not None:
            return self.algebraic(rhs.astype(np.float64)).astype(self.dtype)
        if depth == len(self.levels):
            return (self.coarse_inverse @ rhs.astype(np.float64)).astype(self.dtype)
        from pyamg.relaxation.relaxation import gauss_seidel

        a, aggregate = self.levels[depth], self.aggregates[depth]
        x = np.zeros_like(rhs)
        gauss_seidel(a, x, rhs, iterations=self.sweeps, sweep="forward")
        coarse_rhs = np.bincount(aggregate, rhs - a @ x,
                                 self.sizes[depth + 1]).astype(self.dtype)
        correction = self._cycle(depth + 1, coarse_rhs)
        x += self.dtype(self.weight) * correction[aggregate]
        gauss_seidel(a, x, rhs, iterations=self.sweeps, sweep="backward")
        return x

    def operator(self, n: int):
        import scipy.sparse.linalg as spla

        return spla.LinearOperator((n, n), matvec=self, dtype=np.float64)


def corner_multigrid(matrix: sp.csr_matrix, grid: CornerGrid, dtype=np.float32) -> CornerMultigrid:
    """The :class:`CornerMultigrid` that ``gmg`` solves the unknowns of ``grid`` with."""
    if len(grid.corner) != matrix.shape[0]:
        raise ValueError("the corner grid does not match the matrix")  # pragma: no cover
    return CornerMultigrid(matrix, grid.corner, dtype, periodic=grid.periodic,
                           algebraic_below=grid.corner.shape[1] in ALGEBRAIC_BELOW_DIMS)

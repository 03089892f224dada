"""The multigrid hierarchy on the voxel grid and its symmetric V-cycle (the preconditioner).

Coarsening is box aggregation (2x2x2 voxels -> 1), with Galerkin coarse operators, which keep
the face structure (:func:`netsolve.multigrid.grid.aggregate`). Smoothing is Gauss-Seidel in
float32, by blocks of one colour: single voxels (red-black) or whole grid lines along each axis
(zebra line relaxation) when the conductances are anisotropic. The post-smoother runs the
pre-smoother's steps in reverse order, so the cycle is a symmetric operator (CG needs it).
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .grid import aggregate, as_3d

COARSEST_MAX = 1500  # voxels of the coarsest level, solved exactly (dense, float64)
# Line relaxation when more than this fraction of the voxels couple more than STRONG_RATIO x
# more strongly along one axis than along another (point smoothing leaves error that
# oscillates across the strong direction, which box aggregation cannot represent).
STRONG_RATIO = 4.0
ANISOTROPIC_FRACTION = 0.01
# Coarse corrections are scaled up: the aggregated coarse operator is about twice too stiff
# for smooth errors (piecewise-constant interpolation); measured optimum 1.8 (docs/performance.md).
CORRECTION_WEIGHT = 1.8


def choose_smoother(grid) -> str:
    """"line" for grids with anisotropic conductances, else "point" (red-black)."""
    strongest = []
    for axis, g in enumerate(grid.face):
        if grid.shape[axis] == 1:
            continue
        g = np.asarray(g)
        lower = np.zeros_like(g)
        index = [slice(None)] * g.ndim
        shifted = list(index)
        index[axis] = slice(1, None)
        shifted[axis] = slice(0, -1)
        lower[tuple(index)] = g[tuple(shifted)]
        strongest.append(np.maximum(g, lower))
    if len(strongest) < 2:
        return "point"
    high = np.maximum.reduce(strongest)
    low = np.minimum.reduce(strongest)
    coupled = low > 0
    strong = np.count_nonzero(high[coupled] > STRONG_RATIO * low[coupled])
    return "line" if strong > ANISOTROPIC_FRACTION * max(np.count_nonzero(coupled), 1) else "point"


class Level:
    """One grid of the hierarchy: padded flat arrays (see :mod:`netsolve.multigrid.kernels`)."""

    def __init__(self, face, extra, active, dtype):
        self.shape = extra.shape
        n0, n1, n2 = self.shape
        self.size = n0 * n1 * n2
        self.pad = n1 * n2 if n0 > 1 else n2
        self.dtype = dtype
        diagonal = extra.astype(np.float64)
        for axis, g in enumerate(face):
            diagonal = diagonal + g
            lower = [slice(None)] * 3
            upper = [slice(None)] * 3
            lower[axis] = slice(0, -1)
            upper[axis] = slice(1, None)
            diagonal[tuple(upper)] += g[tuple(lower)]
        # voxels without a row (inactive) get an identity row: they stay 0 through the cycle
        diagonal = np.where(active, diagonal, 1.0)
        self.face64 = face
        self.extra64 = extra
        self.diagonal64 = diagonal
        self.active = active
        self.active_flat = self.padded(active, np.bool_)
        self.g = tuple(self.padded(g) for g in face)
        self.diagonal = self.padded(diagonal)
        self.inv_diagonal = self.padded(1.0 / diagonal)
        self.line_pivots: dict[int, np.ndarray] = {}
        self.x = self.zeros()
        self.b = self.zeros()

    def zeros(self, dtype=None) -> np.ndarray:
        return np.zeros(self.size + 2 * self.pad, dtype=dtype or self.dtype)

    def padded(self, grid_array: np.ndarray, dtype=None) -> np.ndarray:
        out = self.zeros(dtype)
        out[self.pad:self.pad + self.size] = grid_array.reshape(-1)
        return out

    def interior(self, flat: np.ndarray) -> np.ndarray:
        return flat[self.pad:self.pad + self.size]

    def line_axes(self) -> list[int]:
        return [a for a in range(3) if self.shape[a] > 1]

    def factor_lines(self) -> None:
        diagonal64 = self.padded(self.diagonal64, np.float64)
        n0, n1, n2 = self.shape
        strides = (n1 * n2, n2, 1)
        for axis in self.line_axes():
            out = self.zeros()
            g64 = self.padded(self.face64[axis], np.float64)
            kernels.line_pivots(diagonal64, g64, strides[axis], self.size, self.pad, out)
            self.line_pivots[axis] = out

    def sweep(self, smoother: str, order) -> None:
        """The smoother's block updates in ``order`` ((axis, colour) pairs; axis None: points)."""
        n0, n1, n2 = self.shape
        g0, g1, g2 = self.g
        for axis, colour in order:
            if axis is None:
                kernels.point_sweep(self.x, self.b, g0, g1, g2, self.inv_diagonal, n0, n1, n2,
                                    self.pad, colour)
            elif axis == 2:
                kernels.line_sweep_last(self.x, self.b, g0, g1, g2, self.line_pivots[2], n0, n1,
                                        n2, self.pad, colour)
            else:
                kernels.line_sweep_strided(self.x, self.b, g0, g1, g2, self.line_pivots[axis],
                                           n0, n1, n2, self.pad, axis, colour)

    def smoothing_order(self, smoother: str, sweeps: int) -> list:
        if smoother == "point":
            steps = [(None, 0), (None, 1)]
        else:
            steps = [(axis, colour) for axis in self.line_axes() for colour in (0, 1)]
        return steps * sweeps


class Hierarchy:
    """Levels from the fine GridOperator down to a coarsest grid solved exactly; ``__call__``
    applies one symmetric V-cycle to a residual given on the fine grid's rows."""

    def __init__(self, operator, dtype=np.float32, smoother: str = "line", sweeps: int = 1,
                 weight: float = CORRECTION_WEIGHT, cycle: str = "V"):
        shape = as_3d(operator.shape)
        face = tuple(np.asarray(g, dtype=np.float64).reshape(shape) for g in operator.face)
        if len(operator.shape) == 2:
            face = (np.zeros(shape),) + face
        extra = operator.diagonal_extra.reshape(shape).astype(np.float64)
        active = operator.active.reshape(shape)
        self.dtype = dtype
        self.smoother = smoother
        self.weight = weight
        self.cycle_type = cycle
        self.row_voxel = operator.row_voxel
        self.levels = []
        while True:
            level = Level(face, extra, active, dtype)
            self.levels.append(level)
            if level.size <= COARSEST_MAX or max(level.shape) == 1:
                break
            if smoother == "line":
                level.factor_lines()
            face, extra, active = aggregate(face, extra, active)
        for level in self.levels[:-1]:
            level.pre = level.smoothing_order(smoother, sweeps)
            level.post = level.pre[::-1]
        self._coarse_inverse, self._coarse_rows = _coarsest_inverse(self.levels[-1])
        fine = self.levels[0]
        self._fine_rows = fine.pad + self.row_voxel

    def __call__(self, residual: np.ndarray) -> np.ndarray:
        """The cycle applied to a residual over the matrix rows (float64 in and out)."""
        fine = self.levels[0]
        fine.b[self._fine_rows] = residual
        self.cycle()
        return fine.x[self._fine_rows].astype(np.float64)

    def cycle(self) -> None:
        """The cycle on the finest level's ``b`` (padded flat), into its ``x``."""
        self._cycle(0)

    def _cycle(self, index: int) -> None:
        level = self.levels[index]
        if index == len(self.levels) - 1:
            level.x[self._coarse_rows] = self._coarse_inverse @ level.b[self._coarse_rows].astype(
                np.float64)
            return
        coarse = self.levels[index + 1]
        n0, n1, n2 = level.shape
        _, c1, c2 = coarse.shape
        g0, g1, g2 = level.g
        level.x[:] = 0.0
        level.sweep(self.smoother, level.pre)
        visits = 2 if self.cycle_type == "W" and index + 2 < len(self.levels) else 1
        for _ in range(visits):
            kernels.residual_restrict(level.x, level.b, g0, g1, g2, level.diagonal, n0, n1, n2,
                                      level.pad, coarse.b, c1, c2, coarse.pad)
            self._cycle(index + 1)
            kernels.prolong_add(level.x, coarse.x, level.active_flat, n0, n1, n2, level.pad, c1, c2, coarse.pad,
                                self.weight)
        level.sweep(self.smoother, level.post)


def _coarsest_inverse(level: Level):
    """Dense float64 inverse of the coarsest operator over its active voxels (SPD)."""
    import scipy.sparse as sp

    rows = np.flatnonzero(level.active.reshape(-1))
    n = level.size
    index = np.full(n, -1)
    index[rows] = np.arange(len(rows))
    n0, n1, n2 = level.shape
    strides = (n1 * n2, n2, 1)
    a_list, b_list, g_list = [], [], []
    for axis in range(3):
        g = level.face64[axis].reshape(-1)
        lower = np.flatnonzero(g)
        a_list.append(index[lower])
        b_list.append(index[lower + strides[axis]])
        g_list.append(g[lower])
    a, b, g = (np.concatenate(v) for v in (a_list, b_list, g_list))
    m = len(rows)
    diag = (np.bincount(a, g, m) + np.bincount(b, g, m) + level.extra64.reshape(-1)[rows])
    dense = sp.coo_matrix((np.concatenate([-g, -g, diag]),
                           (np.concatenate([a, b, np.arange(m)]),
                            np.concatenate([b, a, np.arange(m)]))), shape=(m, m)).toarray()
    inverse = np.linalg.inv(dense)
    return 0.5 * (inverse + inverse.T), level.pad + rows

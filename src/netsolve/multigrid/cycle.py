"""The multigrid hierarchy on the voxel grid and its symmetric V-cycle (the preconditioner).

Coarsening is box aggregation (2x2x2 voxels -> 1), with Galerkin coarse operators, which keep
the face structure (:func:`aggregate`). Smoothing is Gauss-Seidel in
float32, by blocks of one colour: single voxels (red-black) or whole grid lines along each axis
(zebra line relaxation) when the conductances are anisotropic. The post-smoother runs the
pre-smoother's steps in reverse order, so the cycle is a symmetric operator (CG needs it).
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .grid import as_3d, grid_pad

COARSEST_MAX = 600  # voxels of the coarsest level, solved exactly (dense, float64)
# Line relaxation when more than this fraction of the voxels couple more than STRONG_RATIO x
# more strongly along one axis than along another (point smoothing leaves error that
# oscillates across the strong direction, which box aggregation cannot represent).
STRONG_RATIO = 4.0
ANISOTROPIC_FRACTION = 0.01
# Coarse corrections are scaled up: the aggregated coarse operator is about twice too stiff
# for smooth errors (piecewise-constant interpolation). Per smoother: (sweeps before and after
# the coarse correction, correction weight), measured optimum in CPU time (docs/performance.md):
# red-black points gain from a second sweep (porous 128^3: 31 -> 14 iterations at weight 2.0),
# zebra lines do not (fewer iterations, but each sweep costs more than they save).
SMOOTHING = {"point": (2, 2.0), "line": (1, 1.8)}
# at most 2: with an exact coarse solve the coarse-space error is multiplied by 1 - w, which
# must stay >= -1 for the cycle to remain positive definite (CG needs it)
MAX_WEIGHT = 2.0


def choose_smoother(grid) -> str:
    """"line" for grids with anisotropic conductances, else "point" (red-black)."""
    shape = as_3d(grid.shape)
    if sum(n > 1 for n in shape) < 2:
        return "point"
    faces = tuple(grid.padded_face)
    if len(grid.shape) == 2:
        faces = (np.zeros(1),) + faces
    coupled, strong = kernels.anisotropy_counts(*faces, *shape, grid.pad, STRONG_RATIO)
    return "line" if strong > ANISOTROPIC_FRACTION * max(coupled, 1) else "point"


def aggregate(face, extra, active):
    """Galerkin coarse operator ``P^T A P`` of box aggregation (P: each voxel to its 2x2x2 box;
    1 along axes of length 1). It keeps the face structure (:func:`kernels.box_aggregate`).
    Grid-shaped 3D arrays in and out: (faces, extra, active)."""
    coarse = tuple((n + 1) // 2 for n in extra.shape)
    coarse_face = tuple(np.zeros(coarse) for _ in range(3))
    coarse_extra = np.zeros(coarse)
    coarse_active = np.zeros(coarse, dtype=np.bool_)
    kernels.box_aggregate(*(np.ascontiguousarray(g, dtype=np.float64) for g in face),
                          np.ascontiguousarray(extra, dtype=np.float64), np.ascontiguousarray(active),
                          *coarse_face, coarse_extra, coarse_active)
    return coarse_face, coarse_extra, coarse_active


class Level:
    """One grid of the hierarchy: padded flat arrays (see :mod:`netsolve.multigrid.kernels`).

    ``face``: per axis of the 3D grid a padded flat float64 array of face conductances, or None
    for an axis of length 1; ``extra``, ``active``: grid-shaped (3D).
    """

    def __init__(self, face, extra, active, dtype, smoother):
        self.shape = extra.shape
        n0, n1, n2 = self.shape
        self.size = n0 * n1 * n2
        self.pad = grid_pad(self.shape)
        self.dtype = dtype
        # an axis of length 1 has no faces: axis 0 is never read then (the kernels test n0 > 1),
        # axes 1 and 2 are read and get zeros
        face64 = tuple(g if g is not None else np.zeros(1 if axis == 0 else len(extra.reshape(-1))
                                                        + 2 * self.pad)
                       for axis, g in enumerate(face))
        diagonal = self.padded(extra, np.float64)
        kernels.add_face_sums(diagonal, *face64, n0, n1, n2, self.pad)
        self.active_flat = self.padded(active, np.bool_)
        # voxels without a row (inactive) get an identity row: they stay 0 through the cycle
        diagonal[~self.active_flat] = 1.0
        self.g = tuple(g.astype(dtype) for g in face64)
        self.diagonal = diagonal.astype(dtype)
        if smoother == "point":
            self.inv_diagonal = (1.0 / diagonal).astype(dtype)
        else:
            self.line_pivots = {}
            strides = (n1 * n2, n2, 1)
            for axis in self.line_axes():
                pivots = self.zeros()
                kernels.line_pivots(diagonal, face64[axis], strides[axis], self.size, self.pad,
                                    pivots)
                self.line_pivots[axis] = pivots
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

    def sweep(self, order) -> None:
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

    def __init__(self, operator, dtype=np.float32, smoother: str = "line",
                 sweeps: int | None = None, weight: float | None = None, cycle: str = "V"):
        shape = as_3d(operator.shape)
        face = tuple(operator.padded_face)
        if len(operator.shape) == 2:
            face = (None,) + face
        extra = operator.diagonal_extra.reshape(shape)
        active = operator.active.reshape(shape)
        default_sweeps, default_weight = SMOOTHING[smoother]
        sweeps = default_sweeps if sweeps is None else sweeps
        weight = default_weight if weight is None else weight
        if not 0 < weight <= MAX_WEIGHT:
            raise ValueError(f"coarse-correction weight {weight} outside (0, {MAX_WEIGHT}]")
        self.dtype = dtype
        self.smoother = smoother
        self.weight = weight
        self.cycle_type = cycle
        self.row_voxel = operator.row_voxel
        self.levels = []
        while True:
            level = Level(face, extra, active, dtype, smoother)
            self.levels.append(level)
            grid_face = tuple(np.zeros(shape) if g is None else level.interior(g).reshape(shape)
                              for g in face)
            if level.size <= COARSEST_MAX or max(level.shape) == 1:
                break
            coarse_face, extra, active = aggregate(grid_face, extra, active)
            shape = extra.shape
            pad = grid_pad(shape)
            face = tuple(None if n == 1 else np.pad(g.reshape(-1), pad)
                         for n, g in zip(shape, coarse_face))
        for level in self.levels[:-1]:
            level.pre = level.smoothing_order(smoother, sweeps)
            level.post = level.pre[::-1]
            level.solved_blocks = _solved_blocks(level.pre[-1])
        self._coarse_inverse, self._coarse_rows = _coarsest_inverse(self.levels[-1], grid_face,
                                                                    extra, active)
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
        if level.pre[0][0] is None:
            kernels.point_start(level.x, level.b, level.inv_diagonal, n0, n1, n2, level.pad,
                                level.pre[0][1])
            level.sweep(level.pre[1:])
        else:
            level.x[:] = 0.0
            level.sweep(level.pre)
        solved = level.solved_blocks
        visits = 2 if self.cycle_type == "W" and index + 2 < len(self.levels) else 1
        for visit in range(visits):
            # after a coarse correction no block's residual is 0 any more
            kind, colour = solved if visit == 0 else (0, 0)
            kernels.residual_restrict(level.x, level.b, g0, g1, g2, level.diagonal, n0, n1, n2,
                                      level.pad, coarse.b, c1, c2, coarse.pad, kind, colour)
            self._cycle(index + 1)
            kernels.prolong_add(level.x, coarse.x, level.active_flat, n0, n1, n2, level.pad, c1,
                                c2, coarse.pad, self.weight)
        level.sweep(level.post)


def _solved_blocks(last_step) -> tuple[int, int]:
    """(kind, colour) of the blocks whose residual the smoothing step ``last_step`` leaves at 0
    (:func:`kernels.residual_restrict`): voxels of one colour, lines along axis 2, or none."""
    axis, colour = last_step
    if axis is None:
        return 1, colour
    return (2, colour) if axis == 2 else (0, 0)


def _coarsest_inverse(level: Level, face, extra, active):
    """Dense float64 inverse of the coarsest operator over its active voxels (SPD); the grid
    arrays of that level: (3D, float64) faces, extra diagonal and active mask."""
    rows = np.flatnonzero(active.reshape(-1))
    index = np.full(level.size, -1)
    index[rows] = np.arange(len(rows))
    n0, n1, n2 = level.shape
    strides = (n1 * n2, n2, 1)
    a_list, b_list, g_list = [], [], []
    for axis in range(3):
        g = face[axis].reshape(-1)
        lower = np.flatnonzero(g)
        a_list.append(index[lower])
        b_list.append(index[lower + strides[axis]])
        g_list.append(g[lower])
    a, b, g = (np.concatenate(v) for v in (a_list, b_list, g_list))
    dense = np.diag(extra.reshape(-1)[rows])
    np.add.at(dense, (a, b), -g)
    np.add.at(dense, (b, a), -g)
    np.add.at(dense, (a, a), g)
    np.add.at(dense, (b, b), g)
    inverse = np.linalg.inv(dense)
    return 0.5 * (inverse + inverse.T), level.pad + rows

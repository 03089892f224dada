"""Grid multigrid for the hybridized mixed (RT0) operator (``method = "gmg"``, ``discretization
= "mixed"``): the voxel corners as an auxiliary nodal space.

The unknowns are face potentials (two at a resistive GB face, one per side). The first coarse
space is the voxel corners, one copy of a corner per grain that touches it: a face potential is
interpolated as the mean of its face's 2^(d-1) corners (the copies of its own element's grain,
so that a GB resistor's potential jump stays representable). This is the classical bridge
between the lowest-order Raviart-Thomas face system and conforming nodal elements (the
hybridized face system is spectrally close to a nonconforming P1 one, whose nodal interpolant
is the face mean). The corner operator P^T A P is a 9- / 27-point stencil on the corner grid,
which :class:`netsolve.multigrid.fem.CornerMultigrid` then coarsens as it does the Q1 operator
(box aggregation; root-node AMG below the first box level in 2D).

Smoothing on the face level: ``SWEEPS`` forward Gauss-Seidel sweeps (one in 2D, two in 3D)
before the coarse correction and as many backward sweeps after it (pyamg's compiled kernel,
float32 CSR), so the V-cycle is symmetric. The plain face aggregation by cells was measured
before and needs 3-4x the iterations of root-node AMG (docs/performance.md, "Preconditioners
for the mixed system"); the corner space needs fewer than root-node AMG (at 64^3: 94 against
131 at 1000:1, 34 against 46 at 100:1), for a setup 4-5x cheaper: 0.5-0.65x its CPU time in
3D, so ``auto`` picks it there. In 2D it ties or wins narrowly (0.6-0.9x on Voronoi lamellae
at 256^2-1024^2, a tie on the ding2023 lamella, whose certified run it made 5 % slower):
``auto`` keeps AMG in 2D. Conductances in S; the levels hold them divided by the largest
diagonal entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .fem import CornerMultigrid

# Gauss-Seidel sweeps per side on the face level, per dimension: at 1000:1, 64^3, one sweep took
# 142 iterations and 9.9 s of CPU, two 94 and 8.2 s (root-node AMG: 131, 13.1 s); at 1024^2
# one sweep 122 and 23.1 s, two 115 and 29.3 s (root-node AMG: 129, 29.6 s)
# (validation/bench_mixed_grid.py, docs/performance.md)
SWEEPS = {2: 1, 3: 2}
# Coarse-correction weight: 1.0 (1.4 took 212 against 194 iterations at 64^3, 1000:1)
WEIGHT = 1.0


@dataclass(frozen=True)
class FaceGrid:
    """Where the face unknowns of a mixed operator sit on the corner grid.

    ``face_corners`` (n, 2^(d-1)) int64: the coarse corner copy of every corner of every
    unknown's face; ``corner`` (n_copies, d) int32: the grid corner of every copy."""

    face_corners: np.ndarray
    corner: np.ndarray


def face_grid(op, active: np.ndarray) -> FaceGrid:
    """The :class:`FaceGrid` of the unknowns ``active`` of a mixed operator
    (:class:`netsolve.discretization.mixed.MixedOperator`)."""
    from ..discretization.mixed import local_faces

    ndim = len(op.shape)
    position = np.full(op.n_nodes, -1, dtype=np.int64)
    position[active] = np.arange(len(active))
    voxel = np.stack(np.unravel_index(op.cell_voxel, op.shape), axis=1)
    corner_shape = tuple(s + 1 for s in op.shape)
    n_corners = 2 ** (ndim - 1)
    corners = np.full((len(active), n_corners), -1, dtype=np.int64)
    grain = np.zeros(len(active), dtype=np.int64)
    axes, sides = local_faces(ndim)
    for face in range(2 * ndim):
        axis, side = int(axes[face]), int(sides[face])
        dof = op.cell_dofs[:, face]
        unknown = np.where(dof >= 0, op.dof_unknown[np.maximum(dof, 0)], -1)
        row = np.where(unknown >= 0, position[np.maximum(unknown, 0)], -1)
        mine = row >= 0
        row = row[mine]
        at = voxel[mine]
        at[:, axis] += side > 0
        others = [a for a in range(ndim) if a != axis]
        face_corners = np.empty((len(row), n_corners), dtype=np.int64)
        for m in range(n_corners):
            offset = at.copy()
            for bit, other in enumerate(others):
                offset[:, other] += (m >> (len(others) - 1 - bit)) & 1
            face_corners[:, m] = np.ravel_multi_index(tuple(offset.T), corner_shape)
        corners[row] = face_corners  # a shared face: both elements give it the same corners
        # a shared face between two grains (no GB resistor) takes the last one's copies: the
        # coarse space then holds two copies there, which only enlarges it
        grain[row] = op.cell_grain[mine] + 1  # 0: the backbone
    n_groups = int(grain.max()) + 1 if len(grain) else 1
    unique, copy = np.unique((corners * n_groups + grain[:, None]).ravel(), return_inverse=True)
    corner = np.stack(np.unravel_index(unique // n_groups, corner_shape), axis=1)
    return FaceGrid(copy.reshape(corners.shape).astype(np.int64), corner.astype(np.int32))


class FaceMultigrid:
    """The symmetric V-cycle of the module doc, a preconditioner with the interface of
    :class:`netsolve.solvers.RugeStubenPreconditioner` (``dtype``, ``__call__``,
    ``operator``). ``matrix``: the face unknowns' SPD matrix (S)."""

    def __init__(self, matrix: sp.csr_matrix, grid: FaceGrid, dtype=np.float32,
                 sweeps: int | None = None, weight: float = WEIGHT):
        from ..solvers import _csr_as

        if not 0 < weight < 2:
            raise ValueError(f"coarse-correction weight {weight} outside (0, 2)")
        if len(grid.face_corners) != matrix.shape[0]:
            raise ValueError("the face grid does not match the matrix")  # pragma: no cover
        if sweeps is None:
            sweeps = SWEEPS[grid.corner.shape[1]]
        self.dtype, self.sweeps, self.weight = dtype, sweeps, weight
        self.n = matrix.shape[0]
        diagonal_max = float(np.abs(matrix.diagonal()).max()) if self.n else 0.0
        self.scale = 1.0 / diagonal_max if np.isfinite(diagonal_max) and diagonal_max > 0 else 1.0
        n_corners = grid.face_corners.shape[1]
        interpolation = sp.csr_matrix(
            (np.full(grid.face_corners.size, 1.0 / n_corners),
             grid.face_corners.ravel(), np.arange(0, grid.face_corners.size + 1, n_corners)),
            shape=(self.n, len(grid.corner)))
        # the corner multigrid scales its operator itself: the product needs no scaled copy
        restriction = interpolation.T.tocsr()
        corner_level = (restriction @ sp.csr_matrix(matrix) @ interpolation).tocsr()
        self.coarse = CornerMultigrid(corner_level, grid.corner, dtype,
                                      algebraic_below=grid.corner.shape[1] == 2)
        del corner_level
        self.level = _csr_as(matrix, dtype, self.scale)
        self.interpolation = interpolation.astype(dtype)
        self.restriction = restriction.astype(dtype)

    def __call__(self, residual: np.ndarray) -> np.ndarray:
        from pyamg.relaxation.relaxation import gauss_seidel

        magnitude = float(np.abs(residual).max()) if residual.size else 0.0
        if magnitude == 0.0 or not np.isfinite(magnitude):
            return np.zeros_like(residual) if magnitude == 0.0 else np.full_like(residual, np.nan)
        rhs = (residual / magnitude).astype(self.dtype)
        x = np.zeros_like(rhs)
        gauss_seidel(self.level, x, rhs, iterations=self.sweeps, sweep="forward")
        # the corner multigrid solves with the unscaled corner operator (it scales internally):
        # its correction, times the face level's scaling undone, is this level's
        correction = self.coarse(self.restriction @ (rhs - self.level @ x)) / self.scale
        x += self.dtype(self.weight) * (self.interpolation @ correction.astype(self.dtype))
        gauss_seidel(self.level, x, rhs, iterations=self.sweeps, sweep="backward")
        return x.astype(np.float64) * (magnitude * self.scale)

    def operator(self, n: int):
        import scipy.sparse.linalg as spla

        return spla.LinearOperator((n, n), matvec=self, dtype=np.float64)

"""Geometric multigrid for operators on the voxel grid (``[solver] method = "gmg"``).

:mod:`.grid` (the operator on the grid, box-aggregation coarsening; NumPy only),
:mod:`.kernels` (numba), :mod:`.cycle` (hierarchy, smoothers, the symmetric V-cycle),
:mod:`.solver` (CG on the grid, the :mod:`netsolve.solvers` contract); :mod:`.fem` (the
finite-element operator: box aggregation of the voxel corners, no numba), :mod:`.mixed` (the
hybridized mixed operator: the voxel corners as an auxiliary space, then as :mod:`.fem`).
numba is imported only when a solve runs: importing netsolve stays fast.
"""

from .grid import GridOperator


def solve(matrix, rhs, grid, rtol, maxiter, origin="case", warm=None, balance=None):
    """CG with the grid multigrid of ``grid``'s operator kind, in the contract of
    :func:`netsolve.solvers.linear_solve`: the two-point stencil (:class:`GridOperator`,
    :func:`netsolve.multigrid.solver.solve`), the Q1 corners (:class:`.fem.CornerGrid`) or the
    mixed operator's faces (:class:`.mixed.FaceGrid`); the modules are imported on first use.
    The two aggregation cycles run in float32 first, in float64 if those cannot reach ``rtol``;
    a warm start's cycle is reused when it was built for as many unknowns."""
    if isinstance(grid, GridOperator):
        from .solver import solve as grid_solve

        return grid_solve(matrix, rhs, grid, rtol, maxiter, origin, warm, balance)
    from ..solvers import preconditioned_cg

    if hasattr(grid, "face_corners"):
        from .mixed import FaceMultigrid

        cycle = build = FaceMultigrid  # built from the grid directly
    else:
        from .fem import CornerMultigrid as cycle, corner_multigrid as build
    return preconditioned_cg(
        matrix, rhs, rtol, maxiter, origin, lambda dtype: build(matrix, grid, dtype), "gmg",
        warm, balance,
        reusable=lambda previous: isinstance(previous, cycle) and previous.n == matrix.shape[0])


__all__ = ["GridOperator", "solve"]

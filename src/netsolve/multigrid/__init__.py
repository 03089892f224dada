"""Geometric multigrid for operators on the voxel grid (``[solver] method = "gmg"``).

:mod:`.grid` (the operator on the grid, box-aggregation coarsening; NumPy only),
:mod:`.kernels` (numba), :mod:`.cycle` (hierarchy, smoothers, the symmetric V-cycle),
:mod:`.solver` (CG on the grid, the :mod:`netsolve.solvers` contract); :mod:`.fem` (the
finite-element operator: box aggregation of the voxel corners, no numba). numba is imported
only when a solve runs: importing netsolve stays fast.
"""

from .grid import GridOperator


def solve(matrix, rhs, grid, rtol, maxiter, origin="case", warm=None, balance=None):
    """:func:`netsolve.multigrid.solver.solve` (imported on first use)."""
    from .solver import solve as grid_solve

    return grid_solve(matrix, rhs, grid, rtol, maxiter, origin, warm, balance)


__all__ = ["GridOperator", "solve"]

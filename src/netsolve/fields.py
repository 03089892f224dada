"""Stage 5: the fields contract: voxel fields and grain-boundary face currents of a solve.

Every discretization (:mod:`netsolve.discretization`) reconstructs its own fluxes into this one
dataclass (``operator.fields(solution, props, electrode_index)``):

- potential per voxel (V), current density and electric field per voxel (A/m^2, V/m);
- fields are NaN where there is no solved unknown (ZrO2, void, floating clusters; electrode
  voxels carry the electrode potential and NaN current density).

Grain-boundary faces are reported in a form every discretization can produce (the analysis
stage reads only these and the voxel fields): one row per voxel face between two different
grains that both carry solved potentials, sorted by (axis, lower voxel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fields:
    """Voxel fields (grid shape, or grid shape + (ndim,) for vectors) and link currents.

    ``link_current`` and ``gb_potential_jump`` are the two-point scheme's per-link arrays; the
    other discretizations leave them empty and fill the same voxel fields and GB face arrays.
    """

    potential: np.ndarray  # V
    current_density: np.ndarray  # A/m^2
    electric_field: np.ndarray  # V/m
    link_current: np.ndarray  # A, per internal link
    electrode_link_current: np.ndarray  # A, per electrode link, into the sample
    gb_potential_jump: np.ndarray  # V, per internal link (0 where no GB)
    joule_power_W: float
    gb_face_voxels: np.ndarray  # (n_gb_faces, 2) int64 flat voxel index, lower and upper
    gb_face_axis: np.ndarray  # (n_gb_faces,) int8, the face normal is this grid axis
    gb_face_current: np.ndarray  # (n_gb_faces,) A, positive from lower to upper voxel (+axis)
    gb_face_jump: np.ndarray  # (n_gb_faces,) V, potential drop across the GB, lower - upper


def voxel_grids(shape: tuple[int, ...], voxel: np.ndarray, potential: np.ndarray,
                current_density: np.ndarray, electric_field: np.ndarray, solution,
                electrode_index: np.ndarray | None):
    """Per-unknown values of the solved voxels ``voxel`` (flat indices) onto the grid: the
    potential (+ the solution's offset; electrode voxels at their electrode's potential), J and
    E (grid + (d,)); NaN elsewhere. ``solution``: a :class:`netsolve.solve.NetworkSolution`."""
    n_vox = int(np.prod(shape))
    ndim = len(shape)
    grid_potential = np.full(n_vox, np.nan)
    grid_potential[voxel] = potential + solution.potential_offset_V
    if electrode_index is not None:
        flat = electrode_index.ravel()
        inside = flat >= 0
        grid_potential[inside] = solution.absolute_electrode_potential[flat[inside]]
    grid_current = np.full((n_vox, ndim), np.nan)
    grid_field = np.full((n_vox, ndim), np.nan)
    # one component at a time: a scatter of whole (n, ndim) rows took 2.5x longer (a sweep
    # does this at every point)
    for d in range(ndim):
        grid_current[:, d][voxel] = current_density[:, d]
        grid_field[:, d][voxel] = electric_field[:, d]
    return (grid_potential.reshape(shape), grid_current.reshape(shape + (ndim,)),
            grid_field.reshape(shape + (ndim,)))

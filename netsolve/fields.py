"""Stage 5: solved network -> voxel fields and global balances.

- link current (A), positive from ``link_nodes[:, 0]`` to its + neighbour;
- current density per voxel (A/m^2): along each axis, the mean of the currents through the
  voxel's two faces divided by the face area (a face without a link carries zero current);
- electric field per voxel (V/m): the bulk gradient inside the voxel, ``E_d = J_d / s_d``,
  which excludes the potential jump across a grain-boundary resistor;
- fields are NaN where there is no solved node (ZrO2, void, floating clusters; electrode voxels
  carry the electrode potential and NaN current density).

Grain-boundary faces are reported in a form every discretization can produce (the analysis
stage reads only these and the voxel fields): one row per voxel face between two different
grains that both carry solved potentials, sorted by (axis, lower voxel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import Network
from .properties import Properties
from .solve import NetworkSolution


@dataclass(frozen=True)
class Fields:
    """Voxel fields (grid shape, or grid shape + (ndim,) for vectors) and link currents.

    The finite-element discretization (:mod:`netsolve.fem`) fills the same voxel fields and GB
    face arrays; its ``link_current`` and ``gb_potential_jump`` are empty (no two-point links).
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


def compute_fields(network: Network, solution: NetworkSolution, props: Properties,
                   electrode_index: np.ndarray | None = None) -> Fields:
    """Reconstruct voxel fields from node potentials (vectorized over links)."""
    shape = network.shape
    ndim = len(shape)
    n_vox = int(np.prod(shape))
    u = solution.node_potential
    a, b = network.link_nodes[:, 0], network.link_nodes[:, 1]
    link_current = network.link_conductance * (u[a] - u[b])
    link_current = np.where(np.isnan(link_current), 0.0, link_current)  # floating links
    e_node = network.electrode_link_node
    e_current = network.electrode_link_conductance * (
        solution.electrode_potential[network.electrode_link_electrode] - u[e_node])

    # Sum of the two face currents along each axis, per node; then halve and divide by area.
    face_sum = np.zeros((network.n_nodes, ndim))
    for axis in range(ndim):
        on_axis = network.link_axis == axis
        current = link_current[on_axis]
        face_sum[:, axis] += np.bincount(a[on_axis], current, network.n_nodes)
        face_sum[:, axis] += np.bincount(b[on_axis], current, network.n_nodes)
        e_on_axis = network.electrode_link_axis == axis
        # Into-sample current I through a face on side s runs along -s * axis.
        along = -network.electrode_link_side[e_on_axis] * e_current[e_on_axis]
        face_sum[:, axis] += np.bincount(e_node[e_on_axis], along, network.n_nodes)
    node_j = face_sum / (2.0 * network.face_area_m2)
    node_j[solution.floating] = np.nan

    potential = np.full(n_vox, np.nan)
    potential[network.node_voxel] = u + solution.potential_offset_V
    if electrode_index is not None:
        flat_e = electrode_index.ravel()
        inside = flat_e >= 0
        potential[inside] = solution.absolute_electrode_potential[flat_e[inside]]
    current_density = np.full((n_vox, ndim), np.nan)
    current_density[network.node_voxel] = node_j
    sigma = props.voxel_axis_sigma.reshape(n_vox, ndim)[network.node_voxel]
    electric_field = np.full((n_vox, ndim), np.nan)
    electric_field[network.node_voxel] = node_j / sigma

    du = np.nan_to_num(u[a] - u[b])
    de = solution.electrode_potential[network.electrode_link_electrode] - u[e_node]
    joule = float(np.sum(network.link_conductance * du**2)
                  + np.sum(network.electrode_link_conductance * de**2))
    gb_jump = link_current * network.link_gb_resistance
    gb = np.flatnonzero(network.link_crosses_gb & ~solution.floating[a])
    gb_voxels = network.node_voxel[network.link_nodes[gb]].astype(np.int64)
    order = np.lexsort((gb_voxels[:, 0], network.link_axis[gb]))
    gb = gb[order]
    return Fields(
        potential=potential.reshape(shape),
        current_density=current_density.reshape(shape + (ndim,)),
        electric_field=electric_field.reshape(shape + (ndim,)),
        link_current=link_current,
        electrode_link_current=e_current,
        gb_potential_jump=gb_jump,
        joule_power_W=joule,
        gb_face_voxels=gb_voxels[order],
        gb_face_axis=network.link_axis[gb].astype(np.int8),
        gb_face_current=link_current[gb],
        gb_face_jump=gb_jump[gb],
    )

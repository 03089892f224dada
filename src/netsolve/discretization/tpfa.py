"""Stage 3: microstructure + conductivities -> resistor network (two-point discretization).

Nodes are the conducting voxels (grain, backbone). Face neighbours are joined by one link whose
resistance is (all lengths in m, face area A in m^2, conductivities in S/m):

- same grain, grain|backbone, backbone|backbone: ``h/2 / (s_p A) + h/2 / (s_q A)``
  (two half-voxels in series, each with its conductivity along the link axis);
- two different grains: the same plus ``R_GB = t_GB / (sigma_GB A)``.

Electrode links join a voxel to an electrode: ``L / (s A) + ASR / A`` with L = h/2
(``electrode_link = "half_voxel"``, the thesis) or h (``"full_voxel"``, the paper's 2 R_bulk).
ZrO2, void and electrode voxels carry no nodes.

This is the paper's scheme; it sees only the diagonal of a grain's tensor. Other
discretizations produce a :class:`Network`-like operator for the same solve stage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ..case import Case
from ..fields import Fields, voxel_grids
from ..microstructure import Microstructure, Phase
from ..multigrid.grid import GridOperator, grid_operator
from ..properties import Properties
from ..solve import NetworkSolution
from ..voxels import electrode_faces, face_slices


@dataclass(frozen=True)
class Network:
    """A resistor network on the voxel grid.

    Internal links join ``link_nodes[:, 0]`` to ``link_nodes[:, 1]``, its + neighbour along
    ``link_axis``. Electrode links join ``electrode_link_node`` to electrode
    ``electrode_link_electrode``; ``electrode_link_side`` is +1 when the electrode lies on the +
    side of the voxel along ``electrode_link_axis``. Conductances in S, resistances in ohm.
    """

    shape: tuple[int, ...]
    face_area_m2: float
    node_voxel: np.ndarray  # (n_nodes,) int64 flat voxel index (C order)
    link_nodes: np.ndarray  # (n_links, 2) int32
    link_axis: np.ndarray  # (n_links,) int8
    link_conductance: np.ndarray  # (n_links,) S
    link_crosses_gb: np.ndarray  # (n_links,) bool, the link joins two different grains
    link_gb_resistance: np.ndarray  # (n_links,) ohm, 0 where no GB (or t_GB = 0)
    electrode_link_node: np.ndarray  # (m,) int32
    electrode_link_electrode: np.ndarray  # (m,) int16
    electrode_link_axis: np.ndarray  # (m,) int8
    electrode_link_side: np.ndarray  # (m,) int8, -1 or +1
    electrode_link_conductance: np.ndarray  # (m,) S
    n_electrodes: int
    discretization: ClassVar[str] = "tpfa"  # the [solver] discretization that built it

    @property
    def n_nodes(self) -> int:
        return len(self.node_voxel)

    @property
    def n_gb_links(self) -> int:
        return int(self.link_crosses_gb.sum())

    @property
    def contact_face_electrode(self) -> np.ndarray:
        """Electrode of every voxel face that touches an electrode."""
        return self.electrode_link_electrode

    def floating_voxels(self, node_floating: np.ndarray) -> np.ndarray:
        """Voxels (grid shape, bool) whose node is floating."""
        floating = np.zeros(int(np.prod(self.shape)), dtype=bool)
        floating[self.node_voxel[node_floating]] = True
        return floating.reshape(self.shape)

    @property
    def n_links(self) -> int:
        return len(self.link_conductance)

    def fields(self, solution: NetworkSolution, props: Properties,
               electrode_index: np.ndarray | None = None) -> Fields:
        """The voxel fields and GB face currents of a solution (:func:`compute_fields`)."""
        return compute_fields(self, solution, props, electrode_index)

    def grid_operator(self, rows: np.ndarray | None = None) -> GridOperator:
        """The matrix of the nodes ``rows`` (default: all; increasing) on the voxel grid: face
        conductances and electrode conductances per voxel, for the grid multigrid solver.
        Links to a node outside ``rows`` are left out (floating nodes have none to the rest)."""
        kept = np.ones(self.n_nodes, dtype=bool)
        if rows is not None and len(rows) < self.n_nodes:
            kept[:] = False
            kept[rows] = True
        return grid_operator(self.shape, self.node_voxel, kept, self.link_nodes, self.link_axis,
                             self.link_conductance, self.electrode_link_node,
                             self.electrode_link_conductance)

    def voxel_components(self) -> tuple[int, np.ndarray] | None:
        """(number of components, component of every node) of the link graph, by labelling
        the voxel grid instead of a graph search on the assembled matrix: every two
        face-neighbouring nodes are joined by one link (:func:`build_network`), so the link
        graph's components are those of the node voxels under face adjacency. Components are
        numbered by their first node, as ``scipy.sparse.csgraph.connected_components``
        numbers them. None when the links are not exactly the face-neighbour pairs (then
        the caller searches the matrix)."""
        from scipy import ndimage

        mask = np.zeros(int(np.prod(self.shape)), dtype=bool)
        mask[self.node_voxel] = True
        mask = mask.reshape(self.shape)
        ndim = len(self.shape)
        pairs = sum(int(np.count_nonzero(mask[lo] & mask[hi]))
                    for lo, hi in (face_slices(ndim, axis) for axis in range(ndim)))
        if pairs != self.n_links:
            return None
        labels, count = ndimage.label(mask, structure=ndimage.generate_binary_structure(ndim, 1))
        return int(count), labels.reshape(-1)[self.node_voxel].astype(np.int32) - 1

    def voxel_node(self) -> np.ndarray:
        """Node index of every voxel (grid shape), -1 for voxels without a node."""
        index = np.full(int(np.prod(self.shape)), -1, dtype=np.int64)
        index[self.node_voxel] = np.arange(self.n_nodes)
        return index.reshape(self.shape)


def build_network(case: Case, micro: Microstructure, props: Properties) -> Network:
    """Two-point (paper) resistor network, vectorized over faces."""
    grid = case.grid
    ndim = grid.ndim
    h = grid.voxel_size_m
    area = grid.face_area_m2
    conducting = micro.conducting
    node_voxel = np.flatnonzero(conducting)
    node_id = np.full(grid.shape, -1, dtype=np.int32)
    node_id[conducting] = np.arange(len(node_voxel), dtype=np.int32)
    is_grain = micro.phase == Phase.GRAIN
    r_gb = 1.0 / (props.gb_conductance_m2 * area)  # 0 when t_GB = 0

    links, axes, conductance, gb_resistance, gb_flag = [], [], [], [], []
    for axis in range(ndim):  # loop over the 2-3 axes; each pass is vectorized over faces
        lo, hi = face_slices(ndim, axis)
        a, b = node_id[lo], node_id[hi]
        both = (a >= 0) & (b >= 0)
        sigma = props.voxel_axis_sigma[..., axis]
        crosses_gb = (is_grain[lo] & is_grain[hi] & (micro.labels[lo] != micro.labels[hi]))[both]
        link_g, gb_part = _link_conductance(sigma[lo][both], sigma[hi][both], crosses_gb,
                                            0.5 * h / area, r_gb)
        links.append(np.stack([a[both], b[both]], axis=1))
        axes.append(np.full(len(link_g), axis, dtype=np.int8))
        conductance.append(link_g)
        gb_resistance.append(gb_part)
        gb_flag.append(crosses_gb)

    e_node, e_id, e_axis, e_side = electrode_faces(case, micro, node_id)
    e_conductance = _electrode_conductance(case, props, node_voxel[e_node], e_id, e_axis)

    return Network(
        shape=grid.shape, face_area_m2=area, node_voxel=node_voxel,
        link_nodes=np.concatenate(links).astype(np.int32),
        link_axis=np.concatenate(axes), link_conductance=np.concatenate(conductance),
        link_crosses_gb=np.concatenate(gb_flag), link_gb_resistance=np.concatenate(gb_resistance),
        electrode_link_node=e_node.astype(np.int32), electrode_link_electrode=e_id.astype(np.int16),
        electrode_link_axis=e_axis.astype(np.int8), electrode_link_side=e_side.astype(np.int8),
        electrode_link_conductance=e_conductance, n_electrodes=len(case.electrodes))


def _link_conductance(sigma_lower, sigma_upper, crosses_gb, half_over_area, r_gb):
    """Conductance (S) and GB resistance part (ohm) of links between two voxels."""
    gb_part = np.where(crosses_gb, r_gb, 0.0)
    return 1.0 / (half_over_area / sigma_lower + half_over_area / sigma_upper + gb_part), gb_part


def _electrode_conductance(case: Case, props: Properties, voxel: np.ndarray, electrode: np.ndarray,
                           axis: np.ndarray) -> np.ndarray:
    """Conductance (S) of electrode links from ``voxel`` (flat index) along ``axis``."""
    grid = case.grid
    h, area = grid.voxel_size_m, grid.face_area_m2
    link_length = 0.5 * h if case.materials.electrode_link == "half_voxel" else h
    sigma_e = props.voxel_axis_sigma.reshape(-1, grid.ndim)[voxel, axis]
    asr = (np.array([e.asr_ohm_m2 for e in case.electrodes])[electrode] if len(electrode)
           else np.zeros(0))
    return 1.0 / (link_length / (sigma_e * area) + asr / area)


def with_conductances(network: Network, case: Case, props: Properties) -> Network:
    """The same links with the conductances of new ``props`` / materials (vectorized over links).

    For parameter sweeps: the link topology depends only on the microstructure and the
    electrodes, so a change of materials needs only this, not :func:`build_network`.
    """
    grid = case.grid
    area = grid.face_area_m2
    sigma = props.voxel_axis_sigma.reshape(-1, grid.ndim)
    voxel_a = network.node_voxel[network.link_nodes[:, 0]]
    voxel_b = network.node_voxel[network.link_nodes[:, 1]]
    axis = network.link_axis
    link_g, gb_part = _link_conductance(sigma[voxel_a, axis], sigma[voxel_b, axis],
                                        network.link_crosses_gb, 0.5 * grid.voxel_size_m / area,
                                        1.0 / (props.gb_conductance_m2 * area))
    e_g = _electrode_conductance(case, props, network.node_voxel[network.electrode_link_node],
                                 network.electrode_link_electrode, network.electrode_link_axis)
    return replace(network, link_conductance=link_g, link_gb_resistance=gb_part,
                   electrode_link_conductance=e_g)


# --------------------------------------------------------------------------- fields


def _axis_blocks(link_axis: np.ndarray, ndim: int) -> list:
    """The links of each axis: slices when they come in axis order (as :func:`build_network`
    makes them; a slice costs no gather: the per-axis sums took 3.5x less time than one sum
    over a (node, axis) index at 128^3), else index arrays."""
    if np.all(link_axis[:-1] <= link_axis[1:]):
        edges = np.searchsorted(link_axis, np.arange(ndim + 1))
        return [slice(edges[d], edges[d + 1]) for d in range(ndim)]
    return [np.flatnonzero(link_axis == d) for d in range(ndim)]


def compute_fields(network: Network, solution: NetworkSolution, props: Properties,
                   electrode_index: np.ndarray | None = None) -> Fields:
    """Reconstruct voxel fields from node potentials (vectorized over links).

    - link current (A), positive from ``link_nodes[:, 0]`` to its + neighbour;
    - current density per voxel (A/m^2): along each axis, the mean of the currents through the
      voxel's two faces divided by the face area (a face without a link carries zero current);
    - electric field per voxel (V/m): the bulk gradient inside the voxel, ``E_d = J_d / s_d``,
      which excludes the potential jump across a grain-boundary resistor.
    """
    shape = network.shape
    ndim = len(shape)
    n_vox = int(np.prod(shape))
    u = solution.node_potential
    a, b = network.link_nodes[:, 0], network.link_nodes[:, 1]
    floating = bool(solution.floating.any())
    du = u[a] - u[b]
    if floating:  # NaN potentials: floating links carry no current and no power
        du = np.nan_to_num(du)
    link_current = network.link_conductance * du
    e_node = network.electrode_link_node
    de = solution.electrode_potential[network.electrode_link_electrode] - u[e_node]
    e_current = network.electrode_link_conductance * de

    # Sum of the two face currents along each axis, per node (one bincount per side and axis);
    # then halve and divide by area. Into-sample current I through a face on side s runs along
    # -s * axis.
    n_nodes = network.n_nodes
    face_sum = np.zeros((n_nodes, ndim))  # from 0.0 (also: bincount of no links is int)
    for axis, links in enumerate(_axis_blocks(network.link_axis, ndim)):
        face_sum[:, axis] += np.bincount(a[links], link_current[links], n_nodes)
        face_sum[:, axis] += np.bincount(b[links], link_current[links], n_nodes)
    e_axis = network.electrode_link_axis.astype(np.int64)
    face_sum.reshape(-1)[:] += np.bincount(e_node.astype(np.int64) * ndim + e_axis,
                                           -network.electrode_link_side * e_current,
                                           n_nodes * ndim)
    node_j = face_sum / (2.0 * network.face_area_m2)
    node_j[solution.floating] = np.nan

    sigma = np.take(props.voxel_axis_sigma.reshape(n_vox, ndim), network.node_voxel, axis=0)
    potential, current_density, electric_field = voxel_grids(
        shape, network.node_voxel, u, node_j, node_j / sigma, solution, electrode_index)

    # sum of g du^2 as one fused product (link_current = g du)
    joule = float(np.dot(link_current, du) + np.dot(e_current, de))
    gb_jump = link_current * network.link_gb_resistance
    gb_links = network.link_crosses_gb
    gb = np.flatnonzero(gb_links & ~solution.floating[a] if floating else gb_links)
    gb_voxels = network.node_voxel[network.link_nodes[gb]].astype(np.int64)
    order = np.lexsort((gb_voxels[:, 0], network.link_axis[gb]))
    gb = gb[order]
    return Fields(
        potential=potential, current_density=current_density, electric_field=electric_field,
        link_current=link_current,
        electrode_link_current=e_current,
        gb_potential_jump=gb_jump,
        joule_power_W=joule,
        gb_face_voxels=gb_voxels[order],
        gb_face_axis=network.link_axis[gb].astype(np.int8),
        gb_face_current=link_current[gb],
        gb_face_jump=gb_jump[gb],
    )

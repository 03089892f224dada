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

from .case import Case
from .microstructure import Microstructure, Phase
from .multigrid.grid import GridOperator, grid_operator
from .properties import Properties

EDGE_AXIS_SIDE = {"left": (0, -1), "right": (0, 1), "bottom": (1, -1), "top": (1, 1),
                  "front": (2, -1), "back": (2, 1)}


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

    def voxel_node(self) -> np.ndarray:
        """Node index of every voxel (grid shape), -1 for voxels without a node."""
        index = np.full(int(np.prod(self.shape)), -1, dtype=np.int64)
        index[self.node_voxel] = np.arange(self.n_nodes)
        return index.reshape(self.shape)


def face_slices(ndim: int, axis: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Index slices of the lower and upper voxel of every face normal to ``axis``."""
    lower = [slice(None)] * ndim
    upper = [slice(None)] * ndim
    lower[axis] = slice(0, -1)
    upper[axis] = slice(1, None)
    return tuple(lower), tuple(upper)


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


def electrode_faces(case: Case, micro: Microstructure, node_id: np.ndarray):
    """Faces between conducting voxels and electrodes: (node, electrode, axis, side) arrays."""
    ndim = case.grid.ndim
    nodes, ids, axes, sides = [], [], [], []

    def add(node_values, electrode_values, axis, side):
        nodes.append(node_values)
        ids.append(electrode_values)
        axes.append(np.full(len(node_values), axis))
        sides.append(np.full(len(node_values), side))

    for k, electrode in enumerate(case.electrodes):
        if electrode.region.kind != "edge":
            continue
        axis, side = EDGE_AXIS_SIDE[electrode.region.edge]
        face = [slice(None)] * ndim
        face[axis] = 0 if side < 0 else -1
        layer = node_id[tuple(face)]
        hit = layer[layer >= 0]
        add(hit, np.full(len(hit), k), axis, side)

    if (micro.electrode_index >= 0).any():
        for axis in range(ndim):
            lo, hi = face_slices(ndim, axis)
            a, b = node_id[lo], node_id[hi]
            ea, eb = micro.electrode_index[lo], micro.electrode_index[hi]
            plus = (a >= 0) & (eb >= 0)  # electrode on the + side of a conducting voxel
            add(a[plus], eb[plus], axis, 1)
            minus = (b >= 0) & (ea >= 0)
            add(b[minus], ea[minus], axis, -1)

    if not nodes:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    return tuple(np.concatenate(x).astype(np.int64) for x in (nodes, ids, axes, sides))

"""Stage 3 (alternative): consistent full-tensor discretization, Q1 finite elements.

``[solver] discretization = "fem"``. Every conducting voxel is one bilinear (2D) / trilinear
(3D) element with nodes at its corners and the voxel's full constant conductivity tensor
(``Properties.tensor_table``: the grain's tensor, or the voxel's own with per-voxel
orientations; S2 in 2D, S3 in 3D; the backbone's sigma I). The
element stiffness ``K_e = (V_voxel / h^2) sum_ab S_ab M_ab`` uses the reference matrices
``M_ab = int d_a phi_i d_b phi_j`` over the unit square/cube, computed once by 2-point Gauss
quadrature per direction (exact for these polynomials). The system is symmetric positive
definite and sees the off-diagonal tensor entries that the two-point stencil drops.

- Grain boundaries: each corner carries one node per distinct region among the conducting
  voxels around it (a grain is a region; the backbone joins the grains it touches, as in the
  two-point scheme where grain|backbone faces have no GB resistor). Every voxel face between two
  different grains is a zero-thickness interface element with conductance per area
  ``sigma_GB / t_GB`` between the two copies of its corners, with a *lumped* face mass matrix
  (each corner takes 1/2 (2D) or 1/4 (3D) of the face area), so the interface is a set of
  positive conductances. With ``t_GB = 0`` there is one node per corner (continuity).
- ZrO2 / void / electrode voxels have no element; corners touching no conducting voxel have no
  node.
- Electrodes: the corners of the faces between a conducting voxel and an electrode (the outer
  grid face for edge electrodes) are coupled to the electrode with the contact conductance per
  area ``1 / (ASR + L_extra / s_nn)``, ``L_extra = 0`` for ``electrode_link = "half_voxel"``
  (the two-point scheme's half-voxel bulk resistance is already inside the element) and ``h/2``
  for ``"full_voxel"`` (the paper's extra half voxel, with the voxel's normal conductivity
  s_nn). When that is infinite (ASR = 0 and half_voxel) the corners are Dirichlet nodes at the
  electrode potential (a corner claimed by two such electrodes takes the first in case order);
  otherwise it is a Robin term, lumped to the corners like the GB faces.
- Dirichlet nodes are eliminated into the solve stage's operator contract (see
  :mod:`netsolve.solve`): a coupling ``K_ij`` between a free node i and a Dirichlet node of
  electrode k becomes an electrode link of conductance ``-K_ij`` (it may be negative: Q1 couplings
  of an anisotropic element are not all negative; the matrix is still SPD), a coupling between
  Dirichlet nodes of two electrodes an electrode-to-electrode conductance.

``periodic_axes`` (a keyword for validation, not a case key) identifies the nodes of the two
opposite grid faces normal to those axes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from ..case import Case
from ..fields import Fields, voxel_grids
from ..microstructure import Microstructure, Phase
from ..properties import Properties
from ..solve import NetworkSolution
from ..voxels import electrode_faces, face_slices
from .assembly import (MatrixOperator, contact_resistance_area, dof_values, element_tensors,
                       eliminate_dirichlet)


@dataclass(frozen=True)
class FemOperator(MatrixOperator):
    """Q1 finite elements on the voxel grid, in the solve stage's operator contract.

    Node *copies* are all corner nodes (free and Dirichlet); unknowns are the free copies.
    ``element_nodes[e, j]`` is the copy at local corner ``corner_offsets()[j]`` of element e
    (voxel ``element_voxel[e]``). Conductances in S, tensors in S/m.
    """

    shape: tuple[int, ...]
    voxel_size_m: float
    voxel_volume_m3: float
    face_area_m2: float
    element_voxel: np.ndarray  # (n_elements,) int64 flat voxel index (C order)
    element_nodes: np.ndarray  # (n_elements, 2^d) int32 (int64 if huge) copy index
    element_tensor_index: np.ndarray  # (n_elements,) int32 row of tensor_table
    tensor_table: np.ndarray  # (n_tensors, d, d) S/m: Properties.tensor_table + the backbone's
    copy_unknown: np.ndarray  # (n_copies,) int64 unknown index, -1 for Dirichlet copies
    copy_electrode: np.ndarray  # (n_copies,) int64 Dirichlet electrode, -1 for free copies
    matrix: sp.csr_matrix  # (n_nodes, n_nodes) S, incl. the electrode links on the diagonal
    electrode_link_node: np.ndarray  # (m,) unknown index
    electrode_link_electrode: np.ndarray  # (m,)
    electrode_link_conductance: np.ndarray  # (m,) S (may be negative, see module doc)
    electrode_coupling: np.ndarray  # (n_e, n_e) S, Laplacian of direct electrode couplings
    gb_face_voxels: np.ndarray  # (n_gb_faces, 2) flat voxels, lower/upper, sorted (axis, lower)
    gb_face_axis: np.ndarray  # (n_gb_faces,) int8
    gb_link_copies: np.ndarray  # (n_gb_links, 2) copies on the lower / upper side
    gb_link_face: np.ndarray  # (n_gb_links,) row of gb_face_voxels
    gb_link_conductance: np.ndarray  # (n_gb_links,) S
    robin_copy: np.ndarray  # contact (Robin) links: copy, electrode, conductance (S)
    robin_electrode: np.ndarray
    robin_conductance: np.ndarray
    contact_face_electrode: np.ndarray  # electrode of every contact face
    n_electrodes: int
    # pairs of electrodes whose Dirichlet contacts share a node (a corner claimed by both takes
    # the first); at different potentials the exact conductance is infinite
    touching_electrodes: tuple = ()
    discretization: ClassVar[str] = "fem"
    # Classical AMG fails on grains whose 1000:1 anisotropy is slightly off the grid axes (its
    # strong-connection lines drift across the true strong direction): root-node AMG with
    # evolution strength instead (netsolve.solvers, docs/performance.md).
    amg_hierarchy: ClassVar[str] = "rootnode"
    # ``auto`` picks the grid multigrid (corner box aggregation, netsolve.multigrid.fem) in 3D
    # above the direct solver's limit (2-4x less solver CPU), never in 2D, where it only ties
    # with root-node AMG (docs/performance.md, "Grid multigrid (issue 15)")
    gmg_min_unknowns: ClassVar[dict] = {2: None, 3: 0}

    @property
    def n_elements(self) -> int:
        return len(self.element_voxel)

    @property
    def n_gb_links(self) -> int:
        return len(self.gb_link_conductance)

    def floating_voxels(self, node_floating: np.ndarray) -> np.ndarray:
        """Voxels (grid shape, bool) whose element has a floating node."""
        return _scatter(self.element_voxel, self.element_floating(node_floating), self.shape,
                        False)

    def element_floating(self, node_floating: np.ndarray) -> np.ndarray:
        copy_floating = np.zeros(len(self.copy_unknown), dtype=bool)
        free = self.copy_unknown >= 0
        copy_floating[free] = node_floating[self.copy_unknown[free]]
        return copy_floating[self.element_nodes].any(axis=1)

    def fields(self, solution: NetworkSolution, props: Properties | None = None,
               electrode_index: np.ndarray | None = None) -> Fields:
        """The voxel fields and GB face currents of a solution (:func:`compute_fem_fields`;
        the tensors are the operator's own)."""
        return compute_fem_fields(self, solution, electrode_index)

    def grid_operator(self, active: np.ndarray):
        """Where the unknowns ``active`` sit on the grid, for the grid multigrid
        (:func:`netsolve.multigrid.fem.corner_grid`)."""
        from ..multigrid.fem import corner_grid

        return corner_grid(self, active)

    def copy_potential(self, solution: NetworkSolution) -> np.ndarray:
        """Potential of every node copy (V): Dirichlet copies at their electrode's potential."""
        return dof_values(self.copy_unknown, self.copy_electrode, solution)


# --------------------------------------------------------------------------- reference element


def corner_offsets(ndim: int) -> np.ndarray:
    """Local corner order of an element: (2^d, d) offsets in {0, 1}, x most significant."""
    return np.array(list(itertools.product((0, 1), repeat=ndim)), dtype=np.int64)


def reference_stiffness(ndim: int) -> np.ndarray:
    """``M[a, b, i, j] = int_unit-cube d_a phi_i d_b phi_j`` (2-point Gauss, exact)."""
    offsets = corner_offsets(ndim)
    points_1d = 0.5 + np.array([-0.5, 0.5]) / np.sqrt(3.0)
    points = np.array(list(itertools.product(points_1d, repeat=ndim)))  # weights 1 / 2^d
    grads = _shape_gradients(points, offsets)  # (n_points, d, n_corners)
    return np.einsum("pai,pbj->abij", grads, grads) / len(points)


def centre_gradient(ndim: int) -> np.ndarray:
    """(d, 2^d): d_a u at the element centre = sum_j G[a, j] u_j (unit element)."""
    return _shape_gradients(np.full((1, ndim), 0.5), corner_offsets(ndim))[0]


def _shape_gradients(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Gradients of the Q1 shape functions phi_j = prod_a (x_a or 1 - x_a) at points."""
    ndim = offsets.shape[1]
    factor = np.where(offsets[None, :, :] == 1, points[:, None, :], 1.0 - points[:, None, :])
    slope = np.where(offsets == 1, 1.0, -1.0)  # (n_corners, d)
    grads = np.empty((len(points), ndim, len(offsets)))
    for a in range(ndim):
        others = np.prod(np.delete(factor, a, axis=2), axis=2)  # (n_points, n_corners)
        grads[:, a, :] = slope[None, :, a] * others
    return grads


# --------------------------------------------------------------------------- assembly


def build_fem_operator(case: Case, micro: Microstructure, props: Properties, *,
                       periodic_axes: tuple[int, ...] = ()) -> FemOperator:
    """Assemble the Q1 operator (vectorized over elements, corners and faces)."""
    grid = case.grid
    ndim, shape, h = grid.ndim, grid.shape, grid.voxel_size_m
    offsets = corner_offsets(ndim)
    n_corners = len(offsets)
    conducting = micro.conducting
    is_grain = micro.phase == Phase.GRAIN
    element_voxel = np.flatnonzero(conducting)
    element_of_voxel = np.full(shape, -1, dtype=np.int64)
    element_of_voxel[conducting] = np.arange(len(element_voxel))

    tensor_table, tensor_index = element_tensors(micro, props)

    region, backbone = node_regions(micro, props)
    slot_copy, n_copies = _corner_copies(region, backbone, periodic_axes)
    element_nodes = np.empty((len(element_voxel), n_corners), dtype=slot_copy.dtype)
    for j, omega in enumerate(offsets):  # the element's corner omega sees it in slot 1 - omega
        slot = int(np.flatnonzero((offsets == 1 - omega).all(axis=1))[0])
        window = tuple(slice(o, o + n) for o, n in zip(omega, shape))
        element_nodes[:, j] = slot_copy[slot][window][conducting]

    stiffness = (grid.voxel_volume_m3 / h**2) * np.einsum(
        "kab,abij->kij", tensor_table, reference_stiffness(ndim))
    gb = _gb_interfaces(micro, element_of_voxel, element_nodes, offsets,
                        props.gb_conductance_m2 * grid.face_area_m2 / 2 ** (ndim - 1))
    contact = _contacts(case, micro, element_of_voxel, element_nodes, offsets, tensor_table,
                        tensor_index, n_copies)
    del element_of_voxel, region, slot_copy
    return _eliminate_dirichlet(
        case, grid, element_voxel, element_nodes, tensor_index, tensor_table, n_copies,
        _couplings(element_nodes, tensor_index, stiffness, gb), gb, contact)


def _couplings(element_nodes, tensor_index, stiffness, gb) -> dict[str, np.ndarray]:
    """Every off-diagonal coupling once: copies "a", "b" and "value" (S, the stiffness entry):
    the element pairs (i < j, element-major), then the GB interface links (-conductance).

    Each array is allocated once (no per-element 2^d x 2^d temporary, no concatenation) and
    handed over in a dict, so that the consumer can free each as soon as it is used: at 2048^2
    these arrays are the peak memory of the FEM assembly.
    """
    n_elements, n_corners = element_nodes.shape
    pair_i, pair_j = np.triu_indices(n_corners, k=1)
    n_pairs = n_elements * len(pair_i)
    n_total = n_pairs + len(gb["copies"])
    out = {}
    for name, local, side in (("a", pair_i, 0), ("b", pair_j, 1)):
        copies = np.empty(n_total, dtype=element_nodes.dtype)
        np.take(element_nodes, local, axis=1, out=copies[:n_pairs].reshape(n_elements, -1))
        copies[n_pairs:] = gb["copies"][:, side]
        out[name] = copies
    value = np.empty(n_total)
    np.take(stiffness[:, pair_i, pair_j], tensor_index, axis=0,
            out=value[:n_pairs].reshape(n_elements, -1))
    value[n_pairs:] = -gb["conductance"]
    out["value"] = value
    return out


def node_regions(micro: Microstructure, props: Properties) -> tuple[np.ndarray, int | None]:
    """The region of every voxel for the node copies (grid shape, int32: the grain's row, the
    backbone as one more region, -1 where nothing conducts; all 0 when ``t_GB = 0``) and the
    backbone's region (None when ``t_GB = 0``). Copies follow grain ids, not tensor rows:
    per-voxel tensors add no GB."""
    n_grains = len(props.grain_tensor)
    conducting = micro.conducting
    gb_resistive = bool(np.isfinite(props.gb_conductance_m2))
    region = np.full(micro.labels.shape, -1, dtype=np.int32)
    if gb_resistive:
        region[conducting] = np.where(micro.phase == Phase.GRAIN, micro.grain_index,
                                      n_grains)[conducting]
    else:
        region[conducting] = 0
    return region, (n_grains if gb_resistive else None)


def _corner_copies(region: np.ndarray, backbone: int | None, periodic_axes) -> tuple:
    """Node copy of every (corner, surrounding-voxel slot): (2^d, *corner grid) int64, -1 where
    the slot's voxel does not conduct; and the number of copies.

    Slots around a corner share a copy when they are joined through a chain of slots that
    share a voxel face (slot offsets differing in one axis) and are equal regions, or one of
    them the backbone. Two voxels that touch only at the corner (or an edge, in 3D) do not
    share a node: no current flows through a point contact, as in the two-point scheme.
    Vectorized over corners; loops only over the face-adjacent slot pairs.
    """
    ndim = region.ndim
    offsets = corner_offsets(ndim)
    n_slots = len(offsets)
    padded = region
    for axis in range(ndim):
        if axis in periodic_axes:
            last = np.take(padded, [-1], axis=axis)
            first = np.take(padded, [0], axis=axis)
            padded = np.concatenate([last, padded, first], axis=axis)
        else:
            width = [(0, 0)] * ndim
            width[axis] = (1, 1)
            padded = np.pad(padded, width, constant_values=-1)
    corner_shape = tuple(n if a in periodic_axes else n + 1 for a, n in enumerate(region.shape))
    slots = np.stack([padded[tuple(slice(o, o + n) for o, n in zip(offset, corner_shape))]
                      for offset in offsets]).reshape(n_slots, -1)
    valid = slots >= 0
    rep = _join_face_adjacent_slots(slots, valid, offsets, backbone)
    key = np.arange(slots.shape[1])[None, :] * n_slots + rep
    used = np.zeros(slots.size, dtype=bool)
    used[key[valid]] = True
    copy_of_key = np.cumsum(used) - 1
    index_dtype = np.int32 if used.sum() < 2**31 - 1 else np.int64  # halves the pair arrays
    slot_copy = np.where(valid, copy_of_key[key], -1).astype(index_dtype)
    slot_copy = slot_copy.reshape((n_slots,) + corner_shape)
    for axis in periodic_axes:  # corner n is corner 0
        first = np.take(slot_copy, [0], axis=1 + axis)
        slot_copy = np.concatenate([slot_copy, first], axis=1 + axis)
    return slot_copy, int(used.sum())


def _join_face_adjacent_slots(slots, valid, offsets, backbone) -> np.ndarray:
    """Representative (smallest joined) slot per (slot, corner): slots are joined along pairs
    that share a voxel face, are both conducting and are the same region or touch the
    backbone; relaxation passes close the relation."""
    n_slots = len(offsets)
    pairs = [(s, t) for s in range(n_slots) for t in range(s + 1, n_slots)
             if np.abs(offsets[s] - offsets[t]).sum() == 1]
    joined = []
    for s, t in pairs:
        same = slots[s] == slots[t]
        if backbone is not None:
            same |= (slots[s] == backbone) | (slots[t] == backbone)
        joined.append(valid[s] & valid[t] & same)
    rep = np.repeat(np.arange(n_slots, dtype=np.int8)[:, None], slots.shape[1], axis=1)
    for _ in range(n_slots - 1):  # a joined set can be a path through all slots
        changed = False
        for (s, t), link in zip(pairs, joined):
            smaller = np.where(link, np.minimum(rep[s], rep[t]), rep[s])
            changed |= bool((smaller != rep[s]).any() | (smaller != rep[t])[link].any())
            rep[s] = smaller
            rep[t] = np.where(link, smaller, rep[t])
        if not changed:
            break
    return rep


def _face_corners(offsets: np.ndarray, axis: int, side: int) -> np.ndarray:
    """Local corners on the element face normal to ``axis`` on ``side`` (-1 / +1)."""
    return np.flatnonzero(offsets[:, axis] == (1 if side > 0 else 0))


def _gb_interfaces(micro, element_of_voxel, element_nodes, offsets, link_conductance) -> dict:
    """GB faces (sorted by axis, lower voxel) and their corner links (lower copy, upper copy)."""
    ndim = micro.labels.ndim
    is_grain = micro.phase == Phase.GRAIN
    voxels, axes, copies, face_of_link = [], [], [], []
    n_faces = 0
    for axis in range(ndim):
        lo, hi = face_slices(ndim, axis)
        gb = is_grain[lo] & is_grain[hi] & (micro.labels[lo] != micro.labels[hi])
        lower = np.ravel_multi_index(np.nonzero(gb), micro.labels.shape)  # sorted
        upper = lower + int(np.prod(micro.labels.shape[axis + 1:]))
        voxels.append(np.stack([lower, upper], axis=1))
        axes.append(np.full(len(lower), axis, dtype=np.int8))
        el_lo = element_of_voxel.ravel()[lower]
        el_hi = element_of_voxel.ravel()[upper]
        lower_corners = _face_corners(offsets, axis, +1)
        upper_corners = _face_corners(offsets, axis, -1)  # same order: only axis differs
        pair = np.stack([element_nodes[el_lo][:, lower_corners].ravel(),
                         element_nodes[el_hi][:, upper_corners].ravel()], axis=1)
        face = np.repeat(np.arange(len(lower)) + n_faces, len(lower_corners))
        distinct = pair[:, 0] != pair[:, 1]  # copies merged through the backbone: no interface
        copies.append(pair[distinct])
        face_of_link.append(face[distinct])
        n_faces += len(lower)
    copies, face_of_link = np.concatenate(copies), np.concatenate(face_of_link)
    resistive = np.isfinite(link_conductance)
    if not resistive:  # t_GB = 0: one node per corner, no interface links
        copies, face_of_link = copies[:0], face_of_link[:0]
    return {"voxels": np.concatenate(voxels), "axis": np.concatenate(axes), "copies": copies,
            "face": face_of_link,
            "conductance": np.full(len(copies), link_conductance if resistive else 0.0)}


def _contacts(case, micro, element_of_voxel, element_nodes, offsets, tensor_table,
              tensor_index, n_copies) -> dict:
    """Electrode contacts: Dirichlet electrode per copy (-1: none) and Robin links."""
    grid = case.grid
    ndim = grid.ndim
    element, electrode, axis, side = electrode_faces(case, micro, element_of_voxel)
    n_face_corners = 2 ** (ndim - 1)
    corners = np.stack([_face_corners(offsets, a, s) for a, s in
                        itertools.product(range(ndim), (-1, 1))])  # row 2 * axis + (side > 0)
    local = corners[2 * axis + (side > 0)]  # (n_faces, n_face_corners)
    copies = np.take_along_axis(element_nodes[element], local, axis=1)
    resistance_area = contact_resistance_area(
        case, electrode, tensor_table[tensor_index[element], axis, axis])
    dirichlet = resistance_area == 0
    copy_electrode = np.full(n_copies, np.iinfo(np.int64).max)
    np.minimum.at(copy_electrode, copies[dirichlet].ravel(),
                  np.repeat(electrode[dirichlet], n_face_corners))
    copy_electrode[copy_electrode == np.iinfo(np.int64).max] = -1
    claimed_last = np.full(n_copies, -1)
    np.maximum.at(claimed_last, copies[dirichlet].ravel(),
                  np.repeat(electrode[dirichlet], n_face_corners))
    shared = np.flatnonzero((claimed_last >= 0) & (claimed_last != copy_electrode))
    touching = sorted({(int(a), int(b)) for a, b in zip(copy_electrode[shared],
                                                        claimed_last[shared])})
    robin = ~dirichlet
    g = grid.face_area_m2 / n_face_corners / resistance_area[robin]
    return {"copy_electrode": copy_electrode, "face_electrode": electrode, "touching": touching,
            "robin_copy": copies[robin].ravel(),
            "robin_electrode": np.repeat(electrode[robin], n_face_corners),
            "robin_conductance": np.repeat(g, n_face_corners)}


def _eliminate_dirichlet(case, grid, element_voxel, element_nodes, tensor_index, tensor_table,
                         n_copies, couplings, gb, contact) -> FemOperator:
    """The operator of the assembled couplings (:func:`_couplings`, consumed) with the
    Dirichlet copies eliminated (:func:`~.assembly.eliminate_dirichlet`)."""
    n_e = len(case.electrodes)
    reduced = eliminate_dirichlet(n_e, n_copies, couplings, contact["copy_electrode"],
                                  contact["robin_copy"], contact["robin_electrode"],
                                  contact["robin_conductance"])
    return FemOperator(
        shape=grid.shape, voxel_size_m=grid.voxel_size_m, voxel_volume_m3=grid.voxel_volume_m3,
        face_area_m2=grid.face_area_m2, element_voxel=element_voxel,
        element_nodes=element_nodes, element_tensor_index=tensor_index,
        tensor_table=tensor_table, copy_unknown=reduced.dof_unknown.astype(element_nodes.dtype),
        copy_electrode=contact["copy_electrode"],
        matrix=reduced.matrix, electrode_link_node=reduced.electrode_link_node,
        electrode_link_electrode=reduced.electrode_link_electrode,
        electrode_link_conductance=reduced.electrode_link_conductance,
        electrode_coupling=reduced.electrode_coupling,
        gb_face_voxels=gb["voxels"], gb_face_axis=gb["axis"], gb_link_copies=gb["copies"],
        gb_link_face=gb["face"], gb_link_conductance=gb["conductance"],
        robin_copy=contact["robin_copy"], robin_electrode=contact["robin_electrode"],
        robin_conductance=contact["robin_conductance"],
        contact_face_electrode=contact["face_electrode"], n_electrodes=n_e,
        touching_electrodes=tuple(contact["touching"]))


# --------------------------------------------------------------------------- fields


def compute_fem_fields(op: FemOperator, solution: NetworkSolution,
                       electrode_index: np.ndarray | None = None) -> Fields:
    """Voxel fields at the element centres and the GB face currents/jumps of the FEM solution.

    potential = mean of the element's corner potentials; E = -grad u at the centre; J = S E with
    the full tensor. GB face current = sum of the face's interface links (+ lower -> upper),
    jump = mean over its corners of (lower-side - upper-side potential). Without GB resistance
    (t_GB = 0) the face current is the face area times the mean normal J of the two voxels and
    the jump is 0. Joule power = sum of the element energies u^T K_e u + interface and contact
    links. The two-point link arrays (``link_current``, ``gb_potential_jump``) are empty.
    """
    ndim = op.ndim
    h = op.voxel_size_m
    u = op.copy_potential(solution)
    element_floating = op.element_floating(solution.floating)
    corner_u = u[op.element_nodes]
    corner_u[element_floating] = np.nan
    tensor = op.tensor_table[op.element_tensor_index]
    field = -(corner_u @ centre_gradient(ndim).T) / h
    current = np.einsum("eab,eb->ea", tensor, field)

    safe_u = np.nan_to_num(corner_u)
    stiffness = (op.voxel_volume_m3 / h**2) * np.einsum(
        "kab,abij->kij", op.tensor_table, reference_stiffness(ndim))
    energy = 0.0
    n_corners = corner_u.shape[1]
    for i in range(n_corners):  # loop over the 2^d x 2^d local entries, vectorized over elements
        for j in range(n_corners):
            energy += float(np.sum(safe_u[:, i] * safe_u[:, j]
                                   * stiffness[op.element_tensor_index, i, j]))
    gb_drop = u[op.gb_link_copies[:, 0]] - u[op.gb_link_copies[:, 1]]
    gb_drop = np.nan_to_num(gb_drop)
    robin_drop = np.nan_to_num(solution.electrode_potential[op.robin_electrode] - u[op.robin_copy])
    joule = energy + float(np.sum(op.gb_link_conductance * gb_drop**2)
                           + np.sum(op.robin_conductance * robin_drop**2))

    e_current = op.electrode_link_conductance * (
        solution.electrode_potential[op.electrode_link_electrode]
        - solution.node_potential[op.electrode_link_node])

    potential, current_density, electric_field = voxel_grids(
        op.shape, op.element_voxel, corner_u.mean(axis=1), current, field, solution,
        electrode_index)

    n_faces = len(op.gb_face_axis)
    face_voxels = op.gb_face_voxels
    element_of_voxel = np.full(int(np.prod(op.shape)), -1, dtype=np.int64)
    element_of_voxel[op.element_voxel] = np.arange(op.n_elements)
    lower_floating = element_floating[element_of_voxel[face_voxels[:, 0]]]
    if op.n_gb_links:
        face_current = np.bincount(op.gb_link_face, op.gb_link_conductance * gb_drop, n_faces)
        per_face = np.bincount(op.gb_link_face, minlength=n_faces)
        face_jump = np.bincount(op.gb_link_face, gb_drop, n_faces) / np.maximum(per_face, 1)
    else:
        flat_j = current_density.reshape(-1, ndim)
        axis = op.gb_face_axis.astype(np.int64)
        normal_j = 0.5 * (flat_j[face_voxels[:, 0], axis] + flat_j[face_voxels[:, 1], axis])
        face_current = np.nan_to_num(normal_j) * op.face_area_m2
        face_jump = np.zeros(n_faces)
    keep = ~lower_floating
    return Fields(
        potential=potential, current_density=current_density, electric_field=electric_field,
        link_current=np.zeros(0), electrode_link_current=e_current,
        gb_potential_jump=np.zeros(0), joule_power_W=joule,
        gb_face_voxels=face_voxels[keep], gb_face_axis=op.gb_face_axis[keep],
        gb_face_current=face_current[keep], gb_face_jump=face_jump[keep])


def _scatter(element_voxel, values, shape, fill):
    """Per-element values onto the voxel grid (grid shape [+ value shape])."""
    values = np.asarray(values)
    out = np.full((int(np.prod(shape)),) + values.shape[1:], fill, dtype=values.dtype)
    out[element_voxel] = values
    return out.reshape(tuple(shape) + values.shape[1:])

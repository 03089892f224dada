"""Hybridized RT0 mixed elements on a 2:1-balanced quadtree of sub-voxels (2D): the dual
(lower-bound, conservative) solution of an adaptively refined certified solve.

The same element as :mod:`netsolve.discretization.mixed`, with one face potential per
*segment* (:class:`~.quadtree.Segments`): a leaf side that meets two finer leaves carries two
segments, and the coarse leaf sees their mean as its side's potential, ``lambda_side = W
lambda`` with weights 1/2, 1/2; its local matrix becomes ``W^T A_K W``. The continuity equation
of each segment then asks that the fine leaf's flux through it equals half of the coarse
leaf's flux through the whole side, so the normal flux is continuous point by point (the flux
is in H(div): the lower bound holds on the refined mesh too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from ..case import Case
from ..discretization.assembly import MatrixOperator, dof_values, eliminate_dirichlet
from ..discretization.mixed import element_matrices
from ..fields import Fields, voxel_grids
from ..microstructure import Microstructure, Phase
from ..solve import NetworkSolution
from .quadtree import FINE, Quadtree, Segments
from .tree_common import TreeMaterial, contact_sides, joined


@dataclass(frozen=True)
class TreeMixedOperator(MatrixOperator):
    """Mixed RT0 on a quadtree in the solve contract (unknowns: the free segment potentials)."""

    shape: tuple[int, int]
    voxel_size_m: float
    thickness_m: float
    tree: Quadtree
    segs: Segments
    leaf_dofs: np.ndarray  # (n_leaves, 4, 2) dof of each side's segments (-1: none)
    leaf_weights: np.ndarray  # (n_leaves, 4, 2) their weights in the side potential
    leaf_tensor: np.ndarray  # (n_leaves,) row of the tables
    tensor_table: np.ndarray  # (n_tensors, 2, 2) S/m
    local_matrix: np.ndarray  # (n_tensors, 4, 4) S (2D: the same at every level)
    potential_weights: np.ndarray  # (n_tensors, 4)
    mass_matrix: np.ndarray  # (n_tensors, 4, 4) ohm
    segment_dofs: np.ndarray  # (n_segments, 2) lower-side / upper-side dof
    segment_conductance: np.ndarray  # (n_segments,) S, GB resistor; inf without
    dof_unknown: np.ndarray
    dof_electrode: np.ndarray
    robin_dof: np.ndarray
    robin_electrode: np.ndarray
    robin_conductance: np.ndarray  # S
    robin_leaf: np.ndarray  # the leaf and side of every contact with a resistance
    robin_side: np.ndarray
    matrix: sp.csr_matrix
    electrode_link_node: np.ndarray
    electrode_link_electrode: np.ndarray
    electrode_link_conductance: np.ndarray
    electrode_coupling: np.ndarray
    contact_face_electrode: np.ndarray
    n_electrodes: int
    voxel_grain: np.ndarray  # (n_voxels,) grain label of every voxel of the map, 0 elsewhere
    discretization: ClassVar[str] = "mixed"
    # "auto" solves 2D systems directly up to this size: root-node AMG needs 200-250 CG
    # iterations on the hybridized face system at 1000:1, 40-60 at 100:1, but SuperLU's fill
    # grows faster (CPU s, 1000:1: 100k unknowns 2.3 AMG / 2.7 direct, 205k 3.6 / 7.4-9.1;
    # 100:1, 205k: 1.4-2.7 / 8.0-9.0; docs/performance.md)
    direct_max_unknowns: ClassVar[dict] = {2: 100_000}
    amg_hierarchy: ClassVar[str] = "rootnode"

    def dof_potential(self, solution: NetworkSolution) -> np.ndarray:
        return dof_values(self.dof_unknown, self.dof_electrode, solution)

    def initial_guess(self, primal, primal_solution: NetworkSolution) -> np.ndarray:
        """The unknowns (V, relative to the solve's offset) from a Q1 solution on the same
        tree (:class:`~.tree_q1.TreeQ1Operator`): every segment potential the mean of the Q1
        trace of its side's leaf along the segment. An initial guess for an iterative solve."""
        from .tree_q1 import _trace

        u_copy = np.nan_to_num(primal.copy_potential(primal_solution))
        segs, tree = self.segs, self.tree
        side_value = []
        for leaf, upper_side in ((segs.lower, 1), (segs.upper, 0)):
            total = np.zeros(segs.n)
            for end in (0, 1):
                copies, weights = _trace(tree, primal.leaf_copies, segs, leaf, upper_side, end)
                total += 0.5 * (u_copy[copies] * weights).sum(axis=1)
            side_value.append(total)
        lower, upper = side_value
        lam = np.zeros(len(self.dof_unknown))
        lam[self.segment_dofs[:, 0]] = np.where(segs.lower >= 0, lower, upper)
        resistive = self.segment_dofs[:, 1] != self.segment_dofs[:, 0]
        lam[self.segment_dofs[resistive, 1]] = upper[resistive]
        guess = np.zeros(self.matrix.shape[0])
        free = self.dof_unknown >= 0
        guess[self.dof_unknown[free]] = lam[free]
        return guess

    def side_potential(self, solution: NetworkSolution) -> np.ndarray:
        """(n_leaves, 4) potential of each leaf side (V, relative to the offset)."""
        lam = self.dof_potential(solution)
        values = lam[np.maximum(self.leaf_dofs, 0)] * self.leaf_weights
        return values.sum(axis=2)

    def leaf_fluxes(self, solution: NetworkSolution) -> np.ndarray:
        """(n_leaves, 4) outward flux through each leaf side (A); NaN rows when floating."""
        flux = -np.einsum("kij,kj->ki", self.local_matrix[self.leaf_tensor],
                          self.side_potential(solution))
        flux[self.leaf_floating(solution.floating)] = np.nan
        return flux

    def leaf_floating(self, node_floating: np.ndarray) -> np.ndarray:
        floating = np.zeros(len(self.dof_unknown), dtype=bool)
        free = self.dof_unknown >= 0
        floating[free] = node_floating[self.dof_unknown[free]]
        return (floating[np.maximum(self.leaf_dofs, 0)] & (self.leaf_dofs >= 0)).any(axis=(1, 2))

    def floating_voxels(self, node_floating: np.ndarray) -> np.ndarray:
        out = np.zeros(int(np.prod(self.shape)), dtype=bool)
        out[self.tree.root_voxel[self.leaf_floating(node_floating)]] = True
        return out.reshape(self.shape)

    def dissipation(self, solution: NetworkSolution) -> float:
        """W: sum of F.M.F over the leaves + GB resistors + contact resistances (W)."""
        flux = np.nan_to_num(self.leaf_fluxes(solution))
        power = float(np.einsum("ki,kij,kj->", flux, self.mass_matrix[self.leaf_tensor], flux))
        lam = np.nan_to_num(self.dof_potential(solution))
        resistive = np.isfinite(self.segment_conductance)
        drop = lam[self.segment_dofs[resistive, 0]] - lam[self.segment_dofs[resistive, 1]]
        power += float(np.sum(self.segment_conductance[resistive] * drop**2))
        contact = solution.electrode_potential[self.robin_electrode] - lam[self.robin_dof]
        return power + float(np.sum(self.robin_conductance * contact**2))

    @property
    def n_gb_links(self) -> int:
        return int(np.isfinite(self.segment_conductance).sum())

    def fields(self, solution: NetworkSolution, props=None,
               electrode_index: np.ndarray | None = None) -> Fields:
        return tree_mixed_fields(self, solution, electrode_index)


def build_tree_mixed(case: Case, micro: Microstructure, tree: Quadtree, material: TreeMaterial,
                     segs: Segments) -> TreeMixedOperator:
    grid = case.grid
    t = grid.thickness_m
    n_e = len(case.electrodes)
    mass, local, weights = element_matrices(material.tensor_table, grid.voxel_size_m,
                                            grid.face_area_m2)
    resistive = _resistive(segs, material)
    n_seg = segs.n
    second = np.arange(n_seg)
    second[resistive] = n_seg + np.arange(int(resistive.sum()))
    n_dofs = n_seg + int(resistive.sum())
    segment_dofs = np.stack([np.arange(n_seg), second], axis=1)

    leaf_dofs = np.full((tree.n_leaves, 4, 2), -1, dtype=np.int64)
    leaf_weights = np.zeros((tree.n_leaves, 4, 2))
    for side in range(4):
        pieces = segs.of_side[side]
        split = pieces[:, 1] >= 0
        column = 0 if side % 2 else 1  # the + side of a leaf is its segment's lower side
        for part in (0, 1):
            ok = pieces[:, part] >= 0
            leaf_dofs[ok, side, part] = segment_dofs[pieces[ok, part], column]
        leaf_weights[:, side, 0] = np.where(split, 0.5, 1.0)
        leaf_weights[:, side, 1] = np.where(split, 0.5, 0.0)

    slot_dofs = leaf_dofs.reshape(tree.n_leaves, 8)
    slot_weights = leaf_weights.reshape(tree.n_leaves, 8)
    slot_side = np.repeat(np.arange(4), 2)
    pair_i, pair_j = np.triu_indices(8, k=1)
    a_leaf = local[material.leaf_tensor]  # (n, 4, 4)
    a, b, value = [], [], []
    for i, j in zip(pair_i, pair_j):
        ok = (slot_dofs[:, i] >= 0) & (slot_dofs[:, j] >= 0)
        a.append(slot_dofs[ok, i])
        b.append(slot_dofs[ok, j])
        value.append(slot_weights[ok, i] * slot_weights[ok, j]
                     * a_leaf[ok, slot_side[i], slot_side[j]])
    g_seg = np.full(n_seg, np.inf)
    g_seg[resistive] = material.gb_conductance_m2 * segs.length[resistive] * (
        grid.voxel_size_m / FINE) * t
    a.append(segment_dofs[resistive, 0])
    b.append(segment_dofs[resistive, 1])
    value.append(-g_seg[resistive])

    contacts = contact_sides(tree, case, micro, material)
    contact_segment = np.stack(segs.of_side)[contacts["side"], contacts["leaf"], 0]
    # a contact side is whole and has no leaf beyond it: its segment has one dof
    contact_dof = segment_dofs[contact_segment, 0]
    dirichlet = contacts["resistance_area"] == 0
    dof_electrode = np.full(n_dofs, -1, dtype=np.int64)
    dof_electrode[contact_dof[dirichlet]] = contacts["electrode"][dirichlet]
    robin = ~dirichlet
    length = tree.size[contacts["leaf"]] * (grid.voxel_size_m / FINE)
    robin_g = length[robin] * t / contacts["resistance_area"][robin]
    couplings = {"a": np.concatenate(a), "b": np.concatenate(b), "value": np.concatenate(value)}
    system = eliminate_dirichlet(n_e, n_dofs, couplings, dof_electrode, contact_dof[robin],
                                 contacts["electrode"][robin], robin_g)
    return TreeMixedOperator(
        shape=tree.shape, voxel_size_m=grid.voxel_size_m, thickness_m=t, tree=tree, segs=segs,
        leaf_dofs=leaf_dofs, leaf_weights=leaf_weights, leaf_tensor=material.leaf_tensor,
        tensor_table=material.tensor_table, local_matrix=local, potential_weights=weights,
        mass_matrix=mass, segment_dofs=segment_dofs, segment_conductance=g_seg,
        dof_unknown=system.dof_unknown, dof_electrode=dof_electrode,
        robin_dof=contact_dof[robin], robin_electrode=contacts["electrode"][robin],
        robin_conductance=robin_g, robin_leaf=contacts["leaf"][robin],
        robin_side=contacts["side"][robin], matrix=system.matrix,
        electrode_link_node=system.electrode_link_node,
        electrode_link_electrode=system.electrode_link_electrode,
        electrode_link_conductance=system.electrode_link_conductance,
        electrode_coupling=system.electrode_coupling,
        contact_face_electrode=contacts["electrode"], n_electrodes=n_e,
        voxel_grain=np.where(micro.phase == Phase.GRAIN, micro.labels, 0).ravel())


def _resistive(segs: Segments, material: TreeMaterial) -> np.ndarray:
    """Segments between two leaves of different grains with a GB resistor."""
    both = (segs.lower >= 0) & (segs.upper >= 0)
    out = both & np.isfinite(material.gb_conductance_m2)
    lo, up = np.maximum(segs.lower, 0), np.maximum(segs.upper, 0)
    out &= (material.leaf_grain[lo] > 0) & (material.leaf_grain[up] > 0)
    out[out] = ~joined(material, segs.lower[out], segs.upper[out])
    return out


def tree_mixed_fields(op: TreeMixedOperator, solution: NetworkSolution,
                      electrode_index: np.ndarray | None = None) -> Fields:
    """Fields on the user's voxel grid: area-weighted means of the leaves' potential, J and
    E in every voxel; the GB faces of the voxel map with the sum of their segments' fluxes and
    the length-weighted mean jump (see :func:`netsolve.discretization.mixed.compute_mixed_fields`
    for the definitions on one voxel)."""
    tree = op.tree
    side_lam = op.side_potential(solution)
    floating = op.leaf_floating(solution.floating)
    flux = -np.einsum("kij,kj->ki", op.local_matrix[op.leaf_tensor], side_lam)
    flux[floating] = np.nan
    cell_u = np.einsum("ki,ki->k", op.potential_weights[op.leaf_tensor], side_lam)
    cell_u[floating] = np.nan
    side_area = tree.size * (op.voxel_size_m / FINE) * op.thickness_m
    current = (flux[:, 1::2] - flux[:, 0::2]) / (2.0 * side_area[:, None])
    resistivity = np.linalg.inv(op.tensor_table)[op.leaf_tensor]
    field = np.einsum("kab,kb->ka", resistivity, current)

    n_vox = int(np.prod(op.shape))
    fraction = (tree.size / FINE) ** 2.0
    root = tree.root_voxel
    voxels = np.unique(root)
    index = np.searchsorted(voxels, root)

    def voxel_mean(values):
        out = np.zeros((len(voxels),) + values.shape[1:])
        np.add.at(out, index, values * fraction.reshape((-1,) + (1,) * (values.ndim - 1)))
        return out

    potential, current_density, electric_field = voxel_grids(
        op.shape, voxels, voxel_mean(cell_u), voxel_mean(current), voxel_mean(field), solution,
        electrode_index)

    segs = op.segs
    lam = op.dof_potential(solution)
    drop = np.where(np.isfinite(op.segment_conductance),
                    lam[op.segment_dofs[:, 0]] - lam[op.segment_dofs[:, 1]], 0.0)
    faces = _voxel_gb_faces(op)
    hit = faces["segment_face"] >= 0
    n_faces = len(faces["axis"])
    length = segs.length.astype(float)
    face_current = np.bincount(faces["segment_face"][hit], _segment_flux(op, flux)[hit], n_faces)
    face_length = np.bincount(faces["segment_face"][hit], length[hit], n_faces)
    face_jump = np.bincount(faces["segment_face"][hit], (drop * length)[hit], n_faces) \
        / np.maximum(face_length, 1.0)
    joule = op.dissipation(solution)
    e_current = op.electrode_link_conductance * (
        solution.electrode_potential[op.electrode_link_electrode]
        - solution.node_potential[op.electrode_link_node])
    keep = np.isfinite(face_current)
    return Fields(
        potential=potential, current_density=current_density, electric_field=electric_field,
        link_current=np.zeros(0), electrode_link_current=e_current,
        gb_potential_jump=np.zeros(0), joule_power_W=joule,
        gb_face_voxels=faces["voxels"][keep], gb_face_axis=faces["axis"][keep],
        gb_face_current=face_current[keep], gb_face_jump=face_jump[keep])


def _segment_flux(op: TreeMixedOperator, flux: np.ndarray) -> np.ndarray:
    """Flux through every segment from its lower to its upper leaf (A): the mean of the two
    leaves' shares (they agree to the solver residual); NaN with a floating side."""
    segs = op.segs
    total = np.zeros(segs.n)
    count = np.zeros(segs.n)
    for side in range(4):
        pieces = op.segs.of_side[side]
        sign = 1.0 if side % 2 else -1.0  # outward through the + side = lower -> upper
        for part in (0, 1):
            ok = pieces[:, part] >= 0
            share = op.leaf_weights[ok, side, part] * flux[ok, side] * sign
            np.add.at(total, pieces[ok, part], share)
            np.add.at(count, pieces[ok, part], 1.0)
    return total / np.maximum(count, 1.0)


def _voxel_gb_faces(op: TreeMixedOperator) -> dict:
    """The voxel faces between two different grains (sorted by axis, then lower voxel, as in
    :class:`~netsolve.fields.Fields`) and the face of every segment on one (-1: none)."""
    nx, ny = op.shape
    segs = op.segs
    root = op.tree.root_voxel
    both = (segs.lower >= 0) & (segs.upper >= 0) & (segs.pos % FINE == 0)
    lo_voxel = np.where(both, root[np.maximum(segs.lower, 0)], 0)
    up_voxel = np.where(both, root[np.maximum(segs.upper, 0)], 0)
    grain_lo, grain_up = op.voxel_grain[lo_voxel], op.voxel_grain[up_voxel]
    ok = both & (grain_lo > 0) & (grain_up > 0) & (grain_lo != grain_up)
    axis = segs.axis.astype(np.int64)
    key = axis * (nx * ny) + lo_voxel
    keys = np.unique(key[ok])
    axes = keys // (nx * ny)
    lower = keys % (nx * ny)
    upper = lower + np.where(axes == 0, ny, 1)
    segment_face = np.full(segs.n, -1, dtype=np.int64)
    segment_face[ok] = np.searchsorted(keys, key[ok])
    return {"voxels": np.stack([lower, upper], axis=1), "axis": axes.astype(np.int8),
            "segment_face": segment_face}

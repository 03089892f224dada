"""Q1 finite elements on a 2:1-balanced quadtree of sub-voxels (2D): the primal (upper-bound)
solution of an adaptively refined certified solve.

The same discretization as :mod:`netsolve.discretization.q1` (bilinear elements with the leaf's
full tensor, GB interface elements lumped to the segment ends, Dirichlet or Robin contacts),
made conforming across refinement levels: a node in the middle of a coarser leaf's edge
(*hanging*) takes the mean of that edge's two end values whenever the two leaves share
potentials (same grain, or the backbone); across a grain boundary it is a free node of the
finer side, and the interface term compares it with the coarse side's linear trace. The space
is a subspace of the continuous one, so its energy stays an upper bound.

Node *copies* are per region (as on the voxel grid): one per (node, group of joined voxels
around it). Electrodes get one copy each, held at their potential, so that every term (contact
resistances included) is a quadratic form over copies; a prolongation ``T`` maps the free
(unconstrained) copies to all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from ..case import Case
from ..discretization.assembly import MatrixOperator, dof_values, eliminate_dirichlet
from ..discretization.q1 import _corner_copies, corner_offsets, reference_stiffness
from ..microstructure import Microstructure
from ..solve import NetworkSolution
from .quadtree import FINE, MAX_LEVEL, Quadtree, Segments
from .tree_common import TreeMaterial, contact_sides, joined, leaf_side_corners

OFFSETS = corner_offsets(2)  # local corner j at (ox, oy) = OFFSETS[j], j = 2 ox + oy


@dataclass(frozen=True)
class TreeQ1Operator(MatrixOperator):
    """Q1 on a quadtree, in the solve stage's operator contract (unknowns: the free copies)."""

    shape: tuple[int, int]
    tree: Quadtree
    leaf_copies: np.ndarray  # (n_leaves, 4) copy of each local corner
    prolongation: sp.csr_matrix  # (n_copies + n_e, n_reduced): all copies from the reduced ones
    copy_matrix: sp.csr_matrix  # the quadratic form over all copies (+ electrode copies), S
    reduced_unknown: np.ndarray  # (n_reduced,) unknown index, -1 for electrode-held copies
    reduced_electrode: np.ndarray  # (n_reduced,) electrode of held copies, -1 elsewhere
    reduced_copy: np.ndarray  # (n_reduced,) the copy of every reduced unknown
    matrix: sp.csr_matrix
    electrode_link_node: np.ndarray
    electrode_link_electrode: np.ndarray
    electrode_link_conductance: np.ndarray
    electrode_coupling: np.ndarray
    contact_face_electrode: np.ndarray
    n_electrodes: int
    discretization: ClassVar[str] = "fem"
    amg_hierarchy: ClassVar[str] = "rootnode"

    def reduced_potential(self, solution: NetworkSolution) -> np.ndarray:
        return dof_values(self.reduced_unknown, self.reduced_electrode, solution)

    def copy_potential(self, solution: NetworkSolution) -> np.ndarray:
        """Potential of every copy (V, relative to the solution's offset); the electrodes'
        copies last."""
        return self.prolongation @ self.reduced_potential(solution)

    def initial_guess(self, coarser: Quadtree, corner_potential: np.ndarray) -> np.ndarray:
        """The unknowns (V, relative to the solve's offset) of a Q1 potential given on a
        ``coarser`` tree that this tree refines, by its ``corner_potential`` per leaf corner
        (n_coarser, 4): the same function, bilinear in every coarser leaf (the spaces are
        nested), so the initial guess of a solve on this tree."""
        tree = self.tree
        ancestor = coarser.covering_leaf(tree.x0, tree.y0)
        missing = ancestor < 0  # not expected: every leaf lies in a leaf of the coarser tree
        ancestor = np.maximum(ancestor, 0)
        a_size = coarser.size[ancestor].astype(float)
        values = np.zeros((tree.n_leaves, 4))
        u = corner_potential[ancestor]
        for j, (ox, oy) in enumerate(OFFSETS):
            s = (tree.x0 + ox * tree.size - coarser.x0[ancestor]) / a_size
            t = (tree.y0 + oy * tree.size - coarser.y0[ancestor]) / a_size
            values[:, j] = ((1 - s) * (1 - t) * u[:, 0] + (1 - s) * t * u[:, 1]
                            + s * (1 - t) * u[:, 2] + s * t * u[:, 3])
        values[missing] = 0.0
        copy_value = np.zeros(self.prolongation.shape[0])
        copy_value[self.leaf_copies] = values  # copies shared by leaves agree (one function)
        guess = np.zeros(self.matrix.shape[0])
        free = self.reduced_unknown >= 0
        guess[self.reduced_unknown[free]] = copy_value[self.reduced_copy[free]]
        return guess

    def energy(self, solution: NetworkSolution) -> float:
        """E(u_h) = u^T A u over all copies (W): elements, GB interfaces, contacts."""
        u = np.nan_to_num(self.copy_potential(solution))
        return float(u @ (self.copy_matrix @ u))

    def leaf_floating(self, node_floating: np.ndarray) -> np.ndarray:
        floating = np.zeros(len(self.reduced_unknown))
        free = self.reduced_unknown >= 0
        floating[free] = node_floating[self.reduced_unknown[free]]
        copy_floating = (abs(self.prolongation) @ floating) > 0
        return copy_floating[self.leaf_copies].any(axis=1)

    def floating_voxels(self, node_floating: np.ndarray) -> np.ndarray:
        out = np.zeros(int(np.prod(self.shape)), dtype=bool)
        out[self.tree.root_voxel[self.leaf_floating(node_floating)]] = True
        return out.reshape(self.shape)


def build_tree_q1(case: Case, micro: Microstructure, tree: Quadtree, material: TreeMaterial,
                  segs: Segments) -> TreeQ1Operator:
    grid = case.grid
    thickness = grid.thickness_m
    n_e = len(case.electrodes)
    leaf_copies, n_copies = _leaf_copies(tree, micro, material)
    parents = _hanging_parents(tree, material, leaf_copies)
    contacts = contact_sides(tree, case, micro, material)

    rows, cols, vals = [], [], []
    # elements: t * sum_ab S_ab M_ab (2D stiffness is scale-free)
    stiffness = thickness * np.einsum("kab,abij->kij", material.tensor_table,
                                      reference_stiffness(2))[material.leaf_tensor]
    rows.append(np.repeat(leaf_copies, 4, axis=1).ravel())
    cols.append(np.tile(leaf_copies, (1, 4)).ravel())
    vals.append(stiffness.reshape(len(leaf_copies), 16).ravel())
    # GB interfaces, lumped to the two segment ends: g (jump)^2 with the traces of both sides
    resistive = ((segs.lower >= 0) & (segs.upper >= 0) & np.isfinite(material.gb_conductance_m2))
    resistive[resistive] = ~joined(material, segs.lower[resistive], segs.upper[resistive])
    resistive &= (material.leaf_grain[np.maximum(segs.lower, 0)] > 0) \
        & (material.leaf_grain[np.maximum(segs.upper, 0)] > 0)
    g_end = material.gb_conductance_m2 * segs.length * (grid.voxel_size_m / FINE) * thickness / 2
    for end in (0, 1):
        lo_c, lo_w = _trace(tree, leaf_copies, segs, segs.lower, 1, end)
        up_c, up_w = _trace(tree, leaf_copies, segs, segs.upper, 0, end)
        c = np.concatenate([lo_c, up_c], axis=1)[resistive]
        w = np.concatenate([lo_w, -up_w], axis=1)[resistive]
        _add_rank_one(rows, cols, vals, c, w, g_end[resistive])
    # contacts: Dirichlet copies, and Robin terms g (u - V_k)^2 through the electrode's copy
    side_corners = np.array([leaf_side_corners(s) for s in range(4)])
    corners = leaf_copies[contacts["leaf"][:, None], side_corners[contacts["side"]]]  # (m, 2)
    side_length = tree.size[contacts["leaf"]] * (grid.voxel_size_m / FINE)
    robin = contacts["resistance_area"] > 0
    for k in range(2):
        c = np.stack([corners[robin, k], n_copies + contacts["electrode"][robin]], axis=1)
        w = np.tile([1.0, -1.0], (int(robin.sum()), 1))
        g = side_length[robin] * thickness / 2 / contacts["resistance_area"][robin]
        _add_rank_one(rows, cols, vals, c, w, g)
    size = n_copies + n_e
    copy_matrix = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                        np.concatenate(cols))), shape=(size, size))
    copy_electrode = np.full(size, np.iinfo(np.int64).max)
    dirichlet = ~robin
    np.minimum.at(copy_electrode, corners[dirichlet].ravel(),
                  np.repeat(contacts["electrode"][dirichlet], 2))
    copy_electrode[n_copies:] = np.arange(n_e)
    copy_electrode[copy_electrode == np.iinfo(np.int64).max] = -1
    copy_electrode[parents["child"]] = -1  # a hanging copy follows its parents
    prolongation, reduced_of_copy = _prolongation(size, parents)
    reduced_electrode = copy_electrode[np.flatnonzero(reduced_of_copy >= 0)]
    reduced = (prolongation.T @ copy_matrix @ prolongation).tocoo()
    upper = reduced.row < reduced.col
    couplings = {"a": reduced.row[upper].astype(np.int64), "b": reduced.col[upper].astype(np.int64),
                 "value": reduced.data[upper]}
    empty = np.zeros(0, dtype=np.int64)
    system = eliminate_dirichlet(n_e, prolongation.shape[1], couplings, reduced_electrode, empty,
                                 empty, np.zeros(0))
    return TreeQ1Operator(
        shape=tree.shape, tree=tree, leaf_copies=leaf_copies, prolongation=prolongation,
        copy_matrix=copy_matrix, reduced_unknown=system.dof_unknown,
        reduced_electrode=reduced_electrode, reduced_copy=np.flatnonzero(reduced_of_copy >= 0),
        matrix=system.matrix,
        electrode_link_node=system.electrode_link_node,
        electrode_link_electrode=system.electrode_link_electrode,
        electrode_link_conductance=system.electrode_link_conductance,
        electrode_coupling=system.electrode_coupling,
        contact_face_electrode=contacts["electrode"], n_electrodes=n_e)


def _add_rank_one(rows, cols, vals, copies, weights, g) -> None:
    """Add g (w . u_copies)^2 for every row: copies and weights (m, k), g (m,)."""
    k = copies.shape[1]
    rows.append(np.repeat(copies, k, axis=1).ravel())
    cols.append(np.tile(copies, (1, k)).ravel())
    vals.append((g[:, None, None] * weights[:, :, None] * weights[:, None, :]).ravel())


def _trace(tree, leaf_copies, segs, leaf, upper_side: int, end: int):
    """The linear trace of ``leaf`` (one per segment; its side 2 axis + upper_side) at the
    segment's start (end 0) or end (end 1): two copies and weights (a corner: 1, 0; the middle
    of the side: 1/2, 1/2). Zeros where the leaf is -1."""
    safe = np.maximum(leaf, 0)
    side = 2 * segs.axis + upper_side
    corners = np.array([leaf_side_corners(s) for s in range(4)])[side]  # (m, 2)
    a = leaf_copies[safe, corners[:, 0]]
    b = leaf_copies[safe, corners[:, 1]]
    along = np.where(segs.axis == 0, tree.y0[safe], tree.x0[safe])
    point = segs.start + end * segs.length
    t = (point - along) / tree.size[safe]  # 0, 1/2 or 1 along the leaf side
    weights = np.stack([1.0 - t, t], axis=1)
    weights[leaf < 0] = 0.0
    return np.stack([a, b], axis=1), weights


def _leaf_copies(tree: Quadtree, micro: Microstructure, material: TreeMaterial):
    """Copy of every leaf corner, (n_leaves, 4), and the number of copies (the rules of
    :func:`node_keys`)."""
    slot_copy, _ = _corner_copies(material.region_grid, material.backbone, ())
    size = tree.size
    vx, vy = tree.x0 >> MAX_LEVEL, tree.y0 >> MAX_LEVEL
    keys = np.stack([node_keys(material, slot_copy, vx, vy, tree.x0 + ox * size,
                               tree.y0 + oy * size, FINE, 33) for ox, oy in OFFSETS], axis=1)
    unique, index = np.unique(keys, return_inverse=True)
    return index.reshape(keys.shape).astype(np.int64), len(unique)


def node_keys(material: TreeMaterial, slot_copy: np.ndarray, vx: np.ndarray, vy: np.ndarray,
              X: np.ndarray, Y: np.ndarray, step: int, shift: int) -> np.ndarray:
    """One int64 per node copy at lattice coordinates (X, Y) (``step`` lattice units a voxel)
    of the leaves in voxels (vx, vy): equal for the leaves whose nodes coincide and share
    potentials. A node at a voxel corner takes the voxel grid's copy (``slot_copy``, from
    :func:`q1._corner_copies`); a node on a voxel edge has one copy when the two voxels are
    joined, else one per side; a node inside a voxel has one. ``shift``: where X goes in the
    key (Y takes bits 2 up, the kind bits 60 up)."""
    region = material.region_grid
    on_x, on_y = X % step == 0, Y % step == 0
    cx, cy = X // step, Y // step
    key = (3 << 60) | (X << shift) | (Y << 2)  # inside a voxel (a new array every call)
    corner = on_x & on_y
    slot = 2 * (vx - cx + 1) + (vy - cy + 1)
    key[corner] = slot_copy[slot[corner], cx[corner], cy[corner]]
    for kind, on, off in ((1, on_x & ~on_y, 0), (2, on_y & ~on_x, 1)):
        # the voxels on both sides of the edge the node lies on; part 0 if joined
        lo = (cx - 1, vy) if off == 0 else (vx, cy - 1)
        hi = (cx, vy) if off == 0 else (vx, cy)
        r_lo, r_hi = _region_at(region, *lo), _region_at(region, *hi)
        same = (r_lo >= 0) & (r_hi >= 0) & ((r_lo == r_hi) | _backbone(material, r_lo, r_hi))
        mine_hi = (vx == cx) if off == 0 else (vy == cy)
        part = np.where(same, 0, mine_hi.astype(np.int64))
        key = np.where(on, (kind << 60) | (X << shift) | (Y << 2) | part, key)
    return key


def _region_at(region, x, y):
    nx, ny = region.shape
    ok = (x >= 0) & (y >= 0) & (x < nx) & (y < ny)
    out = np.full(len(x), -1, dtype=np.int64)
    out[ok] = region[x[ok], y[ok]]
    return out


def _backbone(material, a, b):
    if material.backbone is None:
        return np.zeros(len(a), dtype=bool)
    return (a == material.backbone) | (b == material.backbone)


def _hanging_parents(tree: Quadtree, material: TreeMaterial, leaf_copies) -> dict:
    """Hanging copies in the middle of a coarser leaf's side that share its potentials:
    ``child`` copies and their two ``parent`` copies (the side's ends)."""
    children, parents = [], []
    size = tree.size
    for side in range(4):
        first, second = tree.neighbours(side)
        coarse = np.flatnonzero(second >= 0)
        fine = first[coarse]
        axis = side // 2
        half = size[coarse] // 2
        end = size[coarse] * (side % 2)
        mx = tree.x0[coarse] + (end if axis == 0 else half)
        my = tree.y0[coarse] + (half if axis == 0 else end)
        ox = (mx - tree.x0[fine]) // size[fine]
        oy = (my - tree.y0[fine]) // size[fine]
        child = leaf_copies[fine, 2 * ox + oy]
        ends = np.array(leaf_side_corners(side))
        share = joined(material, coarse, fine)
        children.append(child[share])
        parents.append(leaf_copies[coarse[share]][:, ends])
    return {"child": np.concatenate(children), "parent": np.concatenate(parents)}


def _prolongation(size: int, parents: dict) -> tuple[sp.csr_matrix, np.ndarray]:
    """T (size x n_reduced): every copy from the unconstrained ones; a hanging copy is the mean
    of its parents, whose own constraints are resolved (chains across levels)."""
    child, parent = parents["child"], parents["parent"]
    constrained = np.zeros(size, dtype=bool)
    constrained[child] = True
    keep = np.flatnonzero(~constrained)
    step = sp.csr_matrix((np.concatenate([np.ones(len(keep)), np.full(2 * len(child), 0.5)]),
                          (np.concatenate([keep, np.repeat(child, 2)]),
                           np.concatenate([keep, parent.ravel()]))), shape=(size, size))
    full = step
    for _ in range(MAX_LEVEL + 1):  # resolve chains: stop when no column is constrained
        if not full[:, constrained].nnz:
            break
        full = (full @ step).tocsr()
    reduced_of_copy = np.full(size, -1, dtype=np.int64)
    reduced_of_copy[keep] = np.arange(len(keep))
    return full[:, keep].tocsr(), reduced_of_copy

"""The Q2 upper bound (:mod:`.reconstruct`) on a 2:1-balanced quadtree of sub-voxels (2D).

Per leaf a biquadratic (Q2) element with 3 x 3 nodes at (x0 + i s / 2, y0 + j s / 2), i, j in
0, 1, 2 (s: the leaf's side). Node *copies* are per region, as in :mod:`.tree_q1`: a node at a
voxel corner takes the voxel grid's copy of its region, a node on a voxel edge has one copy
when the two voxels are joined (same grain or the backbone) and one per side across a GB, a
node inside a voxel has one. Conformity across levels: where a side of a coarse leaf meets two
finer leaves that share its potentials, the fine leaves' nodes on it lie at 0, 1/4, 1/2, 3/4
and 1 of the coarse side; those at 0, 1/2, 1 are the coarse side's own nodes (the same copy),
those at 1/4 and 3/4 (the fine sides' midpoints) are constrained to the coarse side's quadratic
trace there (3/8, 3/4, -1/8 of its nodes), so the potential is continuous. Across a resistive
GB segment the fine nodes are free and the GB term ``g int_seg (trace_lo - trace_hi)^2`` is
integrated exactly with both sides' quadratic traces restricted to the segment. Dirichlet
contact sides keep their 3 nodes at the electrode potential; Robin sides add
``int (V - v)^2 / r`` exactly.

So every potential of the space is admissible: its exact energy (W) bounds the power at its
electrode potentials from above, whatever the iteration reached. The Q1 potential of the tree
(:mod:`.tree_q1`) is in the space (midpoints: the mean of the side's ends, centres: the mean of
the corners; a Q1 hanging node is the mean of the coarse side's ends, the linear trace); it is
the starting point, lowered by the matrix-free Jacobi-CG of :func:`.reconstruct.minimize`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ..case import Case
from ..discretization.q1 import _corner_copies
from ..microstructure import Microstructure
from ..solve import NetworkSolution
from .quadtree import FINE, MAX_LEVEL, Quadtree, Segments
from .reconstruct import (FACE_NODES, MAX_ITERATIONS, _cell_apply, _lagrange_1d, minimize,
                          q2_face_mass, stiffness_basis, tensor_coefficients)
from .tree_common import TreeMaterial, contact_sides, joined
from .tree_q1 import OFFSETS, TreeQ1Operator, node_keys

# local node 3 i + j of the leaf corners in the tree's corner order (2 ox + oy)
CORNER_NODE = np.array([3 * 2 * ox + 2 * oy for ox, oy in OFFSETS])


@dataclass(frozen=True)
class TreeQuadraticForm:
    """``E(x) = sum_K v_K . A_K v_K + sum_f w_f (D_f x - o_f) . m_f (D_f x - o_f) + 2 l . x + c``
    (W) over the free copies x, with the leaf-local values ``v = T x`` (row
    ``node * n_leaves + leaf``); ``m_f``: the face's ``mass`` (3, 3), default
    :func:`.reconstruct.q2_face_mass`.

    The interface of :class:`.reconstruct.QuadraticForm` that :func:`.reconstruct.minimize`
    uses: ``value``, ``gradient``, ``diagonal``, ``fixed``, ``n_dofs``."""

    prolongation: sp.csr_matrix  # T: (9 n_leaves, n_dofs)
    cell_coefficients: np.ndarray  # (3, n_leaves): t times the tensor's xx, yy, xy
    faces: tuple  # dicts: "matrix" D (3 m, n_dofs), "weight" (m,), "offset" (m, 3) or None
    fixed: np.ndarray
    linear: np.ndarray | None = None
    constant: float = 0.0

    @property
    def n_dofs(self) -> int:
        return len(self.fixed)

    def local(self, x: np.ndarray) -> np.ndarray:
        """(9, n_leaves) node values of every leaf."""
        return (self.prolongation @ x).reshape(9, -1)

    def value(self, x: np.ndarray) -> float:
        """E(x), exactly (element and face matrices are exact integrals)."""
        local = self.local(x)
        total = float(np.einsum("ki,ki->", local, _cell_apply(self, local)))
        for face in self.faces:
            d = self._difference(face, x, True)
            total += float(np.einsum("mi,ij,mj,m->", d, _mass(face), d, face["weight"]))
        if self.linear is not None:
            total += 2.0 * float(self.linear @ x)
        return total + self.constant

    def gradient(self, x: np.ndarray, affine: bool = True) -> np.ndarray:
        local = self.local(x)
        grad = self.prolongation.T @ _cell_apply(self, local).ravel()
        for face in self.faces:
            md = (self._difference(face, x, affine) @ _mass(face)) * face["weight"][:, None]
            grad += face["matrix"].T @ md.ravel()
        if affine and self.linear is not None:
            grad += self.linear
        return 2.0 * grad

    def diagonal(self) -> np.ndarray:
        """An approximation of the diagonal (the preconditioner only): ``sum_r T_rj^2 A_rr``."""
        basis_diag = np.diagonal(stiffness_basis(), axis1=1, axis2=2)  # (3, 9)
        local_diag = (basis_diag.T @ self.cell_coefficients).ravel()
        diag = self.prolongation.multiply(self.prolongation).T @ local_diag
        for face in self.faces:
            term = (face["weight"][:, None] * np.diag(_mass(face))).ravel()
            diag += face["matrix"].multiply(face["matrix"]).T @ term
        return 2.0 * diag

    @staticmethod
    def _difference(face: dict, x: np.ndarray, with_offset: bool) -> np.ndarray:
        d = (face["matrix"] @ x).reshape(-1, 3)
        if with_offset and face["offset"] is not None:
            d = d - face["offset"]
        return d


def _mass(face: dict) -> np.ndarray:
    return face.get("mass", q2_face_mass())


def tree_potential_form(case: Case, micro: Microstructure, tree: Quadtree,
                        material: TreeMaterial, segs: Segments,
                        electrode_potential: np.ndarray) -> tuple[TreeQuadraticForm, np.ndarray]:
    """The Q2 energy on ``tree`` (module doc) with the electrode potentials (V) on the
    contacts; also the electrode of every free copy's fixed value (-1: not fixed)."""
    grid = case.grid
    t = grid.thickness_m
    n = tree.n_leaves
    contacts = contact_sides(tree, case, micro, material)
    prolongation, key_index, dof_of_key = constrained_space(tree, _node_keys(tree, material),
                                                            material)
    electrode = np.full(prolongation.shape[1], np.iinfo(np.int64).max)
    dirichlet = contacts["resistance_area"] == 0
    side_nodes = FACE_NODES[contacts["side"][dirichlet]]  # (m, 3)
    held = key_index[contacts["leaf"][dirichlet][:, None], side_nodes]
    np.minimum.at(electrode, dof_of_key[held.ravel()], np.repeat(contacts["electrode"][dirichlet], 3))
    electrode[electrode == np.iinfo(np.int64).max] = -1
    coefficients = t * tensor_coefficients(material.tensor_table)[material.leaf_tensor]

    faces = []
    resistive = ((segs.lower >= 0) & (segs.upper >= 0) & np.isfinite(material.gb_conductance_m2))
    resistive[resistive] = ~joined(material, segs.lower[resistive], segs.upper[resistive])
    resistive &= (material.leaf_grain[np.maximum(segs.lower, 0)] > 0) \
        & (material.leaf_grain[np.maximum(segs.upper, 0)] > 0)
    rows = np.flatnonzero(resistive)
    if len(rows):
        lo = _segment_trace(tree, segs, rows, segs.lower[rows], 1)
        up = _segment_trace(tree, segs, rows, segs.upper[rows], 0)
        matrix = (lo[0] - up[0]) @ prolongation  # differences of the local values
        length = segs.length[rows] * (grid.voxel_size_m / FINE)
        faces.append({"matrix": matrix.tocsr(), "offset": None,
                      "weight": material.gb_conductance_m2 * length * t})
    robin = np.flatnonzero(~dirichlet)
    if len(robin):
        leaf, side = contacts["leaf"][robin], contacts["side"][robin]
        local_rows = FACE_NODES[side] * n + leaf[:, None]  # (m, 3)
        pick = sp.csr_matrix((np.ones(3 * len(robin)), (np.arange(3 * len(robin)),
                                                        local_rows.ravel())), shape=(3 * len(robin), 9 * n))
        length = tree.size[leaf] * (grid.voxel_size_m / FINE)
        potential = electrode_potential[contacts["electrode"][robin]]
        faces.append({"matrix": (pick @ prolongation).tocsr(),
                      "offset": np.repeat(potential[:, None], 3, axis=1),
                      "weight": length * t / contacts["resistance_area"][robin]})
    form = TreeQuadraticForm(prolongation, np.ascontiguousarray(coefficients.T), tuple(faces),
                             electrode >= 0)
    return form, electrode


def embed_tree_q1(form: TreeQuadraticForm, primal: TreeQ1Operator,
                  primal_solution: NetworkSolution, electrode: np.ndarray,
                  electrode_potential: np.ndarray) -> np.ndarray:
    """The tree's Q1 solution as free copies of the Q2 space (exact: see the module doc);
    fixed copies at their electrode's potential. Every free copy takes the value of a local
    node it appears in with weight 1 (its own key)."""
    n = primal.tree.n_leaves
    corner = np.nan_to_num(primal.copy_potential(primal_solution))[primal.leaf_copies]
    local = np.empty((9, n))
    local[CORNER_NODE] = corner.T
    for s in range(4):  # side midpoints: the mean of the side's two corners
        a, c = FACE_NODES[s][0], FACE_NODES[s][2]
        local[FACE_NODES[s][1]] = 0.5 * (local[a] + local[c])
    local[4] = corner.mean(axis=1)
    coo = form.prolongation.tocoo()
    own = coo.data == 1.0
    x = np.zeros(form.n_dofs)
    x[coo.col[own]] = local.ravel()[coo.row[own]]
    fixed = electrode >= 0
    x[fixed] = electrode_potential[electrode[fixed]]
    return x


def tree_reconstructed_energy(case: Case, micro: Microstructure, primal: TreeQ1Operator,
                              primal_solution: NetworkSolution, material: TreeMaterial,
                              segs: Segments, iterations: int = MAX_ITERATIONS) -> float:
    """E (W) of the Q2 potential reached from the tree's Q1 solution by at most
    ``iterations`` CG steps, with the Q1 solution's electrode potentials: an upper bound of
    the power at those potentials (the smaller of the start's and the end's exact energies)."""
    potentials = np.nan_to_num(primal_solution.electrode_potential)
    form, electrode = tree_potential_form(case, micro, primal.tree, material, segs, potentials)
    x0 = embed_tree_q1(form, primal, primal_solution, electrode, potentials)
    # the (27 x 9) by (9 x n) products are too small for threaded BLAS, whose threads only
    # spin on a loaded machine: 2 836 leaves, 2 loaded cores, 16 ms a cell product against
    # 1.4 ms on one thread (3.6 s -> 0.29 s CPU for both sides' descents)
    with threadpool_limits(limits=1, user_api="blas"):
        x = minimize(form, x0, iterations)
    return min(form.value(x), form.value(x0))


# --------------------------------------------------------------------------- the space


def _node_keys(tree: Quadtree, material: TreeMaterial) -> np.ndarray:
    """(n_leaves, 9) one int64 per node copy (local node 3 i + j), shared by the leaves whose
    nodes coincide and share potentials (:func:`.tree_q1.node_keys` on the half-step lattice:
    coordinates in units of 1 / (2 FINE) voxel)."""
    slot_copy, _ = _corner_copies(material.region_grid, material.backbone, ())
    size = tree.size
    vx, vy = tree.x0 >> MAX_LEVEL, tree.y0 >> MAX_LEVEL
    step = 2 * FINE  # a voxel on the half-step lattice
    keys = np.empty((tree.n_leaves, 9), dtype=np.int64)
    for i in range(3):
        for j in range(3):
            keys[:, 3 * i + j] = node_keys(material, slot_copy, vx, vy, 2 * tree.x0 + i * size,
                                           2 * tree.y0 + j * size, step, 31)
    return keys


def constrained_space(tree: Quadtree, keys: np.ndarray, material: TreeMaterial | None):
    """T (9 n_leaves, n_dofs): the leaf-local node values (row ``node * n_leaves + leaf``) of
    the Q2 space whose copies are ``keys`` (n_leaves, 9), hanging midpoints constrained
    (:func:`_hanging`, with ``material``); also the key index of every local node and the dof
    of every key (-1: constrained)."""
    n = tree.n_leaves
    unique, key_index = np.unique(keys, return_inverse=True)
    key_index = key_index.reshape(keys.shape)
    n_keys = len(unique)
    child, parent, weight = _hanging(tree, material, key_index)
    step = _constraint_step(n_keys, child, parent, weight)
    free_keys = np.flatnonzero(np.bincount(child, minlength=n_keys) == 0)
    # select the local rows (node-major) from the keys, then resolve every constraint
    select = sp.csr_matrix((np.ones(9 * n), (np.arange(9 * n), key_index.T.ravel())),
                           shape=(9 * n, n_keys))
    prolongation = (select @ step[:, free_keys]).tocsr()
    prolongation.eliminate_zeros()
    dof_of_key = np.full(n_keys, -1, dtype=np.int64)
    dof_of_key[free_keys] = np.arange(len(free_keys))
    return prolongation, key_index, dof_of_key


QUARTER = _lagrange_1d(np.array([0.25, 0.75]))[0]  # (2, 3): the quadratic trace at 1/4, 3/4


def _hanging(tree: Quadtree, material: TreeMaterial | None, key_index: np.ndarray):
    """The constrained copies: the midpoints of fine sides on a coarse side whose leaves share
    potentials (all of them when ``material`` is None), each the coarse side's quadratic trace
    there. Returns ``child`` (k,), ``parent`` (k, 3) copies (key indices) and their ``weight``
    (k, 3)."""
    children, parents, weights = [], [], []
    for side in range(4):
        first, second = tree.neighbours(side)
        coarse = np.flatnonzero(second >= 0)
        opposite = side ^ 1
        for half, fine in enumerate((first[coarse], second[coarse])):
            share = (np.ones(len(coarse), dtype=bool) if material is None
                     else joined(material, coarse, fine))
            children.append(key_index[fine[share], FACE_NODES[opposite][1]])
            parents.append(key_index[coarse[share][:, None], FACE_NODES[side]])
            weights.append(np.repeat(QUARTER[half][None], int(share.sum()), axis=0))
    return np.concatenate(children), np.concatenate(parents), np.concatenate(weights)


def _constraint_step(n_keys: int, child, parent, weight) -> sp.csr_matrix:
    """(n_keys, n_keys): every copy from the unconstrained ones (chains resolved)."""
    constrained = np.zeros(n_keys, dtype=bool)
    constrained[child] = True
    keep = np.flatnonzero(~constrained)
    step = sp.csr_matrix((np.concatenate([np.ones(len(keep)), weight.ravel()]),
                          (np.concatenate([keep, np.repeat(child, 3)]),
                           np.concatenate([keep, parent.ravel()]))), shape=(n_keys, n_keys))
    full = step
    for _ in range(MAX_LEVEL + 1):  # no column may stay constrained
        if not full[:, constrained].nnz:
            break
        full = (full @ step).tocsr()
    return full


def _segment_trace(tree: Quadtree, segs: Segments, rows: np.ndarray, leaf: np.ndarray,
                   upper_side: int):
    """(3 m, 9 n_leaves) sparse: the quadratic trace of ``leaf`` (its side 2 axis +
    upper_side) at the segment's start, middle and end, from its local nodes."""
    n = tree.n_leaves
    side = 2 * segs.axis[rows] + upper_side
    along = np.where(segs.axis[rows] == 0, tree.y0[leaf], tree.x0[leaf])
    size = tree.size[leaf].astype(float)
    points = (segs.start[rows][:, None] + segs.length[rows][:, None] * np.array([0.0, 0.5, 1.0])
              - along[:, None]) / size[:, None]  # (m, 3) in 0..1 along the leaf side
    values = _lagrange_1d(points.ravel())[0].reshape(len(rows), 3, 3)  # (m, point, node)
    local_rows = FACE_NODES[side] * n + leaf[:, None]  # (m, 3 nodes)
    r = np.repeat(np.arange(3 * len(rows)).reshape(-1, 3), 3, axis=1)  # (m, 9)
    c = np.tile(local_rows, (1, 3))
    return (sp.csr_matrix((values.reshape(len(rows), 9).ravel(), (r.ravel(), c.ravel())),
                          shape=(3 * len(rows), 9 * n)),)

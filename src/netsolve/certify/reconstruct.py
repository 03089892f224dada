"""A better admissible potential for the upper bound on the 2D voxel grid: biquadratic (Q2)
elements on the same voxels, started from the Q1 solution and improved by energy descent.

Any potential v that takes the electrode potentials on the Dirichlet contacts bounds the
voxel map's power from above by its own energy (Dirichlet principle)

    E(v) = sum_K int_K grad v . S grad v + sum_GB int_f [v]^2 / R_GB + sum_Robin int_f (V - v)^2 / r

(W, for fixed electrode potentials; for two electrodes G <= E(v) / dV(v)^2 with v's own
electrode drop). The space used here: per conducting voxel a Q2 element with 3 x 3 nodes:
the 4 corners are the Q1 operator's node copies (one per region around a corner, so v may
jump across a GB face with a resistor and is continuous elsewhere), the 4 edge midpoints are
the mixed operator's face dofs (one per side of a resistive GB face), the centre is the
voxel's own. Q1 is a subspace (midpoint = mean of the edge's ends, centre = mean of the
corners), so the Q1 solution is the starting point and its energy E_Q1 (with the GB and
contact terms integrated exactly, at most the lumped ones) the first value; Jacobi-
preconditioned conjugate gradients on the Q2 energy (matrix-free) lower it. The bound is the
energy of the final potential, evaluated exactly (the element and face matrices are exact
integrals: 3-point Gauss per direction), whatever the iteration did: no iteration count or
tolerance enters its validity. Dirichlet nodes (the corners of the Dirichlet contact faces
and their midpoints) keep the electrode potentials throughout. Why it helps: at 1000:1 the
field of an oblique grain varies on scales far below the voxel across its easy direction,
where bilinears are poor; on Voronoi maps the Q2 potential halves Q1's excess energy
(validation/README.md).

The quadratic-form machinery (:class:`QuadraticForm`, :func:`minimize`) is shared with the
stream-function correction of the flux (:mod:`.equilibrate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..discretization.mixed import MixedOperator
from ..discretization.q1 import FemOperator, corner_offsets
from ..solve import NetworkSolution

GAUSS3 = (0.5 + 0.5 * np.array([-np.sqrt(0.6), 0.0, np.sqrt(0.6)]),
          np.array([5.0, 8.0, 5.0]) / 18.0)  # 3-point Gauss on [0, 1]: points, weights
NODES_1D = np.array([0.0, 0.5, 1.0])


def _lagrange_1d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values and derivatives (len(x), 3) of the quadratic Lagrange basis on 0, 1/2, 1."""
    values = np.stack([2 * (x - 0.5) * (x - 1), -4 * x * (x - 1), 2 * x * (x - 0.5)], axis=1)
    slopes = np.stack([4 * x - 3, -8 * x + 4, 4 * x - 1], axis=1)
    return values, slopes


def q2_reference_stiffness() -> np.ndarray:
    """``M[a, b, i, j] = int_unit-square d_a phi_i d_b phi_j`` for the 9 biquadratic Lagrange
    functions, node i = 3 * ix + iy (ix, iy in 0, 1, 2 at 0, 1/2, 1): exact (3-point Gauss)."""
    points, weights = GAUSS3
    value, slope = _lagrange_1d(points)
    grads = np.empty((3, 3, 2, 9))  # (point x, point y, a, node)
    for ix in range(3):
        for iy in range(3):
            node = 3 * ix + iy
            grads[:, :, 0, node] = np.outer(slope[:, ix], value[:, iy])
            grads[:, :, 1, node] = np.outer(value[:, ix], slope[:, iy])
    w = np.outer(weights, weights)
    return np.einsum("pq,pqai,pqbj->abij", w, grads, grads)


def q2_face_mass() -> np.ndarray:
    """``int_0^1 l_i l_j`` of the quadratic Lagrange basis on 0, 1/2, 1 (exact)."""
    return np.array([[4.0, 2.0, -1.0], [2.0, 16.0, 2.0], [-1.0, 2.0, 4.0]]) / 30.0


# local node (3 * ix + iy) of the corners in corner_offsets order and of the faces in the mixed
# order (x-, x+, y-, y+); the centre is node 4
CORNER_NODE = np.array([3 * 2 * ox + 2 * oy for ox, oy in corner_offsets(2)])
FACE_NODE = np.array([1, 7, 3, 5])
CENTRE_NODE = 4
# local nodes along each face (x-, x+, y-, y+), ordered by the other coordinate
FACE_NODES = np.array([[0, 1, 2], [6, 7, 8], [0, 3, 6], [2, 5, 8]])


@dataclass(frozen=True)
class QuadraticForm:
    """``E(v) = sum_K v_K . A_K v_K + sum_f w_f (D_f v - o_f) . m (D_f v - o_f) + 2 l . v + c``
    over the dofs v of a Q2 space (units: W for potentials in V or for stream functions in A).

    Cells: ``cell_nodes`` (9, n) dofs (local node first: the products below then run over
    long contiguous rows, 7x faster than (n, 9) on the 2-core machine),
    ``A_K = sum_c cell_coefficients[c, k] BASIS[c]`` with
    the reference matrices of :func:`stiffness_basis` (so A_K v_K costs three small matrix
    products over all cells, no (n, 9, 9) array). Face groups: each a
    dict with ``plus`` (m, 3) dofs along the face, ``minus`` (m, 3) dofs subtracted (or None),
    ``offset`` (m, 3) or None, ``matrix`` (3, 3) and ``weight`` (m,). ``fixed``: dofs that keep
    their value (bool)."""

    cell_nodes: np.ndarray
    cell_coefficients: np.ndarray  # (3, n): the tensor's xx, yy, xy entries times a scale
    faces: tuple
    fixed: np.ndarray
    linear: np.ndarray | None = None
    constant: float = 0.0

    @property
    def n_dofs(self) -> int:
        return len(self.fixed)

    def value(self, v: np.ndarray) -> float:
        """E(v), exactly (the terms are exact integrals)."""
        local = v[self.cell_nodes]
        total = float(np.einsum("ki,ki->", local, _cell_apply(self, local)))
        for face in self.faces:
            d = _face_difference(face, v, with_offset=True)
            total += float(np.einsum("mi,ij,mj,m->", d, face["matrix"], d, face["weight"]))
        if self.linear is not None:
            total += 2.0 * float(self.linear @ v)
        return total + self.constant

    def gradient(self, v: np.ndarray, affine: bool = True) -> np.ndarray:
        """dE/dv; ``affine=False``: of the quadratic part alone (the operator of CG)."""
        local = v[self.cell_nodes]
        grad = np.bincount(self.cell_nodes.ravel(), _cell_apply(self, local).ravel(),
                           self.n_dofs)
        for face in self.faces:
            md = (_face_difference(face, v, affine) @ face["matrix"]) * face["weight"][:, None]
            grad += np.bincount(face["plus"].ravel(), md.ravel(), self.n_dofs)
            if face["minus"] is not None:
                grad -= np.bincount(face["minus"].ravel(), md.ravel(), self.n_dofs)
        if affine and self.linear is not None:
            grad += self.linear
        return 2.0 * grad

    def diagonal(self) -> np.ndarray:
        basis_diag = np.diagonal(stiffness_basis(), axis1=1, axis2=2)  # (3, 9)
        diag = np.bincount(self.cell_nodes.ravel(),
                           (basis_diag.T @ self.cell_coefficients).ravel(), self.n_dofs)
        for face in self.faces:
            term = (face["weight"][:, None] * np.diag(face["matrix"])).ravel()
            for nodes in (face["plus"], face["minus"]):
                if nodes is not None:
                    diag += np.bincount(nodes.ravel(), term, self.n_dofs)
        return 2.0 * diag


@lru_cache(maxsize=1)
def stiffness_basis() -> np.ndarray:
    """(3, 9, 9): the Q2 reference stiffness of the xx, yy and xy (both off-diagonal entries)
    parts of a symmetric 2 x 2 tensor."""
    m = q2_reference_stiffness()
    return np.stack([m[0, 0], m[1, 1], m[0, 1] + m[1, 0]])


def tensor_coefficients(tensor: np.ndarray) -> np.ndarray:
    """(n, 3) xx, yy, xy entries of (n, 2, 2) symmetric tensors."""
    return np.stack([tensor[:, 0, 0], tensor[:, 1, 1], tensor[:, 0, 1]], axis=1)


def _cell_apply(form: QuadraticForm, local: np.ndarray) -> np.ndarray:
    """A_K v_K for every cell: ``local`` and the result (9, n) (a compiled kernel)."""
    from .kernels import cell_apply

    out = np.empty(local.shape)
    cell_apply(stiffness_basis(), np.ascontiguousarray(form.cell_coefficients, dtype=float),
               np.ascontiguousarray(local, dtype=float), out)
    return out


def _face_difference(face: dict, v: np.ndarray, with_offset: bool) -> np.ndarray:
    d = v[face["plus"]]
    if face["minus"] is not None:
        d = d - v[face["minus"]]
    if with_offset and face["offset"] is not None:
        d = d - face["offset"]
    return d


# CG stops when its last STALL_WINDOW steps lowered E by less than STALL_SHARE of what all
# steps so far did, or after MAX_ITERATIONS. Jacobi-CG converges slowly at 1000:1 but gains
# most early: on the 640^2, 450-grain map at 1000:1 (Q1/RT0 gap 280 %) the reconstructed gap
# is 108 % after ~43 steps per side (stall share 0.03), 93 % after <= 150 (0.01), 81 % after
# 300 steps, at about 0.17 s CPU per step and side (the two solves: 21 s CPU)
MAX_ITERATIONS = 100
STALL_WINDOW = 10
STALL_SHARE = 0.01


def minimize(form: QuadraticForm, v0: np.ndarray,
             iterations: int = MAX_ITERATIONS) -> np.ndarray:
    """Jacobi-preconditioned conjugate gradients on E over the free dofs, from ``v0`` (its
    fixed dofs kept), at most ``iterations`` steps. Every iterate is admissible; only the
    caller's evaluation of E of the result certifies anything, so neither the iteration count
    nor the stopping rule enters a bound."""
    free = ~form.fixed
    v = v0.copy()
    diag = np.where(free, form.diagonal(), 1.0)
    diag = np.where(diag > 0, diag, 1.0)
    r = -form.gradient(v)
    r[~free] = 0.0
    z = r / diag
    p = z.copy()
    rz = float(r @ z)
    decrease = [0.0]  # cumulative decrease of E: each step lowers it by alpha rz / 2
    for _ in range(iterations):
        if not rz > 0:
            break
        ap = form.gradient(p, affine=False)
        ap[~free] = 0.0
        curvature = float(p @ ap)
        if not curvature > 0:
            break
        alpha = rz / curvature
        v += alpha * p
        r -= alpha * ap
        decrease.append(decrease[-1] + 0.5 * alpha * rz)
        if (len(decrease) > STALL_WINDOW and decrease[-1] - decrease[-1 - STALL_WINDOW]
                < STALL_SHARE * decrease[-1]):
            break
        z = r / diag
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return v


# --------------------------------------------------------------------------- the potential


def potential_form(primal: FemOperator, dual: MixedOperator,
                   electrode_potential: np.ndarray) -> tuple[QuadraticForm, np.ndarray]:
    """E(v) of the Q2 potentials of the voxel map both operators discretize (2D only), with
    the electrode potentials ``electrode_potential`` (V) on the Dirichlet and Robin contacts.

    Dofs: the Q1 copies, then the mixed face dofs, then one centre per cell. Also returns the
    electrode of every dof (-1: free)."""
    if primal.ndim != 2:
        raise ValueError("the Q2 reconstruction is 2D only")
    if not np.array_equal(primal.element_voxel, dual.cell_voxel):
        raise ValueError("the primal and dual operators must discretize the same voxels")
    n_copies = len(primal.copy_unknown)
    n_faces = len(dual.dof_unknown)
    n_cells = primal.n_elements
    nodes = np.empty((n_cells, 9), dtype=np.int64)
    nodes[:, CORNER_NODE] = primal.element_nodes
    nodes[:, FACE_NODE] = dual.cell_dofs + n_copies
    nodes[:, CENTRE_NODE] = n_copies + n_faces + np.arange(n_cells)
    electrode = np.concatenate([primal.copy_electrode, dual.dof_electrode,
                                np.full(n_cells, -1)]).astype(np.int64)
    h = primal.voxel_size_m
    coefficients = (primal.voxel_volume_m3 / h**2) * tensor_coefficients(
        primal.tensor_table)[primal.element_tensor_index]

    cell_of_voxel = np.full(int(np.prod(primal.shape)), -1, dtype=np.int64)
    cell_of_voxel[primal.element_voxel] = np.arange(n_cells)
    resistive = np.isfinite(dual.gb_face_conductance)
    axis = dual.gb_face_axis[resistive].astype(np.int64)
    lower = cell_of_voxel[dual.gb_face_voxels[resistive, 0]]
    upper = cell_of_voxel[dual.gb_face_voxels[resistive, 1]]
    gb_lower = np.take_along_axis(nodes[lower], FACE_NODES[2 * axis + 1], axis=1)
    gb_upper = np.take_along_axis(nodes[upper], FACE_NODES[2 * axis], axis=1)
    gb_lower[:, 1] = dual.gb_face_dofs[resistive, 0] + n_copies  # the mixed face's two sides
    gb_upper[:, 1] = dual.gb_face_dofs[resistive, 1] + n_copies
    robin_cell, robin_face = robin_faces(dual)
    robin_nodes = np.take_along_axis(nodes[robin_cell], FACE_NODES[robin_face], axis=1)
    mass = q2_face_mass()
    faces = ({"plus": gb_lower, "minus": gb_upper, "offset": None, "matrix": mass,
              "weight": dual.gb_face_conductance[resistive]},
             {"plus": robin_nodes, "minus": None, "matrix": mass,
              "offset": np.repeat(electrode_potential[dual.robin_electrode][:, None], 3, 1),
              "weight": dual.robin_conductance})
    return QuadraticForm(np.ascontiguousarray(nodes.T), np.ascontiguousarray(coefficients.T),
                         faces, electrode >= 0), electrode


def robin_faces(dual: MixedOperator) -> tuple[np.ndarray, np.ndarray]:
    """Cell and local face (x-, x+, y-, y+) of every Robin contact dof of the mixed operator."""
    n = len(dual.dof_unknown)
    cell_of = np.full(n, -1, dtype=np.int64)
    face_of = np.full(n, -1, dtype=np.int64)
    for face in range(4):
        cell_of[dual.cell_dofs[:, face]] = np.arange(dual.n_cells)
        face_of[dual.cell_dofs[:, face]] = face
    return cell_of[dual.robin_dof], face_of[dual.robin_dof]


def embed_q1(form: QuadraticForm, primal: FemOperator, primal_solution: NetworkSolution,
             electrode: np.ndarray, electrode_potential: np.ndarray) -> np.ndarray:
    """The Q1 solution as a Q2 potential (exact: midpoints = mean of the face's two corners
    on each side, centres = mean of the 4 corners); Dirichlet dofs at their electrode's
    potential."""
    u = np.nan_to_num(primal.copy_potential(primal_solution))
    v = np.zeros(form.n_dofs)
    v[:len(u)] = u
    corner = u[primal.element_nodes]  # corner_offsets order: (0,0), (0,1), (1,0), (1,1)
    for face, (a, b) in enumerate(((0, 1), (2, 3), (0, 2), (1, 3))):  # x-, x+, y-, y+
        v[form.cell_nodes[FACE_NODE[face]]] = 0.5 * (corner[:, a] + corner[:, b])
    v[form.cell_nodes[CENTRE_NODE]] = corner.mean(axis=1)
    fixed = electrode >= 0
    v[fixed] = electrode_potential[electrode[fixed]]
    return v


def reconstructed_energy(primal: FemOperator, primal_solution: NetworkSolution,
                         dual: MixedOperator, iterations: int = MAX_ITERATIONS) -> float:
    """E(v) (W) of the Q2 potential reached from the Q1 solution by at most ``iterations`` CG
    steps (:func:`minimize`), with the Q1 solution's electrode potentials: an upper bound of
    the power at those potentials (the module doc), at most the Q1 energy up to rounding."""
    potentials = np.nan_to_num(primal_solution.electrode_potential)
    form, electrode = potential_form(primal, dual, potentials)
    v0 = embed_q1(form, primal, primal_solution, electrode, potentials)
    v = minimize(form, v0, iterations)
    return min(form.value(v), form.value(v0))

"""Stage 3 (alternative): a locally conservative full-tensor discretization, hybridized
lowest-order Raviart-Thomas (RT0) mixed finite elements on the voxel grid.

``[solver] discretization = "mixed"``. Every conducting voxel K is one element with the
voxel's constant conductivity tensor S (``Properties.tensor_table`` as under ``fem``: S2 in 2D,
S3 in 3D, the backbone's sigma I). Its unknowns are the outward normal fluxes F_i (A) through
its 2d faces, F = sum_i F_i phi_i with the RT0 basis phi_i (unit flux through face i, none
through the others), and a constant potential u_K; the face potentials lambda_i (V) are the
Lagrange multipliers that glue the elements together (hybridization). Per element:

    M F - u_K b + lambda = 0,   b.F = 0,    M_ij = int_K phi_i . S^-1 phi_j,   b = (1, ..., 1)

(the first row is Ohm's law tested with phi_i, the second conservation). Eliminating F and u_K
element by element leaves ``F = -A_K lambda`` with

    A_K = M^-1 - M^-1 b b^T M^-1 / (b^T M^-1 b),    u_K = (b^T M^-1 lambda) / (b^T M^-1 b),

a symmetric positive semi-definite 2d x 2d matrix with zero row sums. ``M`` is integrated
exactly (the reference matrix below), so the method keeps the full tensor, off-diagonal
entries included. The global system asks that the fluxes of the two elements at every face
cancel: ``sum_K A_K lambda = 0`` on the face unknowns: symmetric positive definite once the
electrode faces are fixed, and in the operator contract of :mod:`netsolve.solve` (a weighted
Laplacian: a symmetric matrix with zero row sums is one, its weights may be negative).

- Fluxes are exactly conservative per voxel (b.F = 0 by construction, to rounding) and agree
  between the two sides of every face to the solver's residual; so is the current of every
  grain and of every GB-bounded region.
- Grain boundaries: a face between two different grains carries two face potentials, one per
  side, joined by the GB conductance ``sigma_GB / t_GB x A`` (potential jump = R_GB x normal
  flux, the interface condition); grain|backbone faces and ``t_GB = 0`` share one.
- ZrO2 / void / outer walls: no flux (the face potential is an unknown seen by one element only).
  Voxels that touch only at an edge or corner share no face and no current.
- Electrodes: a contact face's potential is the electrode's (``asr = 0`` and ``electrode_link
  = "half_voxel"``), or joined to the electrode through ``A / (ASR + L_extra / s_nn)`` as under
  ``fem``.
- Complementary energy: the flux is equilibrated, so ``2 sum V_k I_k - W`` (W: the dissipated
  power of the flux) is a lower bound of the voxel map's power for fixed electrode potentials,
  as the Q1 power is an upper bound (:mod:`netsolve.bounds`).
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
from ..voxels import electrode_faces
from .assembly import (MatrixOperator, contact_resistance_area, dof_values, element_tensors,
                       eliminate_dirichlet)


@dataclass(frozen=True)
class MixedOperator(MatrixOperator):
    """Hybridized RT0 elements on the voxel grid, in the solve stage's operator contract.

    Degrees of freedom (dofs) are face potentials: one per face touched by a conducting voxel,
    two at a resistive GB face (lower side first). Unknowns are the free dofs.
    ``cell_dofs[k, 2 * axis + (side > 0)]`` is the dof of element k's face on that side.
    Conductances in S, tensors in S/m, resistivities in ohm m.
    """

    shape: tuple[int, ...]
    voxel_size_m: float
    voxel_volume_m3: float
    face_area_m2: float
    cell_voxel: np.ndarray  # (n_cells,) int64 flat voxel index (C order)
    cell_dofs: np.ndarray  # (n_cells, 2d) dof per local face
    cell_tensor_index: np.ndarray  # (n_cells,) int32 row of the tables below
    cell_grain: np.ndarray  # (n_cells,) int32 grain index (Microstructure.grain_index), -1: none
    tensor_table: np.ndarray  # (n_tensors, d, d) S/m
    local_matrix: np.ndarray  # (n_tensors, 2d, 2d) S, A_K: outward fluxes = -A_K lambda
    potential_weights: np.ndarray  # (n_tensors, 2d): u_K = weights . lambda
    mass_matrix: np.ndarray  # (n_tensors, 2d, 2d) ohm, M: the element's dissipation F.M.F
    dof_unknown: np.ndarray  # (n_dofs,) unknown index, -1 for dofs at an electrode potential
    dof_electrode: np.ndarray  # (n_dofs,) electrode of Dirichlet dofs, -1 elsewhere
    matrix: sp.csr_matrix
    electrode_link_node: np.ndarray
    electrode_link_electrode: np.ndarray
    electrode_link_conductance: np.ndarray
    electrode_coupling: np.ndarray
    gb_face_voxels: np.ndarray  # (n_gb_faces, 2) flat voxels, lower/upper, sorted (axis, lower)
    gb_face_axis: np.ndarray  # (n_gb_faces,) int8
    gb_face_dofs: np.ndarray  # (n_gb_faces, 2) lower-side / upper-side dof (equal: no resistor)
    gb_face_conductance: np.ndarray  # (n_gb_faces,) S, inf without a GB resistor
    robin_dof: np.ndarray  # contact (Robin) links: dof, electrode, conductance (S)
    robin_electrode: np.ndarray
    robin_conductance: np.ndarray
    contact_face_electrode: np.ndarray  # electrode of every contact face
    n_electrodes: int
    discretization: ClassVar[str] = "mixed"
    # "auto" solves 2D systems directly up to this size: root-node AMG needs 200-250 CG
    # iterations on the hybridized face system at 1000:1, 40-60 at 100:1, but SuperLU's fill
    # grows faster (CPU s, 1000:1: 100k unknowns 2.3 AMG / 2.7 direct, 205k 3.6 / 7.4-9.1;
    # 100:1, 205k: 1.4-2.7 / 8.0-9.0; docs/performance.md)
    direct_max_unknowns: ClassVar[dict] = {2: 100_000}
    amg_hierarchy: ClassVar[str] = "rootnode"
    # "auto" takes the grid multigrid (netsolve.multigrid.mixed) in 3D: 0.5-0.65x root-node
    # AMG's CPU time at 48^3-64^3 (100:1 and 1000:1); in 2D its cycle costs 1.3-1.4x AMG's per
    # iteration for about as many iterations: 0.6-0.9x on the Voronoi lamellae, a tie at rtol
    # 1e-8 and 5 % slower end to end on the ding2023 lamella (docs/performance.md)
    gmg_min_unknowns: ClassVar[dict] = {2: None, 3: 0}

    @property
    def n_cells(self) -> int:
        return len(self.cell_voxel)

    @property
    def n_gb_links(self) -> int:
        return int(np.count_nonzero(self.gb_face_dofs[:, 0] != self.gb_face_dofs[:, 1]))

    def cell_floating(self, node_floating: np.ndarray) -> np.ndarray:
        free = self.dof_unknown >= 0
        dof_floating = np.zeros(len(self.dof_unknown), dtype=bool)
        dof_floating[free] = node_floating[self.dof_unknown[free]]
        return dof_floating[self.cell_dofs].any(axis=1)

    def floating_voxels(self, node_floating: np.ndarray) -> np.ndarray:
        """Voxels (grid shape, bool) whose element has a floating face potential."""
        out = np.zeros(int(np.prod(self.shape)), dtype=bool)
        out[self.cell_voxel] = self.cell_floating(node_floating)
        return out.reshape(self.shape)

    def dof_potential(self, solution: NetworkSolution) -> np.ndarray:
        """Potential of every face dof (V, relative to the solution's offset)."""
        return dof_values(self.dof_unknown, self.dof_electrode, solution)

    def cell_fluxes(self, solution: NetworkSolution) -> np.ndarray:
        """Outward flux (A) through every local face of every element, (n_cells, 2d); NaN
        rows for floating elements. Each row sums to zero (conservation)."""
        lam = self.dof_potential(solution)[self.cell_dofs]
        flux = -np.einsum("kij,kj->ki", self.local_matrix[self.cell_tensor_index], lam)
        flux[self.cell_floating(solution.floating)] = np.nan
        return flux

    def fields(self, solution: NetworkSolution, props: Properties | None = None,
               electrode_index: np.ndarray | None = None) -> Fields:
        return compute_mixed_fields(self, solution, electrode_index)

    def grid_operator(self, active: np.ndarray):
        """Where the unknowns ``active`` sit on the corner grid, for the grid multigrid
        (:func:`netsolve.multigrid.mixed.face_grid`)."""
        from ..multigrid.mixed import face_grid

        return face_grid(self, active)


# --------------------------------------------------------------------------- reference element


def local_faces(ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Axis and side (-1 / +1) of the local faces, in the order 2 * axis + (side > 0)."""
    pairs = list(itertools.product(range(ndim), (-1, 1)))
    return (np.array([a for a, _ in pairs]), np.array([s for _, s in pairs]))


def reference_mass_factors(ndim: int) -> np.ndarray:
    """``m[i, j]`` with ``int_unit-cell phi_i . K phi_j = K[a_i, a_j] m[i, j]`` for RT0 on the
    unit cell (unit flux per face, unit face area): 1/3 on the diagonal, -1/6 between the two
    faces of one axis, s_i s_j / 4 between faces of different axes (exact integrals of the
    products of the linear normal profiles)."""
    axis, side = local_faces(ndim)
    same_axis = axis[:, None] == axis[None, :]
    same_face = np.eye(2 * ndim, dtype=bool)
    return np.where(same_face, 1 / 3, np.where(same_axis, -1 / 6,
                                               side[:, None] * side[None, :] / 4))


def element_matrices(tensor_table: np.ndarray, voxel_size_m: float,
                     face_area_m2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per tensor (S/m): the mass matrix M (ohm), the hybridized local matrix A_K (S) and the
    potential weights w (u_K = w . lambda), vectorized over the table."""
    ndim = tensor_table.shape[-1]
    axis, _ = local_faces(ndim)
    resistivity = np.linalg.inv(tensor_table)  # ohm m
    mass = (voxel_size_m / face_area_m2) * resistivity[:, axis[:, None], axis[None, :]] \
        * reference_mass_factors(ndim)[None]
    inverse = np.linalg.inv(mass)
    inverse = 0.5 * (inverse + np.swapaxes(inverse, 1, 2))
    row_sum = inverse.sum(axis=2)  # M^-1 b
    total = row_sum.sum(axis=1)  # b^T M^-1 b
    local = inverse - row_sum[:, :, None] * row_sum[:, None, :] / total[:, None, None]
    return mass, local, row_sum / total[:, None]


# --------------------------------------------------------------------------- assembly


def build_mixed_operator(case: Case, micro: Microstructure, props: Properties) -> MixedOperator:
    """Assemble the hybridized RT0 operator (vectorized over elements and faces)."""
    grid = case.grid
    ndim, shape, h = grid.ndim, grid.shape, grid.voxel_size_m
    conducting = micro.conducting
    is_grain = micro.phase == Phase.GRAIN
    cell_voxel = np.flatnonzero(conducting)
    cell_of_voxel = np.full(shape, -1, dtype=np.int64)
    cell_of_voxel[conducting] = np.arange(len(cell_voxel))

    tensor_table, tensor_index = element_tensors(micro, props)
    mass, local, weights = element_matrices(tensor_table, h, grid.face_area_m2)

    gb_resistive = bool(np.isfinite(props.gb_conductance_m2))
    dofs = _face_dofs(micro, conducting, is_grain, gb_resistive)
    cell_dofs = dofs["cell_dofs"]
    n_dofs = dofs["n_dofs"]
    gb_g = props.gb_conductance_m2 * grid.face_area_m2
    gb_pairs = dofs["gb_dofs"][dofs["gb_dofs"][:, 0] != dofs["gb_dofs"][:, 1]]

    cell, electrode, axis, side = electrode_faces(case, micro, cell_of_voxel)
    contact_dof = cell_dofs[cell, 2 * axis + (side > 0)]
    resistance_area = contact_resistance_area(
        case, electrode, tensor_table[tensor_index[cell], axis, axis])
    dirichlet = resistance_area == 0
    dof_electrode = np.full(n_dofs, -1, dtype=np.int64)
    dof_electrode[contact_dof[dirichlet]] = electrode[dirichlet]
    robin = ~dirichlet
    robin_g = grid.face_area_m2 / resistance_area[robin]

    pair_i, pair_j = np.triu_indices(2 * ndim, k=1)
    couplings = {
        "a": np.concatenate([cell_dofs[:, pair_i].ravel(), gb_pairs[:, 0]]),
        "b": np.concatenate([cell_dofs[:, pair_j].ravel(), gb_pairs[:, 1]]),
        "value": np.concatenate([local[:, pair_i, pair_j][tensor_index].ravel(),
                                 np.full(len(gb_pairs), -gb_g)]),
    }
    reduced = eliminate_dirichlet(len(case.electrodes), n_dofs, couplings, dof_electrode,
                                  contact_dof[robin], electrode[robin], robin_g)
    return MixedOperator(
        shape=shape, voxel_size_m=h, voxel_volume_m3=grid.voxel_volume_m3,
        face_area_m2=grid.face_area_m2, cell_voxel=cell_voxel, cell_dofs=cell_dofs,
        cell_tensor_index=tensor_index,
        cell_grain=micro.grain_index.ravel()[cell_voxel].astype(np.int32),
        tensor_table=tensor_table, local_matrix=local,
        potential_weights=weights, mass_matrix=mass, dof_unknown=reduced.dof_unknown,
        dof_electrode=dof_electrode, matrix=reduced.matrix,
        electrode_link_node=reduced.electrode_link_node,
        electrode_link_electrode=reduced.electrode_link_electrode,
        electrode_link_conductance=reduced.electrode_link_conductance,
        electrode_coupling=reduced.electrode_coupling,
        gb_face_voxels=dofs["gb_voxels"], gb_face_axis=dofs["gb_axis"],
        gb_face_dofs=dofs["gb_dofs"],
        gb_face_conductance=np.where(dofs["gb_dofs"][:, 0] != dofs["gb_dofs"][:, 1], gb_g,
                                     np.inf),
        robin_dof=contact_dof[robin], robin_electrode=electrode[robin],
        robin_conductance=robin_g, contact_face_electrode=electrode,
        n_electrodes=len(case.electrodes))


def _face_dofs(micro: Microstructure, conducting: np.ndarray, is_grain: np.ndarray,
               gb_resistive: bool) -> dict:
    """Face dofs of every element and the GB faces (sorted by axis, then lower voxel).

    Loops over the d axes; each pass is vectorized over the faces normal to that axis."""
    shape = conducting.shape
    ndim = len(shape)
    labels = micro.labels
    n_dofs = 0
    cell_dofs = np.empty((int(conducting.sum()), 2 * ndim), dtype=np.int64)
    gb_voxels, gb_axis, gb_dofs = [], [], []
    for axis in range(ndim):
        def along(part: slice) -> tuple:  # index `part` along this axis, everything elsewhere
            return tuple(part if a == axis else slice(None) for a in range(ndim))

        width = [(0, 0)] * ndim
        width[axis] = (1, 1)
        padded = np.pad(conducting, width)
        grain = np.pad(is_grain & conducting, width)
        label = np.pad(labels, width)
        n = shape[axis]
        # face k of this axis lies between voxels k - 1 and k (padding outside the grid)
        lower, upper = along(slice(0, n + 1)), along(slice(1, n + 2))
        used = padded[lower] | padded[upper]
        gb = grain[lower] & grain[upper] & (label[lower] != label[upper])
        first = np.full(used.shape, -1, dtype=np.int64)
        first[used] = n_dofs + np.arange(int(used.sum()))
        n_dofs += int(used.sum())
        second = first.copy()
        if gb_resistive:
            second[gb] = n_dofs + np.arange(int(gb.sum()))
            n_dofs += int(gb.sum())
        # the - face of voxel x is face x (its upper side), the + face is face x + 1
        cell_dofs[:, 2 * axis] = second[along(slice(0, n))][conducting]
        cell_dofs[:, 2 * axis + 1] = first[along(slice(1, n + 1))][conducting]
        inner = along(slice(1, n))  # faces between two voxels; position = the lower voxel
        lower_voxel = np.ravel_multi_index(np.nonzero(gb[inner]), shape)
        stride = int(np.prod(shape[axis + 1:]))
        gb_voxels.append(np.stack([lower_voxel, lower_voxel + stride], axis=1))
        gb_axis.append(np.full(len(lower_voxel), axis, dtype=np.int8))
        gb_dofs.append(np.stack([first[inner][gb[inner]], second[inner][gb[inner]]], axis=1))
    return {"cell_dofs": cell_dofs, "n_dofs": n_dofs,
            "gb_voxels": np.concatenate(gb_voxels), "gb_axis": np.concatenate(gb_axis),
            "gb_dofs": np.concatenate(gb_dofs)}


# --------------------------------------------------------------------------- fields


def compute_mixed_fields(op: MixedOperator, solution: NetworkSolution,
                         electrode_index: np.ndarray | None = None) -> Fields:
    """Voxel fields and GB face currents of the mixed solution.

    potential = the element potential u_K; J = the voxel mean of the RT0 flux,
    ``J_a = (F_a+ - F_a-) / (2 A)``; E = S^-1 J (the voxel mean of the field of the flux). GB
    face current = the mean of the two sides' fluxes through the face (+ lower -> upper; equal
    to the solver's residual); jump = lower-side - upper-side face potential. Joule power = sum
    of F.M.F over the elements + GB resistors + contact resistances.
    """
    ndim = op.ndim
    lam = op.dof_potential(solution)
    floating = op.cell_floating(solution.floating)
    cell_lam = lam[op.cell_dofs]
    flux = -np.einsum("kij,kj->ki", op.local_matrix[op.cell_tensor_index], cell_lam)
    flux[floating] = np.nan
    cell_u = np.einsum("ki,ki->k", op.potential_weights[op.cell_tensor_index], cell_lam)
    cell_u[floating] = np.nan
    current = (flux[:, 1::2] - flux[:, 0::2]) / (2.0 * op.face_area_m2)
    resistivity = np.linalg.inv(op.tensor_table)[op.cell_tensor_index]
    field = np.einsum("kab,kb->ka", resistivity, current)

    safe = np.nan_to_num(flux)
    joule = float(np.einsum("ki,kij,kj->", safe, op.mass_matrix[op.cell_tensor_index], safe))
    gb = op.gb_face_dofs
    resistive = gb[:, 0] != gb[:, 1]
    gb_drop = lam[gb[:, 0]] - lam[gb[:, 1]]
    joule += float(np.sum(op.gb_face_conductance[resistive] * np.nan_to_num(gb_drop[resistive])
                          ** 2))
    robin_drop = solution.electrode_potential[op.robin_electrode] - lam[op.robin_dof]
    joule += float(np.sum(op.robin_conductance * np.nan_to_num(robin_drop) ** 2))

    e_current = op.electrode_link_conductance * (
        solution.electrode_potential[op.electrode_link_electrode]
        - solution.node_potential[op.electrode_link_node])

    n_vox = int(np.prod(op.shape))
    potential, current_density, electric_field = voxel_grids(
        op.shape, op.cell_voxel, cell_u, current, field, solution, electrode_index)

    cell_of_voxel = np.full(n_vox, -1, dtype=np.int64)
    cell_of_voxel[op.cell_voxel] = np.arange(op.n_cells)
    lower = cell_of_voxel[op.gb_face_voxels[:, 0]]
    upper = cell_of_voxel[op.gb_face_voxels[:, 1]]
    axis = op.gb_face_axis.astype(np.int64)
    face_current = 0.5 * (flux[lower, 2 * axis + 1] - flux[upper, 2 * axis])
    face_jump = np.where(resistive, gb_drop, 0.0)
    keep = ~floating[lower]
    return Fields(
        potential=potential, current_density=current_density, electric_field=electric_field,
        link_current=np.zeros(0), electrode_link_current=e_current,
        gb_potential_jump=np.zeros(0), joule_power_W=joule,
        gb_face_voxels=op.gb_face_voxels[keep], gb_face_axis=op.gb_face_axis[keep],
        gb_face_current=face_current[keep], gb_face_jump=face_jump[keep])

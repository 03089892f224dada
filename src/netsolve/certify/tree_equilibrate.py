"""The stream-function lower bound (:mod:`.equilibrate`) on a 2:1-balanced quadtree (2D): the
tree's mixed (RT0) flux plus ``curl(psi) / t`` with psi a continuous biquadratic stream
function (A) on the leaves.

psi is single-valued at every node position (one copy per point, across GB faces too: the
normal flux ``d psi / ds / t`` stays continuous there), and on a coarse side that meets two
finer leaves the fine sides' midpoints follow the coarse side's quadratic trace (the same
constraints as the potential of :mod:`.tree_reconstruct`, on every hanging side), so the traces
of both sides agree point-wise and the corrected flux keeps a continuous normal component
through every segment; it stays divergence-free in every leaf. psi = 0 on every open side that
is no contact (outer walls, non-conducting voxels) and where contacts of two electrode groups
meet, which keeps each group's current, hence V . I. The dissipation

    W(psi) = sum_K int_K J . S^-1 J + sum_GB int R j_n^2 + sum_Robin int r j_n^2   (W)

is a quadratic in psi with exact terms (3-point Gauss in the leaves, exact 1D integrals on the
segments), minimized from psi = 0 (the RT0 flux: its own dissipation) by the Jacobi-CG of
:func:`.reconstruct.minimize`; ``(V . I)^2 / W`` of any psi reached is a lower bound of the
power (Thomson's principle).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ..case import Case
from ..microstructure import Microstructure
from ..solve import NetworkSolution
from .equilibrate import FACE_STIFFNESS, NORMAL_SIGN, bulk_terms
from .quadtree import FINE, Quadtree
from .reconstruct import FACE_NODES, MAX_ITERATIONS, minimize, tensor_coefficients
from .tree_common import TreeMaterial, contact_sides
from .tree_mixed import TreeMixedOperator, _segment_flux
from .tree_reconstruct import TreeQuadraticForm, _segment_trace, constrained_space


def _point_keys(tree: Quadtree) -> np.ndarray:
    """(n_leaves, 9): one key per node position (half-step lattice)."""
    size = tree.size
    keys = np.empty((tree.n_leaves, 9), dtype=np.int64)
    for i in range(3):
        for j in range(3):
            keys[:, 3 * i + j] = ((2 * tree.x0 + i * size) << 31) | (2 * tree.y0 + j * size)
    return keys


def tree_stream_form(case: Case, micro: Microstructure, dual: TreeMixedOperator,
                     dual_solution: NetworkSolution, material: TreeMaterial,
                     group: np.ndarray | None = None) -> TreeQuadraticForm:
    """W(psi) (W) of the tree's mixed flux plus ``curl(psi) / t`` (module doc). ``group``
    (n_electrodes,): electrodes whose currents may trade (default: each its own)."""
    tree = dual.tree
    n = tree.n_leaves
    t = case.grid.thickness_m
    h = tree.size * (case.grid.voxel_size_m / FINE)  # leaf side (m)
    prolongation, key_index, dof_of_key = constrained_space(tree, _point_keys(tree), None)
    flux = np.nan_to_num(dual.leaf_fluxes(dual_solution))  # (n, 4) outward, A
    area = h * t
    table = dual.tensor_table
    rotated = table / np.linalg.det(table)[:, None, None]  # Rot^T S^-1 Rot
    coefficients = tensor_coefficients(rotated)[dual.leaf_tensor] / t
    resistivity = np.linalg.inv(table)[dual.leaf_tensor]
    w0, linear_local = bulk_terms(flux, resistivity, h, area, t)
    linear = prolongation.T @ linear_local.ravel()

    faces = []
    segs = dual.segs
    rows = np.flatnonzero(np.isfinite(dual.segment_conductance))
    if len(rows):  # GB segments with a resistor: int R (j0 + s dpsi/ds / t)^2 t ds
        trace = _segment_trace(tree, segs, rows, segs.lower[rows], 1)[0] @ prolongation
        seg_area = segs.length[rows] * (case.grid.voxel_size_m / FINE) * t
        density = _segment_flux(dual, flux)[rows] / seg_area
        r_area = seg_area / dual.segment_conductance[rows]
        sign = NORMAL_SIGN[2 * segs.axis[rows].astype(np.int64) + 1]
        w0, linear = _face_terms(faces, trace.tocsr(), density, sign, r_area, seg_area, w0,
                                 linear)
    if len(dual.robin_leaf):  # resistive contacts: the outward density and normal's sign
        leaf, side = dual.robin_leaf, dual.robin_side
        local_rows = FACE_NODES[side] * n + leaf[:, None]
        m = len(leaf)
        pick = sp.csr_matrix((np.ones(3 * m), (np.arange(3 * m), local_rows.ravel())),
                             shape=(3 * m, 9 * n)) @ prolongation
        sign = NORMAL_SIGN[side] * np.where(side % 2 == 1, 1.0, -1.0)
        w0, linear = _face_terms(faces, pick.tocsr(), flux[leaf, side] / area[leaf], sign,
                                 area[leaf] / dual.robin_conductance, area[leaf], w0, linear)
    fixed = _fixed(case, micro, tree, material, key_index, dof_of_key, prolongation.shape[1],
                   group)
    return TreeQuadraticForm(prolongation, np.ascontiguousarray(coefficients.T), tuple(faces),
                             fixed, linear=linear, constant=w0)


def _face_terms(faces, matrix, density, sign, r_area, area, w0, linear):
    """Add ``int r (j0 + sign dpsi/ds / t)^2 dA`` per face; ``matrix`` (3 m, n_dofs): psi at
    the face's start, middle and end."""
    w0 += float(np.sum(r_area * density**2 * area))
    ends = np.zeros((len(density), 3))
    ends[:, 0], ends[:, 2] = -1.0, 1.0  # the integral of dpsi/ds: psi_end - psi_start
    linear = linear + matrix.T @ (ends * (r_area * density * sign)[:, None]).ravel()
    faces.append({"matrix": matrix, "offset": None, "mass": FACE_STIFFNESS,
                  "weight": r_area / area})
    return w0, linear


def _fixed(case, micro, tree, material, key_index, dof_of_key, n_dofs, group) -> np.ndarray:
    """psi = 0 on the open sides that are no contact and where two groups' contacts meet."""
    contacts = contact_sides(tree, case, micro, material)
    n_e = len(case.electrodes)
    group = np.arange(n_e) if group is None else np.asarray(group)
    fixed = np.zeros(n_dofs, dtype=bool)
    is_contact = np.zeros((tree.n_leaves, 4), dtype=bool)
    is_contact[contacts["leaf"], contacts["side"]] = True
    for side in range(4):
        first, _ = tree.neighbours(side)
        wall = np.flatnonzero((first < 0) & ~is_contact[:, side])
        dofs = dof_of_key[key_index[wall[:, None], FACE_NODES[side]]].ravel()
        fixed[dofs[dofs >= 0]] = True  # (hanging midpoints lie on no open side)
    on = dof_of_key[key_index[contacts["leaf"][:, None], FACE_NODES[contacts["side"]]]].ravel()
    which = np.repeat(group[contacts["electrode"]], 3)[on >= 0]
    on = on[on >= 0]
    lowest = np.full(n_dofs, np.iinfo(np.int64).max)
    highest = np.full(n_dofs, -1)
    np.minimum.at(lowest, on, which)
    np.maximum.at(highest, on, which)
    return fixed | ((highest >= 0) & (lowest != highest))


def tree_equilibrated_dissipation(case: Case, micro: Microstructure, dual: TreeMixedOperator,
                                  dual_solution: NetworkSolution, material: TreeMaterial,
                                  group: np.ndarray | None = None,
                                  iterations: int = MAX_ITERATIONS) -> tuple[float, float]:
    """(W0, W): the dissipation of the tree's mixed flux and of the corrected flux after at
    most ``iterations`` CG steps on psi (W <= W0 up to rounding)."""
    form = tree_stream_form(case, micro, dual, dual_solution, material, group)
    psi0 = np.zeros(form.n_dofs)
    with threadpool_limits(limits=1, user_api="blas"):  # tree_reconstruct: why
        psi = minimize(form, psi0, iterations)
    return form.value(psi0), min(form.value(psi), form.value(psi0))

"""A better equilibrated flux for the lower bound on the 2D voxel grid: the mixed (RT0)
solution's flux plus the curl of a continuous biquadratic stream function.

Thomson's principle bounds the power from below by ``(V . I)^2 / W(J)`` for every flux J that
is divergence-free in every voxel, has continuous normal components across faces, carries no
current through insulating faces and delivers the electrode currents I (W: its dissipation,
bulk ``int J . S^-1 J`` plus ``int R j_n^2`` on GB faces with a resistor and ``int r j_n^2`` on
resistive contacts). In 2D every ``J_RT0 + curl(psi) / t`` (t: the lamella thickness, psi in A)
with psi continuous is divergence-free with continuous normal components; psi = 0 on the
insulating boundary (outer walls, non-conducting voxels: also on the boundary of every hole,
a choice of the constant there) adds no current through it; and psi = 0 at the ends of every
contact segment keeps each electrode's current (the flux through a segment is t x the
difference of psi between its ends) while letting the current redistribute along the
contact. So every such flux bounds from below with the same V . I.

psi lives on the lattice of the voxels' corners, edge midpoints and centres (one Q2 element per
conducting voxel, single-valued: the normal flux stays continuous across GB faces too). Its
contribution is quadratic, ``W(psi) = W0 + 2 c . psi + psi . B psi`` with
``int curl psi . S^-1 curl psi = int grad psi . (S / det S) grad psi`` (2 x 2 S), so B is a Q2
stiffness matrix and the minimization the same conjugate-gradient descent as the potential's
(:mod:`.reconstruct`). W is then evaluated from its exact terms. Units: W.
"""

from __future__ import annotations

import numpy as np

from ..discretization.mixed import MixedOperator
from ..solve import NetworkSolution
from .reconstruct import (FACE_NODES, GAUSS3, MAX_ITERATIONS, QuadraticForm, _lagrange_1d,
                          minimize, robin_faces, tensor_coefficients)

# 1D stiffness int l_i' l_j' of the quadratic Lagrange basis on 0, 1/2, 1 (unit length)
FACE_STIFFNESS = np.array([[7.0, -8.0, 1.0], [-8.0, 16.0, -8.0], [1.0, -8.0, 7.0]]) / 3.0
# d psi / ds along a face (nodes FACE_NODES, s increasing) gives the flux density along the
# + axis normal: + for faces normal to x (J_x = d psi/dy / t), - for faces normal to y
NORMAL_SIGN = np.array([1.0, 1.0, -1.0, -1.0])


def _lattice_nodes(shape: tuple[int, int], cell_voxel: np.ndarray) -> np.ndarray:
    """(n_cells, 9) lattice node of every local node (3 * ix + iy) on the (2 nx + 1) x
    (2 ny + 1) lattice of corners, edge midpoints and centres."""
    i, j = np.unravel_index(cell_voxel, shape)
    ix, iy = np.divmod(np.arange(9), 3)
    return (2 * i[:, None] + ix) * (2 * shape[1] + 1) + 2 * j[:, None] + iy


def stream_form(dual: MixedOperator, dual_solution: NetworkSolution, thickness_m: float,
                flux_scale: float = 1.0, group: np.ndarray | None = None) -> QuadraticForm:
    """W(psi) (W) of the flux ``flux_scale x J_RT0 + curl(psi) / t`` (2D voxel grid).

    ``group`` (n_electrodes,): electrodes whose currents may trade (default: each its own);
    electrodes at one fixed potential may (V . I keeps its value), so psi is free where their
    contacts meet."""
    if dual.ndim != 2:
        raise ValueError("the stream-function correction is 2D only")
    h, t = dual.voxel_size_m, thickness_m
    area = dual.face_area_m2
    nodes = _lattice_nodes(dual.shape, dual.cell_voxel)
    n_lattice = (2 * dual.shape[0] + 1) * (2 * dual.shape[1] + 1)
    flux = np.nan_to_num(dual.cell_fluxes(dual_solution)) * flux_scale  # (n, 4) outward, A
    table = dual.tensor_table
    rotated = table / np.linalg.det(table)[:, None, None]  # Rot^T S^-1 Rot
    coefficients = tensor_coefficients(rotated)[dual.cell_tensor_index] / t

    resistivity = np.linalg.inv(table)[dual.cell_tensor_index]
    w0, local = bulk_terms(flux, resistivity, h, area, t)
    linear = np.bincount(nodes.ravel(), local.T.ravel(), n_lattice)

    faces = []
    # GB faces with a resistor: int R (j0 + s dpsi/ds / (h t))^2 t h ds
    cell_of_voxel = np.full(int(np.prod(dual.shape)), -1, dtype=np.int64)
    cell_of_voxel[dual.cell_voxel] = np.arange(dual.n_cells)
    resistive = np.isfinite(dual.gb_face_conductance)
    axis = dual.gb_face_axis[resistive].astype(np.int64)
    lower = cell_of_voxel[dual.gb_face_voxels[resistive, 0]]
    upper = cell_of_voxel[dual.gb_face_voxels[resistive, 1]]
    along = np.take_along_axis(nodes[lower], FACE_NODES[2 * axis + 1], axis=1)
    density = 0.5 * (flux[lower, 2 * axis + 1] - flux[upper, 2 * axis]) / area
    r_area = area / dual.gb_face_conductance[resistive]
    w0, linear = _face_terms(faces, along, density, NORMAL_SIGN[2 * axis + 1], r_area, area,
                             t, w0, linear)
    # resistive contacts: the outward density, the outward normal's sign
    cell, face = robin_faces(dual)
    along = np.take_along_axis(nodes[cell], FACE_NODES[face], axis=1)
    outward_sign = NORMAL_SIGN[face] * np.where(face % 2 == 1, 1.0, -1.0)
    w0, linear = _face_terms(faces, along, flux[cell, face] / area, outward_sign,
                             area / dual.robin_conductance, area, t, w0, linear)
    fixed = np.ones(n_lattice, dtype=bool)
    if group is None:
        group = np.arange(dual.n_electrodes)
    fixed[_free_lattice_nodes(dual, nodes, n_lattice, np.asarray(group))] = False
    return QuadraticForm(np.ascontiguousarray(nodes.T), np.ascontiguousarray(coefficients.T),
                         tuple(faces), fixed,
                         linear=linear, constant=w0)


def bulk_terms(flux: np.ndarray, resistivity: np.ndarray, h, area, t: float):
    """The bulk part of the corrected flux's dissipation: W0 (W), that of the RT0 flux J0, and
    the linear term per element node, (9, n) with n elements, from 3 x 3 Gauss points of J0
    (linear per component) and curl phi. ``flux`` (n, 4) outward face fluxes (A),
    ``resistivity`` (n, 2, 2) S^-1 (ohm m), ``h`` element side (m) and ``area`` face area
    (m^2), scalars or (n,), ``t`` thickness (m)."""
    n = len(flux)
    h = np.broadcast_to(np.asarray(h, float), (n,))
    area = np.broadcast_to(np.asarray(area, float), (n,))
    points, weights = GAUSS3
    value, slope = _lagrange_1d(points)
    local = np.zeros((9, n))
    w0 = 0.0
    for p in range(3):
        for q in range(3):
            jx = (-flux[:, 0] * (1 - points[p]) + flux[:, 1] * points[p]) / area
            jy = (-flux[:, 2] * (1 - points[q]) + flux[:, 3] * points[q]) / area
            e = np.einsum("kab,kb->ka", resistivity, np.stack([jx, jy], axis=1))  # S^-1 J0
            weight = weights[p] * weights[q]
            w0 += weight * t * float(np.sum(h * h * (jx * e[:, 0] + jy * e[:, 1])))
            # curl_ref phi = (d phi/dy, -d phi/dx) on the unit square; J_c = curl psi / (h t)
            dphi_dx = np.outer(slope[p], value[q]).ravel()
            dphi_dy = np.outer(value[p], slope[q]).ravel()
            local += (weight * h[:, None] * (e[:, :1] * dphi_dy[None]
                                             - e[:, 1:] * dphi_dx[None])).T
    return w0, local


def _face_terms(faces, along, density, sign, r_area, area, t, w0, linear):
    """Add ``int r (j0 + sign dpsi/ds / t)^2 dA`` over faces (area = length x t; on the unit
    face the quadratic part is ``(r / area) psi . FACE_STIFFNESS psi``) to ``faces``; returns
    W0 and c with their parts added."""
    if not len(along):
        return w0, linear
    w0 += float(np.sum(r_area * density**2 * area))
    # cross term: 2 r j0 sign (psi_end - psi_start) (the integral of dpsi/ds over the face)
    ends = np.stack([-np.ones(len(along)), np.zeros(len(along)), np.ones(len(along))], axis=1)
    linear = linear + np.bincount(along.ravel(), (ends * (r_area * density * sign)[:, None])
                                  .ravel(), len(linear))
    faces.append({"plus": along, "minus": None, "offset": None, "matrix": FACE_STIFFNESS,
                  "weight": r_area / area})
    return w0, linear


def _free_lattice_nodes(dual: MixedOperator, nodes: np.ndarray, n_lattice: int,
                        group: np.ndarray) -> np.ndarray:
    """Lattice nodes where psi may change: those of conducting voxels that lie on no
    insulating boundary face and on the contact faces of at most one electrode ``group``,
    away from the ends of each contact segment (the ends lie on insulating faces or between
    two groups)."""
    used = np.zeros(n_lattice, dtype=bool)
    used[nodes.ravel()] = True
    n_dofs = len(dual.dof_unknown)
    seen = np.bincount(dual.cell_dofs.ravel(), minlength=n_dofs)
    gb_sides = np.zeros(n_dofs, dtype=bool)
    gb_sides[dual.gb_face_dofs.ravel()] = True
    electrode = dual.dof_electrode.copy()
    electrode[dual.robin_dof] = dual.robin_electrode
    boundary = (seen[dual.cell_dofs] == 1) & ~gb_sides[dual.cell_dofs]  # (n, 4)
    contact = boundary & (electrode[dual.cell_dofs] >= 0)
    cell, face = np.nonzero(boundary & ~contact)
    blocked = np.zeros(n_lattice, dtype=bool)
    blocked[nodes[cell[:, None], FACE_NODES[face]].ravel()] = True
    cell, face = np.nonzero(contact)
    on = nodes[cell[:, None], FACE_NODES[face]]
    which = np.repeat(group[electrode[dual.cell_dofs[cell, face]]], 3)
    lowest = np.full(n_lattice, np.iinfo(np.int64).max)
    highest = np.full(n_lattice, -1)
    np.minimum.at(lowest, on.ravel(), which)
    np.maximum.at(highest, on.ravel(), which)
    blocked |= (highest >= 0) & (lowest != highest)
    return np.flatnonzero(used & ~blocked)


def equilibrated_dissipation(dual: MixedOperator, dual_solution: NetworkSolution,
                             thickness_m: float, flux_scale: float = 1.0,
                             group: np.ndarray | None = None,
                             iterations: int = MAX_ITERATIONS) -> tuple[float, float]:
    """(W0, W): the dissipation of the mixed flux (times ``flux_scale``) and of the corrected
    flux after at most ``iterations`` CG steps on psi (W <= W0 up to rounding)."""
    form = stream_form(dual, dual_solution, thickness_m, flux_scale, group)
    psi0 = np.zeros(form.n_dofs)
    psi = minimize(form, psi0, iterations)
    return form.value(psi0), min(form.value(psi), form.value(psi0))

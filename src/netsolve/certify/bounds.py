"""Two-sided bounds of the global results and the Prager-Synge error indicator, from a primal
(Q1, :mod:`netsolve.discretization.q1`) and a dual (hybridized RT0,
:mod:`netsolve.discretization.mixed`) solution of the same voxel map.

The voxel map with its GB resistors and contact resistances defines one exact answer. For
fixed electrode potentials V its dissipated power P(V) is

- at most the energy ``E(u_h)`` of any potential u_h that takes the electrode potentials on
  the Dirichlet contacts (Dirichlet principle): the Q1 solution's energy (its GB and contact
  terms lumped to the corners, which only adds: the trapezoidal rule over-integrates a square);
- at least ``(V . I)^2 / W`` for any flux J_h that is divergence-free in every voxel, has
  continuous normal components across faces, carries no current through insulating faces, and
  delivers the electrode currents I while dissipating W (Thomson's principle, optimally scaled):
  the mixed solution's flux.

For two electrodes the conductance G = P / dV^2 is bracketed the same way (Q1: E / dV_Q1^2, RT0:
I^2 / W, whatever drives the electrodes), and so is the effective resistance 1 / G.

Both bounds are bounds of the exact answer of the voxelized problem up to the solver residual
(the face equations of the mixed solve hold to ``balance_tol``), which the checks of
:mod:`netsolve.solve` keep below 1e-9 relative.

The indicator (hypercircle identity): per voxel

    eta_K^2 = int_K |S^1/2 grad u_h + S^-1/2 J_h|^2

plus, on GB faces and Robin contacts, ``int_f (|[u_h]| - R j)^2 / R`` split between the two
voxels. Its sum is E_exact(u_h) - (2 V.I - W), the part of the gap both solutions share: a map
of where the answer is uncertain. Integrated with 2-point Gauss rules (exact for these
polynomials). Units: W.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..discretization.mixed import MixedOperator
from ..discretization.q1 import FemOperator, _shape_gradients, corner_offsets
from ..solve import NetworkSolution

GAUSS_1D = 0.5 + np.array([-0.5, 0.5]) / np.sqrt(3.0)  # 2-point Gauss on [0, 1], weights 1/2


@dataclass(frozen=True)
class Bracket:
    """Lower and upper bounds of one global quantity; ``relative_gap`` = (upper - lower) /
    lower (NaN when the quantity has no bracket, with the ``reason``)."""

    lower: float
    upper: float
    reason: str | None = None

    @property
    def relative_gap(self) -> float:
        if self.reason is not None or not self.lower > 0:
            return float("nan")
        return (self.upper - self.lower) / self.lower

    def contains(self, value: float) -> bool:
        return self.reason is None and self.lower <= value <= self.upper

    def as_dict(self) -> dict:
        return {"lower": self.lower, "upper": self.upper, "relative_gap": self.relative_gap,
                "reason": self.reason}


NO_BRACKET = float("nan")


@dataclass(frozen=True)
class Certificate:
    """The brackets of a certified solve and the indicator per voxel.

    ``power_W``: the dissipated power (fixed electrode potentials, or two electrodes);
    ``conductance_S`` / ``resistance_ohm``: two electrodes only. ``indicator_W``: grid shape,
    eta_K^2 per voxel (W, NaN outside the conducting voxels), summing to ``indicator_total_W``.
    """

    power_W: Bracket
    conductance_S: Bracket
    resistance_ohm: Bracket
    indicator_W: np.ndarray
    primal_power_W: float
    dual_power_W: float
    refinement: object = None  # netsolve.certify.adaptive.Refinement, after refining
    # which potential gave the upper bound ("q1", or "q2": the Q2 potential of
    # :mod:`.reconstruct`) and which flux the lower ("rt0", or "rt0+curl": :mod:`.equilibrate`)
    upper_from: str = "q1"
    lower_from: str = "rt0"
    plain_gap: float = float("nan")  # the gap of the Q1 / RT0 bracket alone (the refinement's)

    @property
    def indicator_total_W(self) -> float:
        return float(np.nansum(self.indicator_W))

    @property
    def relative_gap(self) -> float:
        """The gap that decides whether the answer is certified: of the conductance for two
        electrodes, else of the power."""
        if self.conductance_S.reason is None:
            return self.conductance_S.relative_gap
        return self.power_W.relative_gap

    def summary(self) -> dict:
        return {"power_W": self.power_W.as_dict(),
                "conductance_S": self.conductance_S.as_dict(),
                "resistance_ohm": self.resistance_ohm.as_dict(),
                "relative_gap": self.relative_gap,
                "indicator_total_W": self.indicator_total_W,
                "upper_from": self.upper_from, "lower_from": self.lower_from,
                "plain_gap": self.plain_gap,
                "refinement": None if self.refinement is None else self.refinement.summary()}


def brackets(electrodes, primal_solution: NetworkSolution, primal_power_W: float,
             dual_solution: NetworkSolution, dual_power_W: float, touching=()):
    """The brackets of power, conductance and resistance from a primal solution with energy
    ``primal_power_W`` (E(u_h)) and a dual one dissipating ``dual_power_W`` (W of its flux);
    and the factor that scales the dual flux to the primal's electrode potentials (the
    hypercircle compares the two at one drive).

    The conductance G = P / dV^2 (and R_eff = 1 / G) is bracketed for two electrodes, or for
    fixed potentials that take two distinct values (electrodes at one potential act as one).
    ``touching``: pairs of electrodes whose Dirichlet contacts meet at a node; at different
    potentials the exact conductance is infinite and nothing is bracketed."""
    fixed = all(e.potential_V is not None for e in electrodes)
    potentials = {e.potential_V for e in electrodes}
    two = len(electrodes) == 2 or (fixed and len(potentials) == 2)
    v_q, v_m = primal_solution.electrode_potential, dual_solution.electrode_potential
    i_m = dual_solution.electrode_current
    delivered = float(v_m @ i_m)  # V . I of the flux (potentials relative to the offset)
    lower_power = delivered**2 / dual_power_W if dual_power_W > 0 else 0.0
    clash = [(a, b) for a, b in touching
             if fixed and electrodes[a].potential_V != electrodes[b].potential_V]
    if clash:
        a, b = clash[0]
        reason = (f"electrodes '{electrodes[a].name}' and '{electrodes[b].name}' touch at a "
                  f"voxel corner at different potentials: the exact conductance of the voxel "
                  f"map is infinite")
        none = Bracket(NO_BRACKET, NO_BRACKET, reason)
        return none, none, none, 1.0
    if fixed:
        power = Bracket(lower_power, primal_power_W)
    else:
        reason = "current-controlled electrodes with more than two electrodes"
        power = Bracket(NO_BRACKET, NO_BRACKET, None if two else reason)
    scale = 1.0
    if two and fixed:
        drop = max(potentials) - min(potentials)
        conductance = Bracket(lower_power / drop**2, primal_power_W / drop**2)
        resistance = Bracket(drop**2 / primal_power_W,
                             drop**2 / lower_power if lower_power > 0 else np.inf)
    elif two:
        drop_q = float(abs(v_q[0] - v_q[1]))
        current_m = float(0.5 * (abs(i_m[0]) + abs(i_m[1])))
        g_upper = primal_power_W / drop_q**2
        g_lower = current_m**2 / dual_power_W if dual_power_W > 0 else 0.0
        conductance = Bracket(g_lower, g_upper)
        resistance = Bracket(1.0 / g_upper, 1.0 / g_lower if g_lower > 0 else np.inf)
        current = float(abs(electrodes[0].current_A or electrodes[1].current_A))
        power = Bracket(current**2 / g_upper, current**2 / g_lower)
        scale = drop_q / float(abs(v_m[0] - v_m[1]))
    else:
        reason = ("the conductance and resistance are bracketed for two electrodes (or fixed "
                  "potentials of two values) only")
        conductance = Bracket(NO_BRACKET, NO_BRACKET, reason)
        resistance = Bracket(NO_BRACKET, NO_BRACKET, reason)
    return power, conductance, resistance, scale


def certify(electrodes, primal: FemOperator, primal_solution: NetworkSolution,
            primal_power_W: float, dual: MixedOperator, dual_solution: NetworkSolution,
            dual_power_W: float) -> Certificate:
    """The brackets and the indicator of a Q1 and a mixed solution of the same voxel map.

    ``primal_power_W``: the Q1 energy E(u_h) (its fields' Joule power); ``dual_power_W``: the
    dissipation W of the mixed flux (its fields' Joule power).

    In 2D the brackets use the better of the Q1 potential and the Q2 potential reached from it
    (:mod:`.reconstruct`: same electrode potentials, so the same statement), and the better of
    the RT0 flux and its stream-function correction (:mod:`.equilibrate`: same electrode
    currents); ``upper_from`` / ``lower_from`` say which. The indicator compares the Q1 and
    RT0 solutions (the refinement's guide)."""
    upper_from, lower_from = "q1", "rt0"
    upper_W, lower_W = primal_power_W, dual_power_W
    if primal.ndim == 2 and np.isfinite(primal_power_W) and np.isfinite(dual_power_W):
        from .equilibrate import equilibrated_dissipation
        from .reconstruct import reconstructed_energy

        energy = reconstructed_energy(primal, primal_solution, dual)
        if energy < upper_W:
            upper_W, upper_from = energy, "q2"
        thickness = dual.face_area_m2 / dual.voxel_size_m
        group = current_groups(electrodes)
        dissipation = equilibrated_dissipation(dual, dual_solution, thickness, group=group)[1]
        if dissipation < lower_W:
            lower_W, lower_from = dissipation, "rt0+curl"
    plain = brackets(electrodes, primal_solution, primal_power_W, dual_solution, dual_power_W,
                     primal.touching_electrodes)
    power, conductance, resistance, scale = brackets(electrodes, primal_solution, upper_W,
                                                     dual_solution, lower_W,
                                                     primal.touching_electrodes)
    indicator = prager_synge_indicator(primal, primal_solution, dual, dual_solution, scale)
    plain_gap = Certificate(*plain[:3], indicator, primal_power_W, dual_power_W).relative_gap
    return Certificate(power, conductance, resistance, indicator, primal_power_W, dual_power_W,
                       upper_from=upper_from, lower_from=lower_from, plain_gap=plain_gap)


def current_groups(electrodes) -> np.ndarray:
    """The group of every electrode whose currents an equilibrated flux may trade: each its
    own, or, when every electrode has a fixed potential, one group per potential (V . I
    keeps its value when electrodes at one potential trade current)."""
    if all(e.potential_V is not None for e in electrodes):
        return np.unique([e.potential_V for e in electrodes], return_inverse=True)[1]
    return np.arange(len(electrodes))


def tightest(first: Certificate, second: Certificate) -> Certificate:
    """``second`` with each bracket narrowed to its intersection with ``first``'s: both
    contain the exact answer of the same voxel map, so does their intersection (the voxel
    grid's reconstructed bounds may beat those of a refined mesh's plain Q1 / RT0)."""
    from dataclasses import replace

    def narrow(a: Bracket, b: Bracket) -> tuple[Bracket, bool, bool]:
        if a.reason is not None or b.reason is not None:
            return b, False, False
        return (Bracket(max(a.lower, b.lower), min(a.upper, b.upper)), a.lower > b.lower,
                a.upper < b.upper)

    power, _, _ = narrow(first.power_W, second.power_W)
    conductance, low, up = narrow(first.conductance_S, second.conductance_S)
    resistance, _, _ = narrow(first.resistance_ohm, second.resistance_ohm)
    if first.conductance_S.reason is not None:  # no conductance: the power decides
        _, low, up = narrow(first.power_W, second.power_W)
    return replace(second, power_W=power, conductance_S=conductance, resistance_ohm=resistance,
                   # the mesh's own Q1 / RT0 gap
                   plain_gap=(second.plain_gap if np.isfinite(second.plain_gap)
                              else second.relative_gap),
                   upper_from=f"voxels {first.upper_from}" if up else second.upper_from,
                   lower_from=f"voxels {first.lower_from}" if low else second.lower_from)


# --------------------------------------------------------------------------- indicator


def prager_synge_indicator(primal: FemOperator, primal_solution: NetworkSolution,
                           dual: MixedOperator, dual_solution: NetworkSolution,
                           flux_scale: float = 1.0) -> np.ndarray:
    """eta_K^2 per voxel (W; grid shape, NaN where no voxel conducts), see the module doc.
    ``flux_scale`` multiplies the dual flux (and its electrode potentials) so that both
    solutions belong to the same electrode potentials."""
    if not np.array_equal(primal.element_voxel, dual.cell_voxel):
        raise ValueError("the primal and dual operators must discretize the same voxels")
    h = primal.voxel_size_m
    u = primal.copy_potential(primal_solution)[primal.element_nodes]  # (n, 2^d)
    flux = dual.cell_fluxes(dual_solution) * flux_scale  # (n, 2d) outward
    ok = np.isfinite(u).all(axis=1) & np.isfinite(flux).all(axis=1)
    u, flux = np.where(ok[:, None], u, 0.0), np.where(ok[:, None], flux, 0.0)
    eta = element_terms(u, flux, primal.tensor_table[primal.element_tensor_index],
                        np.full(len(u), h), np.full(len(u), dual.face_area_m2),
                        np.full(len(u), primal.voxel_volume_m3))
    eta += _interface_terms(primal, dual, dual_solution, u, flux, flux_scale)
    out = np.full(int(np.prod(primal.shape)), np.nan)
    out[primal.element_voxel] = np.where(ok, eta, np.nan)
    return out.reshape(primal.shape)


def element_terms(u: np.ndarray, flux: np.ndarray, tensor: np.ndarray, size: np.ndarray,
                  face_area: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """int_K |S^1/2 grad u + S^-1/2 J|^2 per element (W) by 2-point Gauss per direction:
    ``u`` (n, 2^d) Q1 corner potentials (V), ``flux`` (n, 2d) outward RT0 fluxes (A),
    ``tensor`` (n, d, d) S/m, element ``size`` (m), ``face_area`` (m^2), ``volume`` (m^3)."""
    ndim = tensor.shape[-1]
    offsets = corner_offsets(ndim)
    resistivity = np.linalg.inv(tensor)
    eta = np.zeros(len(u))
    for point in itertools.product(GAUSS_1D, repeat=ndim):
        point = np.array(point)
        grad = (u @ _shape_gradients(point[None], offsets)[0].T) / size[:, None]  # (n, d)
        current = (flux[:, 1::2] * point - flux[:, 0::2] * (1.0 - point)) / face_area[:, None]
        mismatch = grad + np.einsum("nab,nb->na", resistivity, current)
        eta += np.einsum("na,nab,nb->n", mismatch, tensor, mismatch)
    return eta * volume / 2**ndim


def interface_term(trace_jump: np.ndarray, density: np.ndarray, resistance_area: np.ndarray,
                   area: np.ndarray) -> np.ndarray:
    """int_f (jump - R j)^2 / R per face (W): ``trace_jump`` (m, n_gauss) the primal potential
    jump at the face's Gauss points (V), ``density`` (m,) the dual normal flux density (A/m^2,
    the same direction), R = ``resistance_area`` (ohm m^2), face ``area`` (m^2)."""
    mismatch = trace_jump - resistance_area[:, None] * density[:, None]
    return (mismatch**2).mean(axis=1) * area / resistance_area


def _face_gauss_weights(ndim: int, axis: int) -> np.ndarray:
    """(n_points, 2^(d-1)): values of the face's bilinear corner functions at its Gauss points
    (corners in the order of :func:`~netsolve.discretization.q1._face_corners`)."""
    offsets = corner_offsets(ndim)
    face = offsets[offsets[:, axis] == 1]  # the other coordinates of the face corners
    others = [a for a in range(ndim) if a != axis]
    rows = []
    for point in itertools.product(GAUSS_1D, repeat=ndim - 1):
        values = np.ones(len(face))
        for p, a in zip(point, others):
            values *= np.where(face[:, a] == 1, p, 1.0 - p)
        rows.append(values)
    return np.array(rows)


def _interface_terms(primal, dual, dual_solution, u, flux, flux_scale) -> np.ndarray:
    """GB and Robin contact contributions to eta^2 per element (half of a GB face's to each
    side), integrated exactly with the face's Gauss points."""
    from ..discretization.q1 import _face_corners

    ndim = primal.ndim
    offsets = corner_offsets(ndim)
    area = dual.face_area_m2
    n_cells = len(u)
    eta = np.zeros(n_cells)
    element_of_voxel = np.full(int(np.prod(primal.shape)), -1, dtype=np.int64)
    element_of_voxel[primal.element_voxel] = np.arange(n_cells)
    gb_g = dual.gb_face_conductance
    resistive = np.isfinite(gb_g)
    for axis in range(ndim):
        weights = _face_gauss_weights(ndim, axis)
        rows = np.flatnonzero((dual.gb_face_axis == axis) & resistive)
        lower = element_of_voxel[dual.gb_face_voxels[rows, 0]]
        upper = element_of_voxel[dual.gb_face_voxels[rows, 1]]
        jump = u[lower][:, _face_corners(offsets, axis, 1)] \
            - u[upper][:, _face_corners(offsets, axis, -1)]
        density = 0.5 * (flux[lower, 2 * axis + 1] - flux[upper, 2 * axis]) / area
        term = interface_term(jump @ weights.T, density, area / gb_g[rows],
                              np.full(len(rows), area))
        np.add.at(eta, lower, 0.5 * term)
        np.add.at(eta, upper, 0.5 * term)
    if len(dual.robin_dof):
        eta += _robin_terms(primal, dual, dual_solution, u, flux, flux_scale)
    return eta


def _robin_terms(primal, dual, dual_solution, u, flux, flux_scale) -> np.ndarray:
    """Contact faces with a resistance: ``int (V - u_h - r j_in)^2 / r``."""
    from ..discretization.q1 import _face_corners

    ndim = primal.ndim
    offsets = corner_offsets(ndim)
    area = dual.face_area_m2
    cell_of_dof = np.full(len(dual.dof_unknown), -1, dtype=np.int64)
    local_of_dof = np.full(len(dual.dof_unknown), -1, dtype=np.int64)
    for local in range(2 * ndim):
        cell_of_dof[dual.cell_dofs[:, local]] = np.arange(dual.n_cells)
        local_of_dof[dual.cell_dofs[:, local]] = local
    cell = cell_of_dof[dual.robin_dof]
    local = local_of_dof[dual.robin_dof]
    r_area = area / dual.robin_conductance
    potential = dual_solution.electrode_potential[dual.robin_electrode] * flux_scale
    eta = np.zeros(len(u))
    for face in range(2 * ndim):
        axis, side = divmod(face, 2)
        rows = np.flatnonzero(local == face)
        corners = _face_corners(offsets, axis, 1 if side else -1)
        weights = _face_gauss_weights(ndim, axis)
        u_face = u[cell[rows]][:, corners] @ weights.T
        inflow = -flux[cell[rows], face] / area
        np.add.at(eta, cell[rows], interface_term(potential[rows, None] - u_face, inflow,
                                                  r_area[rows], np.full(len(rows), area)))
    return eta

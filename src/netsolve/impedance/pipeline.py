"""Case -> impedance spectrum: the DC stages, the AC network, the frequency sweep and the
spectrum analysis (``netsolve impedance``)."""

from __future__ import annotations


import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..case import Case, load_case
from ..errors import CaseError
from ..microstructure import build_microstructure
from ..discretization.tpfa import build_network
from ..properties import compute_properties
from .admittance import AdmittanceNetwork, build_admittance
from .arcs import ArcFit, fit_arcs
from .options import ImpedanceOptions, default_options, frequencies
from .response import Response, build_owners, compute_response
from .spectrum import DRT, KKCheck, arc_summits, compute_drt, lin_kk
from .system import build_terminal_system

WINDOW_MARGIN_DECADES = 2  # default window: this far beyond the extreme time constants


@dataclass(frozen=True)
class ImpedanceResult:
    """A computed spectrum (``response`` over ``frequency_Hz``), its checks and analysis, and
    the shares of Z at ``contributions`` (a Response over the contribution frequencies)."""

    case: Case
    options: ImpedanceOptions
    response: Response
    contributions: Response
    kk: KKCheck
    drt: DRT | None
    arcs: list[dict]
    n_unknowns: int
    method: str
    arc_fit: ArcFit | None = None  # one ideal RC per arc (netsolve.impedance.arcs)

    @property
    def frequency_Hz(self) -> np.ndarray:
        return self.response.frequency_Hz

    @property
    def impedance_ohm(self) -> np.ndarray:
        return self.response.impedance_ohm


def two_point_case(case: Case) -> Case:
    """``case`` on the two-point network, where spectra are computed: a case that left
    ``[solver] discretization`` to its default gets "tpfa" (no bounds); one that asks for
    another discretization is refused."""
    solver = case.solver
    if solver.discretization == "tpfa":
        return case
    if solver.discretization_given:
        raise CaseError(f"{case.label}: 'solver.discretization' = "
                        f"\"{solver.discretization}\": impedance spectra are computed on the "
                        f"two-point network; set [solver] discretization = \"tpfa\" (or leave "
                        f"it out)")
    return replace(case, solver=replace(solver, discretization="tpfa", bounds=False))


def compute_impedance(case: Case | str | Path) -> ImpedanceResult:
    """The impedance spectrum of a case between its ``[impedance] terminals``."""
    if not isinstance(case, Case):
        case = load_case(case)
    case = two_point_case(case)
    options = case.impedance if case.impedance is not None else default_options(case)
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    network = build_network(case, micro, props)
    model = build_admittance(case, micro, props, network)
    names = tuple(e.name for e in case.electrodes)
    system = build_terminal_system(network, names, options.terminals, case.label)
    f_min, f_max = spectrum_window(model, options)
    freqs = frequencies(f_min, f_max, options.points_per_decade)
    owners = build_owners(micro, model)
    response = compute_response(model, system, owners, freqs, options, case.label)
    _check_finite(response, case.label)
    arcs = arc_summits(freqs, response.impedance_ohm)
    kk = lin_kk(freqs, response.impedance_ohm, options.kk_tolerance)
    drt = (compute_drt(freqs, response.impedance_ohm, options.drt_tolerance, options.drt_lambda)
           if options.drt else None)
    at = (np.array(options.contribution_frequencies_Hz) if options.contribution_frequencies_Hz
          else _feature_frequencies(freqs, arcs, drt))
    contributions = _select(response, at)
    if contributions is None:  # frequencies off the grid: solve them
        contributions = compute_response(model, system, owners, at, options, case.label)
        _check_finite(contributions, case.label)
    arc_fit = fit_arcs(freqs, response.impedance_ohm, drt,
                       {"bulk": response.bulk_ohm, "gb": response.gb_ohm,
                        "contact": response.contact_ohm})
    return ImpedanceResult(case, options, response, contributions, kk, drt, arcs,
                           system.n_unknowns, response.stats[0].method, arc_fit)


def spectrum_window(model: AdmittanceNetwork, options: ImpedanceOptions) -> tuple[float, float]:
    """(f_min, f_max) in Hz: the options' values, else WINDOW_MARGIN_DECADES beyond the
    slowest and fastest relaxation times of the phases present (eps/sigma of the voxels per
    axis, the thin-film eps/S3_zz, R_GB C_GB, R_ct C_dl), rounded out to whole decades."""
    taus = [(model.node_eps[:, None] / model.node_sigma).ravel()]
    film = model.node_film_coupling.any(axis=1)
    taus.append(model.node_eps[film] / model.node_film_sigma_z[film])
    taus.append((model.link_gb_resistance * model.link_gb_capacitance)[
        model.link_gb_capacitance > 0])
    taus.append((model.electrode_contact_resistance * model.electrode_contact_capacitance)[
        model.electrode_contact_capacitance > 0])
    tau = np.concatenate(taus)
    tau = tau[np.isfinite(tau) & (tau > 0)]
    f_lo = 1 / (2 * np.pi * tau.max())
    f_hi = 1 / (2 * np.pi * tau.min())
    f_min = options.f_min_Hz if options.f_min_Hz is not None else 10.0 ** math.floor(
        math.log10(f_lo) - WINDOW_MARGIN_DECADES)
    f_max = options.f_max_Hz if options.f_max_Hz is not None else 10.0 ** math.ceil(
        math.log10(f_hi) + WINDOW_MARGIN_DECADES)
    if not f_min < f_max:
        raise CaseError(f"impedance: the frequency range [{f_min:g}, {f_max:g}] Hz is empty or "
                        f"inverted (set both impedance.f_min_Hz and impedance.f_max_Hz)")
    return f_min, f_max


def _feature_frequencies(freqs: np.ndarray, arcs: list[dict], drt: DRT | None) -> np.ndarray:
    """The arc summits and the grid frequencies nearest the DRT peaks inside the window (a DRT
    peak also resolves an arc that shows only as a shoulder), ascending, without repeats."""
    chosen = [a["frequency_Hz"] for a in arcs]
    for peak in drt.peaks() if drt is not None else ():
        f = peak["frequency_Hz"]
        if freqs[0] <= f <= freqs[-1]:
            chosen.append(float(freqs[np.argmin(np.abs(np.log(freqs / f)))]))
    return np.unique(chosen)


def _select(response: Response, at: np.ndarray) -> Response | None:
    """The rows of ``response`` at the frequencies ``at`` when all of them are on its grid."""
    rows = [np.flatnonzero(np.isclose(response.frequency_Hz, f, rtol=1e-12)) for f in at]
    if not all(len(r) for r in rows):
        return None
    rows = np.array([r[0] for r in rows])
    return Response(response.frequency_Hz[rows], response.impedance_ohm[rows],
                    response.grain_share[rows], response.gb_share[rows],
                    response.contact_share[rows], response.current_balance_rel[rows],
                    response.share_balance_rel[rows],
                    tuple(response.stats[r] for r in rows), response.owners)


def _check_finite(response: Response, origin: str) -> None:
    if not np.all(np.isfinite(response.impedance_ohm)):
        bad = response.frequency_Hz[~np.isfinite(response.impedance_ohm)][0]
        raise CaseError(f"{origin}: the impedance at {bad:g} Hz is not finite (the terminals "
                        f"carry no current there)")

"""The arcs of a spectrum as ideal RC elements: summit frequency (Hz), resistance (ohm),
capacitance (F), and which kind of part (bulk, GB, contact) makes each arc.

The impedance of the two-point RC network is exactly ``R_inf + sum_k R_k / (1 + i omega
tau_k)`` (its Foster form, ``spectrum.py``). An arc is taken to be one such element:

1. **Where the arcs are.** Every local maximum of -Z'' (:func:`spectrum.arc_summits`, the
   same detection as ``netsolve impedance``), refined by a local Debye fit through the three
   grid points around it (``1 / -Z'' = a omega + b / omega`` holds exactly for one RC, with
   tau = sqrt(a / b)); plus every DRT peak inside the window that holds at least
   ``SHOULDER_SHARE`` of the DRT's resistance and lies more than ``SHOULDER_DECADES`` from all
   maxima (an arc that shows only as a shoulder); and where -Z'' still rises at an end of the
   window, an arc whose summit lies beyond it (fitted from its tail: its frequency lies
   outside the window, an extrapolation; widen the window to see it whole).
2. **How large they are.** ``R_inf + sum_k R_k / (1 + i omega tau_k)`` with one element per
   arc is fitted to the whole spectrum with modulus weighting 1/|Z| by variable projection:
   for given tau_k the resistances are a non-negative linear least-squares problem
   (``scipy.optimize.nnls``), the tau_k are optimized by ``scipy.optimize.least_squares``
   from the estimates of step 1. Elements the fit leaves without resistance, or on the time
   constant of another, are dropped.

The summit frequency of arc k is 1/(2 pi tau_k), where that element alone has its -Z''
maximum; its capacitance is tau_k / R_k. When the spectrum is exactly as many RC elements as
there are arcs (a homogeneous slab, a bicrystal, layers in series) the fit reproduces
tau_k and R_k to rounding, independently of the frequency grid: no interpolation error
(tests: 1e-9). When an arc is distributed (many GBs with different time constants), its
element is the single RC that fits it best: its summit lies near the arc's -Z'' maximum and
its R near the arc's chord; ``residual_rel`` (the largest |Z - Z_fit| / |Z|) says how far
the spectrum is from ideal arcs. Arcs are ordered from the highest frequency down (left to
right in a Nyquist plot).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, nnls

from .spectrum import DRT, _stacked, arc_summits, rc_basis

SHOULDER_SHARE = 0.02  # a DRT peak with at least this share of the DRT's resistance ...
SHOULDER_DECADES = 0.5  # ... this far from every -Z'' maximum is an arc of its own
SAME_DECADES = 1e-3  # elements closer than this (log10 tau) are merged
DEAD_SHARE = 1e-9  # an element with less of the total resistance is no arc
FIT_TOLERANCE = 1e-14  # least_squares xtol / ftol / gtol: to rounding on exact spectra
ORIGIN_MIN_PEAK = 0.1  # a part is an arc's origin only if its -Z'' reaches this x R_arc / 2


@dataclass(frozen=True)
class Arc:
    """One arc: ``frequency_Hz`` = 1/(2 pi tau), ``resistance_ohm`` R, ``capacitance_F``
    tau / R; ``origin``: "bulk", "gb" or "contact", the kind of part whose own -Z'' peaks at
    the summit (:func:`_origin`; "" when not known), ``origin_share`` that part's share of
    -Z'' at the grid frequency nearest the summit."""

    frequency_Hz: float
    resistance_ohm: float
    capacitance_F: float
    origin: str = ""
    origin_share: float = float("nan")


@dataclass(frozen=True)
class ArcFit:
    """The arcs (highest frequency first), the series resistance ``r_inf_ohm`` (the
    high-frequency intercept of the fitted elements) and the fit's largest relative residual
    |Z - Z_fit| / |Z|."""

    arcs: tuple[Arc, ...]
    r_inf_ohm: float
    residual_rel: float


def local_debye_tau(omega: np.ndarray, minus_imag: np.ndarray) -> float | None:
    """tau (s) of the single RC through three points of -Z'' (ohm) at omega (rad/s):
    1/-Z'' = a omega + b / omega, tau = sqrt(a / b); None when the points are not RC-shaped."""
    if np.any(minus_imag <= 0):
        return None
    centre = omega[1]
    u = omega / centre  # scaled so that both columns are of order one
    (a, b), *_ = np.linalg.lstsq(np.stack([u, 1 / u], axis=1), 1 / minus_imag, rcond=None)
    if not (a > 0 and b > 0):
        return None
    return float(np.sqrt(a / b) / centre)


def arc_candidates(frequency_Hz: np.ndarray, impedance: np.ndarray,
                   drt: DRT | None = None) -> np.ndarray:
    """Estimated tau (s) of every arc: -Z'' maxima refined by the local Debye fit, and the DRT
    shoulders (module docstring), ascending."""
    omega = 2 * np.pi * np.asarray(frequency_Hz, float)
    minus_imag = -impedance.imag
    if not np.any(minus_imag > 0):
        return np.zeros(0)

    def debye(k: int) -> float:
        """The local Debye tau of the three grid points around index k (clipped to the
        window), else 1/omega there."""
        start = min(max(k - 1, 0), len(omega) - 3)
        tau = local_debye_tau(omega[start:start + 3], minus_imag[start:start + 3]) \
            if len(omega) >= 3 else None
        return tau if tau is not None else float(1 / omega[k])

    def far(tau: float) -> bool:
        return all(abs(np.log10(tau / t)) > SHOULDER_DECADES for t in taus)

    taus: list[float] = []
    for summit in arc_summits(frequency_Hz, impedance):
        taus.append(debye(int(np.argmin(np.abs(frequency_Hz - summit["frequency_Hz"])))))
    # -Z'' still rising at an end of the window: an arc whose summit lies beyond it
    for end, inner in ((0, 1), (len(omega) - 1, len(omega) - 2)):
        if len(omega) >= 3 and minus_imag[end] > max(minus_imag[inner], 0):
            tau = debye(end)
            if far(tau):
                taus.append(tau)
    if drt is not None:
        peaks = drt.peaks()
        total = sum(p["resistance_ohm"] for p in peaks)
        for peak in peaks:
            tau = peak["tau_s"]
            if (1 / omega.max() <= tau <= 1 / omega.min()
                    and peak["resistance_ohm"] >= SHOULDER_SHARE * total and far(tau)):
                taus.append(tau)
    return np.unique(np.array(taus, float))


def fit_arcs(frequency_Hz: np.ndarray, impedance: np.ndarray, drt: DRT | None = None,
             parts: dict[str, np.ndarray] | None = None) -> ArcFit:
    """The arcs of a spectrum (Hz, complex ohm), module docstring. ``parts``: the shares of Z
    of each kind of part at every frequency (e.g. ``{"bulk": response.bulk_ohm, ...}``), to
    name each arc's origin."""
    frequency_Hz = np.asarray(frequency_Hz, float)
    omega = 2 * np.pi * frequency_Hz
    taus = arc_candidates(frequency_Hz, impedance, drt)
    while True:  # at most one pass per dropped element
        tau, resistance, r_inf, residual = _fit(omega, impedance, taus)
        alive = resistance > DEAD_SHARE * max(resistance.sum() + r_inf, 1e-300)
        order = np.argsort(tau)
        # two elements that converged onto one time constant are one arc: keep the larger
        same = np.flatnonzero(np.diff(np.log10(tau[order])) < SAME_DECADES)
        for k in same:
            pair = order[k:k + 2]
            alive[pair[np.argmin(resistance[pair])]] = False
        if alive.all():
            break
        taus = tau[alive]
    order = np.argsort(tau)  # shortest time constant (highest frequency) first
    arcs = []
    for k in order:
        f = float(1 / (2 * np.pi * tau[k]))
        origin, share = _origin(frequency_Hz, f, float(resistance[k]), parts)
        arcs.append(Arc(f, float(resistance[k]), float(tau[k] / resistance[k]), origin, share))
    return ArcFit(tuple(arcs), float(r_inf), float(residual))


def _fit(omega: np.ndarray, impedance: np.ndarray, tau0: np.ndarray):
    """Variable projection: tau = tau0 exp(theta) by least_squares, the resistances by NNLS
    for each tau. Returns tau, R (per element), R_inf and the largest relative residual."""

    def resistances(theta):
        basis = rc_basis(omega, tau0 * np.exp(theta))
        a, z = _stacked(basis, impedance)
        x, _ = nnls(a, z, maxiter=50 * a.shape[1])
        return basis, a, z, x

    def residual(theta):
        _, a, z, x = resistances(theta)
        return a @ x - z

    theta = np.zeros(len(tau0))
    if len(tau0):
        theta = least_squares(residual, theta, jac="3-point", method="trf",
                              xtol=FIT_TOLERANCE, ftol=FIT_TOLERANCE, gtol=FIT_TOLERANCE,
                              max_nfev=200 * (len(tau0) + 1)).x
    basis, _, _, x = resistances(theta)
    misfit = float(np.max(np.abs(basis @ x - impedance) / np.abs(impedance)))
    return tau0 * np.exp(theta), x[1:], x[0], misfit


def _origin(frequency_Hz: np.ndarray, f: float, resistance: float, parts) -> tuple[str, float]:
    """The kind of part whose own -Z'' peaks at the arc: the largest -Z''_part(f) relative to
    that part's maximum, among parts whose maximum is at least ``ORIGIN_MIN_PEAK`` of the arc's
    own peak (R / 2). A small GB arc on the tail of a large bulk arc has less -Z'' than the
    bulk at its summit, but it is the GB's own peak there. Returns the name and its share of
    -Z'' at the summit."""
    if not parts:
        return "", float("nan")
    k = int(np.argmin(np.abs(np.log(frequency_Hz / f))))
    minus_imag = {name: -z[k].imag for name, z in parts.items()}
    peak = {name: float(np.max(-z.imag)) for name, z in parts.items()}
    total = sum(minus_imag.values())
    candidates = [name for name in parts if peak[name] > 0
                  and peak[name] >= ORIGIN_MIN_PEAK * resistance / 2]
    if candidates:
        name = max(candidates, key=lambda n: minus_imag[n] / peak[n])
    else:
        name = max(minus_imag, key=minus_imag.get)
    return name, float(minus_imag[name] / total) if total > 0 else float("nan")

"""What a spectrum shows: arc summits, a Kramers-Kronig (Lin-KK) check, and the distribution
of relaxation times (DRT). Frequencies in Hz, impedances in ohm (complex, Z = Z' + i Z'').

The impedance of a connected RC network between two terminals is exactly
``R_inf + sum_k R_k / (1 + i omega tau_k)`` with R_k >= 0 (its Foster form): Kramers-Kronig
compliant, with a DRT that is a set of lines. Both checks below fit that form.

Lin-KK (Schoenleber et al., Electrochim. Acta 131 (2014) 20): M RC elements with fixed time
constants spread log-evenly over [1/omega_max, 1/omega_min] and a series R are fitted to Z by
linear least squares with modulus weighting 1/|Z|. Their rule for M (grow M until
mu = 1 - sum|R_k<0| / sum R_k>=0 falls to 0.85) guards against fitting measurement noise; a
computed spectrum has none, and the rule stops far too early on it (measured: M = 4 and a
65 % residual for an exact single-RC spectrum, 10 points per decade). Here M = one fewer than
the number of frequencies (at most KK_MAX_ELEMENTS): the fit still has twice as many
equations as unknowns, so a spectrum whose real and imaginary parts disagree cannot be
fitted (a 30 % error in Z'' leaves a 14 % residual at any M), while exact RC-network spectra
fit to about 1e-9. A spectrum whose largest relative residual (Z - Z_fit)/|Z| exceeds
``kk_tolerance`` is flagged; mu is reported for information. impedance.py's
``linKK`` does the same fit, but it builds its model by ``eval`` of generated source text,
prints to stdout inside the loop and pulls in altair and pandas; the fit is a few lines of
NumPy here.

DRT: R_k >= 0 on a log-even grid of tau (one decade beyond the frequency window on either
side) and R_inf >= 0, fitted by Tikhonov-regularized non-negative least squares
(``scipy.optimize.nnls``) with a second-difference penalty on the R_k over ln tau:
``min || W (A x - Z) ||^2 + lambda || L x ||^2, x >= 0``, W = 1/|Z| (both parts stacked).
lambda: the largest of 1, 1e-1, ..., 1e-12 whose rms relative residual is within
``drt_tolerance`` (Morozov's discrepancy principle, with the tolerance standing in for the
noise level that a computed spectrum does not have), or the user's fixed ``drt_lambda``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

KK_MAX_ELEMENTS = 200
DRT_LAMBDAS = 10.0 ** -np.arange(0, 13)
DRT_POINTS_PER_DECADE = 20


@dataclass(frozen=True)
class KKCheck:
    """Lin-KK result: ``n_elements`` RC elements, ``mu``, relative residuals (n_f,) of the real
    and imaginary part, their largest magnitude, and ``passed`` (<= ``tolerance``)."""

    n_elements: int
    mu: float
    residual_real: np.ndarray
    residual_imag: np.ndarray
    tolerance: float

    @property
    def max_residual(self) -> float:
        return float(np.max(np.abs(np.concatenate([self.residual_real, self.residual_imag]))))

    @property
    def passed(self) -> bool:
        return bool(self.max_residual <= self.tolerance)


@dataclass(frozen=True)
class DRT:
    """``tau_s`` grid, ``resistance_ohm`` R_k >= 0 per grid point, ``r_inf_ohm``, the
    ``lambda_`` used and the rms relative residual of the fit."""

    tau_s: np.ndarray
    resistance_ohm: np.ndarray
    r_inf_ohm: float
    lambda_: float
    residual_rms: float

    @property
    def density_ohm(self) -> np.ndarray:
        """gamma(ln tau) = R_k / delta ln tau (ohm)."""
        return self.resistance_ohm / np.log(self.tau_s[1] / self.tau_s[0])

    def peaks(self) -> list[dict]:
        """Every local maximum of R_k: its tau, frequency 1/(2 pi tau) and the resistance
        of its basin (the R_k between the neighbouring minima)."""
        r = self.resistance_ohm
        floor = 1e-6 * r.max() if r.max() > 0 else np.inf
        top = np.flatnonzero((r > floor) & (r >= np.r_[0.0, r[:-1]]) & (r > np.r_[r[1:], 0.0]))
        peaks = []
        for k in top:  # a handful of peaks
            lo = k
            while lo > 0 and r[lo - 1] <= r[lo] and r[lo - 1] > 0:
                lo -= 1
            hi = k
            while hi < len(r) - 1 and r[hi + 1] <= r[hi] and r[hi + 1] > 0:
                hi += 1
            peaks.append({"tau_s": float(self.tau_s[k]),
                          "frequency_Hz": float(1 / (2 * np.pi * self.tau_s[k])),
                          "resistance_ohm": float(r[lo:hi + 1].sum())})
        return peaks


def rc_basis(omega: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """(n_f, 1 + M) complex: a series resistance and M RC elements of unit resistance."""
    return np.concatenate([np.ones((len(omega), 1)),
                           1.0 / (1.0 + 1j * np.outer(omega, tau))], axis=1)


def _stacked(basis: np.ndarray, impedance: np.ndarray):
    """Real least-squares form with modulus weighting: [Re; Im] of basis / |Z| and Z / |Z|."""
    weight = 1.0 / np.abs(impedance)
    a = basis * weight[:, None]
    z = impedance * weight
    return np.concatenate([a.real, a.imag]), np.concatenate([z.real, z.imag])


def lin_kk(frequency_Hz: np.ndarray, impedance: np.ndarray, tolerance: float) -> KKCheck:
    """Lin-KK fit with one RC element fewer than there are frequencies (at most
    KK_MAX_ELEMENTS)."""
    omega = 2 * np.pi * np.asarray(frequency_Hz)
    m = max(1, min(KK_MAX_ELEMENTS, len(omega) - 1))
    tau = np.geomspace(1 / omega.max(), 1 / omega.min(), m)
    basis = rc_basis(omega, tau)
    a, z = _stacked(basis, impedance)
    x = np.linalg.lstsq(a, z, rcond=None)[0]
    positive = x[1:][x[1:] >= 0].sum()
    mu = 1.0 - (-x[1:][x[1:] < 0].sum()) / positive if positive > 0 else -np.inf
    residual = (impedance - basis @ x) / np.abs(impedance)
    return KKCheck(m, float(mu), residual.real, residual.imag, tolerance)


def compute_drt(frequency_Hz: np.ndarray, impedance: np.ndarray, tolerance: float,
                lambda_: float | None = None) -> DRT:
    omega = 2 * np.pi * np.asarray(frequency_Hz)
    tau_lo, tau_hi = 0.1 / omega.max(), 10.0 / omega.min()
    n_tau = int(round(np.log10(tau_hi / tau_lo) * DRT_POINTS_PER_DECADE)) + 1
    tau = np.geomspace(tau_lo, tau_hi, n_tau)
    scale = float(np.abs(impedance).max())
    a, z = _stacked(rc_basis(omega, tau), impedance / scale)
    penalty = np.zeros((n_tau - 2, n_tau + 1))  # second differences of R_k; R_inf free
    rows = np.arange(n_tau - 2)
    penalty[rows, rows + 1], penalty[rows, rows + 2], penalty[rows, rows + 3] = 1.0, -2.0, 1.0
    candidates = DRT_LAMBDAS if lambda_ is None else np.array([lambda_])
    for lam in candidates:  # from the smoothest down: the first within tolerance
        x, _ = nnls(np.concatenate([a, np.sqrt(lam) * penalty]),
                    np.concatenate([z, np.zeros(n_tau - 2)]), maxiter=50 * (n_tau + 1))
        rms = float(np.sqrt(np.mean((a @ x - z) ** 2) * 2))  # per complex point
        if rms <= tolerance:
            break
    return DRT(tau, x[1:] * scale, float(x[0] * scale), float(lam), rms)


def arc_summits(frequency_Hz: np.ndarray, impedance: np.ndarray) -> list[dict]:
    """Local maxima of -Z'' inside the window (frequency and -Z'' at the grid point); the
    largest -Z'' when there is no interior maximum."""
    minus_imag = -impedance.imag
    inner = np.flatnonzero((minus_imag[1:-1] > minus_imag[:-2])
                           & (minus_imag[1:-1] >= minus_imag[2:])) + 1
    if not len(inner):
        inner = np.array([int(np.argmax(minus_imag))])
    return [{"frequency_Hz": float(frequency_Hz[k]), "minus_z_imag_ohm": float(minus_imag[k]),
             "z_real_ohm": float(impedance[k].real)} for k in inner]

"""When conjugate gradients stop: the relative residual, then the electrode balances.

A solve is accepted only when its electrode currents balance (Kirchhoff) and its power
balances (Tellegen) to ``[solver] balance_tol`` (checked by :mod:`netsolve.solve` on every
solve). The residual norm ||b - A u|| / ||b|| is dominated by the best-conducting rows, so an
iterate at rtol 1e-8 can still be 1e-6 from balanced when a blocking grain boundary carries
the current. Instead of stopping at rtol and restarting CG at a guessed tighter rtol, CG tests
the balances on its iterates once it has reached rtol and stops as soon as they hold
(:class:`StoppingRule`). Used by the grid multigrid's CG and by :func:`pcg` (AMG, Jacobi).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# CG in float64 stagnates a little above this relative residual: a balance continuation stops
# there, or when STAGNATION iterations have not lowered the smallest residual so far by 10 %
# (rounding makes a stagnating residual wander, rarely by that much)
BALANCE_FLOOR = 1e-14
STAGNATION = 20


def current_balance(electrode_current: np.ndarray) -> float:
    """|sum of the electrode currents| / largest |electrode current| (Kirchhoff: 0); inf when
    no current flows or a current is not finite."""
    largest = float(np.abs(electrode_current).max()) if len(electrode_current) else 0.0
    if not np.isfinite(largest) or largest == 0.0:
        return float("inf")
    balance = float(abs(electrode_current.sum()) / largest)
    return balance if np.isfinite(balance) else float("inf")


def electrode_currents(u_rows: np.ndarray, electrode_potential: np.ndarray,
                       link_electrode: np.ndarray, link_conductance: np.ndarray,
                       coupling: np.ndarray) -> np.ndarray:
    """Current into the sample through each electrode (A): ``g (V_electrode - u)`` summed over
    its links (``u_rows``: the potential at each link's row, V) plus the direct
    electrode-to-electrode couplings (S)."""
    v = electrode_potential
    return (np.bincount(link_electrode, link_conductance * (v[link_electrode] - u_rows), len(v))
            + coupling @ v)


@dataclass(frozen=True)
class BalanceTarget:
    """The current and power balances that one right-hand side's solution must meet, for an
    iterative solver that can test them on its iterates and continue past ``rtol`` until they
    hold (instead of stopping, and being restarted at a guessed tighter rtol).

    ``rows``: the matrix row of each electrode link; ``link_electrode``,
    ``link_conductance`` (S): its electrode and conductance; ``electrode_potential`` (V):
    every electrode's potential in this right-hand side; ``coupling``: direct
    electrode-to-electrode conductances (S); ``tolerance``: ``[solver] balance_tol``.
    """

    rows: np.ndarray
    link_electrode: np.ndarray
    link_conductance: np.ndarray
    electrode_potential: np.ndarray
    coupling: np.ndarray
    tolerance: float

    def currents(self, u_rows: np.ndarray) -> np.ndarray:
        """Current into the sample through each electrode (A), from the potentials ``u_rows``
        of the rows ``rows``."""
        return electrode_currents(u_rows, self.electrode_potential, self.link_electrode,
                                  self.link_conductance, self.coupling)

    def holds(self, u_rows: np.ndarray, u_dot_residual: float) -> bool:
        """Kirchhoff and Tellegen within ``tolerance``; ``u_dot_residual`` = u . (b - A u)
        (the residual's share of the power). NaN never holds."""
        current = self.currents(u_rows)
        power = float(self.electrode_potential @ current)
        return (current_balance(current) <= self.tolerance and power > 0
                and abs(u_dot_residual) / power <= self.tolerance)


def column_targets(balance, n_columns: int) -> list:
    """One :class:`BalanceTarget` (or None) per right-hand side: ``balance`` is None, one
    target (for a single right-hand side) or a sequence of one per column."""
    if balance is None:
        return [None] * n_columns
    if isinstance(balance, BalanceTarget):
        balance = [balance]
    if len(balance) != n_columns:
        raise ValueError(f"{len(balance)} balance targets for {n_columns} right-hand sides")
    return list(balance)


class StoppingRule:
    """Stop at ||r|| <= rtol ||b||; with a :class:`BalanceTarget`, continue from there until the
    balances hold on the iterate, while the residual still falls (a new smallest value, by
    10 %, within ``STAGNATION`` iterations) and down to ||r|| <= ``BALANCE_FLOOR`` ||b|| at
    most. The caller's own checks decide what happens when the balances still do not hold;
    a NaN residual stops at once (and fails those checks)."""

    def __init__(self, rtol: float, b_norm: float, balance: BalanceTarget | None = None):
        self.target = rtol * b_norm
        self.floor = BALANCE_FLOOR * b_norm
        self.balance = balance
        self._progress: tuple[float, int] | None = None  # smallest residual so far, and when

    def done(self, iterations: int, r_norm: float,
             potentials: Callable[[np.ndarray], np.ndarray],
             u_dot_residual: Callable[[], float]) -> bool:
        """``potentials(rows)``: the iterate at the matrix rows ``rows``; ``u_dot_residual()``:
        u . (b - A u) (both called only once rtol is reached, with a balance target)."""
        if r_norm > self.target:
            return False
        if self.balance is None or not np.isfinite(r_norm):
            return True
        if self._progress is None or r_norm <= 0.9 * self._progress[0]:
            self._progress = (r_norm, iterations)
        return (iterations - self._progress[1] > STAGNATION or r_norm <= self.floor
                or self.balance.holds(potentials(self.balance.rows), u_dot_residual()))


def pcg(matrix, b: np.ndarray, preconditioner, rtol: float, maxiter: int,
        x0: np.ndarray | None = None,
        balance: BalanceTarget | None = None) -> tuple[np.ndarray, int, float]:
    """Preconditioned conjugate gradients in float64 for an SPD ``matrix`` (anything with
    ``@``), ``preconditioner`` a symmetric positive definite operator (``@``); stops by
    :class:`StoppingRule`. Returns (x, iterations, true relative residual; inf when not
    finite, so that NaN never looks converged)."""
    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=np.float64)
    r = b - matrix @ x if x.any() else b.copy()
    b_norm = float(np.linalg.norm(b))
    rule = StoppingRule(rtol, b_norm, balance)
    r_norm = float(np.linalg.norm(r))
    p = np.zeros_like(b)
    rz_old = 1.0
    iterations = 0
    while iterations < maxiter and not rule.done(iterations, r_norm, lambda rows: x[rows],
                                                 lambda: float(x @ r)):
        z = np.asarray(preconditioner @ r, dtype=np.float64)
        rz = float(r @ z)
        p = z + (rz / rz_old if iterations else 0.0) * p
        q = matrix @ p
        alpha = rz / float(p @ q)
        x += alpha * p
        r -= alpha * q
        r_norm = float(np.linalg.norm(r))
        rz_old = rz
        iterations += 1
    residual = float(np.linalg.norm(b - matrix @ x) / b_norm) if b_norm > 0 else 0.0
    return x, iterations, residual if np.isfinite(residual) else float("inf")

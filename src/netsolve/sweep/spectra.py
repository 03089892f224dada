"""Impedance sweeps (``netsolve sweep --impedance``): each point's job is the impedance
spectrum of ``netsolve impedance``, and its row is the spectrum's summary.

Per point: the DC solve of the two-point network (the engine of a DC sweep, with its cached
stages, warm starts and AMG reuse: the row's ``effective_resistance_ohm``), the AC network of
the same links (``netsolve.impedance.admittance``), the frequency sweep between the terminals,
the Lin-KK check, the DRT (``[impedance] drt``) and the arcs
(:func:`netsolve.impedance.arcs.fit_arcs`: summit frequency, resistance, capacitance and origin
of each). The terminal system (sparsity pattern, scatter maps) and the owners of the Tellegen
shares depend only on the link topology and the terminals: they are kept while the
microstructure is. Frequencies in Hz, impedances in ohm.
"""

from __future__ import annotations

import math
from pathlib import Path

from .engine import SweepEngine
from .files import SweepWriteError, atomic_path
from .plan import Point, SweepPlan

ARC_FIELDS = ("frequency_Hz", "resistance_ohm", "capacitance_F", "origin")


def arc_columns(plan: SweepPlan) -> list[str]:
    return [f"arc_{i}_{field}" for i in range(1, plan.arcs + 1) for field in ARC_FIELDS]


def spectrum_columns(plan: SweepPlan) -> list[str]:
    """The columns of an impedance sweep's ``sweep.csv``, in order."""
    return ["point_id", *plan.keys, "status", "message", "effective_resistance_ohm",
            "z_real_lowest_frequency_ohm", "z_real_highest_frequency_ohm", "r_inf_ohm",
            "f_min_Hz", "f_max_Hz", "n_frequencies", "n_arcs", *arc_columns(plan),
            "arc_fit_residual_rel", "kk_max_residual_rel", "kk_passed", "solver_method",
            "solver_iterations", "solver_residual_rel", "solver_time_s", "wall_s"]


def spectrum_number_columns(plan: SweepPlan) -> tuple[set[str], set[str]]:
    """Numeric columns of an ``ok`` row: always finite, and ``nan`` where the point has fewer
    arcs than the row has room for."""
    finite = {*plan.keys, "effective_resistance_ohm", "z_real_lowest_frequency_ohm",
              "z_real_highest_frequency_ohm", "r_inf_ohm", "f_min_Hz", "f_max_Hz",
              "n_frequencies", "n_arcs", "arc_fit_residual_rel", "kk_max_residual_rel",
              "kk_passed", "solver_iterations", "solver_residual_rel", "solver_time_s", "wall_s"}
    maybe_nan = {c for c in arc_columns(plan) if not c.endswith("_origin")}
    return finite, maybe_nan


def spectrum_text_columns(plan: SweepPlan) -> tuple[str, ...]:
    return ("point_id", "status", "message", "solver_method",
            *(f"arc_{i}_origin" for i in range(1, plan.arcs + 1)))


class ImpedanceEngine(SweepEngine):
    """Evaluates impedance-sweep points; caches as a DC sweep's engine does, plus the terminal
    system and the share owners per microstructure."""

    def __init__(self, plan: SweepPlan, fields_dir: Path | None = None, **options):
        super().__init__(plan, fields_dir, **options)
        self._ac_base = self._ac_terminals = self._system = self._owners = None

    def _share_gb_geometry(self, result, geometry_key: tuple) -> None:
        """An impedance row has no GB table: the GB geometry is never built."""

    def point_values(self, point: Point) -> dict:
        from ..impedance import default_options, frequencies, spectrum_window
        from ..impedance.admittance import build_admittance
        from ..impedance.arcs import fit_arcs
        from ..impedance.pipeline import _check_finite
        from ..impedance.response import build_owners, compute_response
        from ..impedance.spectrum import compute_drt, lin_kk
        from ..impedance.system import build_terminal_system

        result = self.solve(point)  # the DC solve (R_eff), with the DC engine's caches
        case = result.case
        options = case.impedance if case.impedance is not None else default_options(case)
        model = build_admittance(case, result.microstructure, result.properties,
                                 result.network)
        if self._ac_base is not self._network or self._ac_terminals != options.terminals:
            self._ac_base = None  # stays None if building fails: the next point retries
            names = tuple(e.name for e in case.electrodes)
            self._system = build_terminal_system(result.network, names, options.terminals,
                                                 case.label)
            self._owners = build_owners(result.microstructure, model)
            self._ac_base, self._ac_terminals = self._network, options.terminals
        f_min, f_max = spectrum_window(model, options)
        freqs = frequencies(f_min, f_max, options.points_per_decade)
        response = compute_response(model, self._system, self._owners, freqs, options,
                                    case.label)
        _check_finite(response, case.label)
        z = response.impedance_ohm
        kk = lin_kk(freqs, z, options.kk_tolerance)
        drt = (compute_drt(freqs, z, options.drt_tolerance, options.drt_lambda)
               if options.drt else None)
        fit = fit_arcs(freqs, z, drt, {"bulk": response.bulk_ohm, "gb": response.gb_ohm,
                                       "contact": response.contact_ohm})
        stats = response.stats
        row = {"effective_resistance_ohm": result.effective_resistance_ohm,
               "z_real_lowest_frequency_ohm": float(z[0].real),
               "z_real_highest_frequency_ohm": float(z[-1].real),
               "r_inf_ohm": fit.r_inf_ohm, "f_min_Hz": float(freqs[0]),
               "f_max_Hz": float(freqs[-1]), "n_frequencies": len(freqs),
               "n_arcs": len(fit.arcs), "arc_fit_residual_rel": fit.residual_rel,
               "kk_max_residual_rel": kk.max_residual, "kk_passed": int(kk.passed),
               "solver_method": stats[0].method,
               "solver_iterations": int(sum(s.iterations for s in stats)),
               "solver_residual_rel": float(max(s.residual_rel for s in stats)),
               "solver_time_s": float(sum(s.time_s for s in stats))}
        for i in range(1, self.plan.arcs + 1):
            arc = fit.arcs[i - 1] if i <= len(fit.arcs) else None
            row.update({f"arc_{i}_frequency_Hz": arc.frequency_Hz if arc else math.nan,
                        f"arc_{i}_resistance_ohm": arc.resistance_ohm if arc else math.nan,
                        f"arc_{i}_capacitance_F": arc.capacitance_F if arc else math.nan,
                        f"arc_{i}_origin": arc.origin if arc else ""})
        if self.fields_dir is not None:
            write_point_spectrum(response, kk, drt, self.fields_dir / point.point_id)
        return row


def write_point_spectrum(response, kk, drt, folder: Path) -> Path:
    """``spectra/<point_id>/impedance.csv`` (and ``drt.csv`` with a DRT), the columns of
    ``netsolve impedance``'s files; each written to a temporary name, then renamed."""
    from ..impedance.output import write_drt_csv, write_spectrum_csv

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepWriteError(f"{folder}: cannot create ({exc.strerror or exc}); free space or "
                              f"fix the folder, then rerun with --resume") from None
    with atomic_path(folder / "impedance.csv") as tmp:
        write_spectrum_csv(response, kk, tmp)
    if drt is not None:
        with atomic_path(folder / "drt.csv") as tmp:
            write_drt_csv(drt, tmp)
    return folder

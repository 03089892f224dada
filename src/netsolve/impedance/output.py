"""An impedance result -> files, written atomically (``netsolve.export.atomic_directory``):

- ``impedance.csv``: f, Z', Z'', |Z|, phase, the bulk / GB / contact shares of Z, the Lin-KK
  residuals and the solver's iterations and residual per frequency;
- ``contributions_grain.csv`` and ``contributions_gb.csv``: the share of Z of every grain
  (and the backbone and each electrode contact) and of every GB at the contribution
  frequencies, largest -Z'' share first;
- ``drt.csv``: the distribution of relaxation times;
- ``summary.json``: terminals, window, arcs (grid summits and the fitted RC per arc), DRT
  peaks, KK check, balances, solver;
- ``nyquist.<fmt>``, ``bode.<fmt>``, ``drt.<fmt>`` (the case's ``[output] figure_formats``);
- ``case.toml``: a copy of the case file.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np

from ..export import atomic_directory
from ..result import strict_json
from .pipeline import ImpedanceResult
from .response import Response
from .spectrum import DRT, KKCheck

SPECTRUM_COLUMNS = ("frequency_Hz", "z_real_ohm", "z_imag_ohm", "z_abs_ohm", "phase_deg",
                    "bulk_real_ohm", "bulk_imag_ohm", "gb_real_ohm", "gb_imag_ohm",
                    "contact_real_ohm", "contact_imag_ohm", "kk_residual_real",
                    "kk_residual_imag", "solver_iterations", "solver_residual_rel")


def write_impedance(result: ImpedanceResult, out_dir: str | Path, *,
                    figures: bool = True, overwrite: bool = False) -> Path:
    """Write the result directory atomically; return its path. An existing non-empty
    ``out_dir`` needs ``overwrite`` (then only netsolve's own files are replaced)."""
    out_dir = Path(out_dir).absolute()
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        (tmp / "summary.json").write_text(json.dumps(strict_json(summary(result)), indent=2,
                                                     allow_nan=False) + "\n")
        write_spectrum_csv(result.response, result.kk, tmp / "impedance.csv")
        _write_contributions(result, tmp)
        if result.drt is not None:
            write_drt_csv(result.drt, tmp / "drt.csv")
        if result.case.path is not None:
            shutil.copyfile(result.case.path, tmp / "case.toml")
        if figures:
            from .figures import write_impedance_figures

            write_impedance_figures(result, tmp, result.case.output.figure_formats)
    return out_dir


def write_spectrum_csv(r: Response, kk: KKCheck, path: Path) -> None:
    """``impedance.csv`` of a response and its Lin-KK check (also a sweep point's)."""
    z = r.impedance_ohm
    columns = (r.frequency_Hz, z.real, z.imag, np.abs(z), np.degrees(np.angle(z)),
               r.bulk_ohm.real, r.bulk_ohm.imag, r.gb_ohm.real, r.gb_ohm.imag,
               r.contact_ohm.real, r.contact_ohm.imag, kk.residual_real,
               kk.residual_imag, [s.iterations for s in r.stats],
               [s.residual_rel for s in r.stats])
    _write_rows(path, SPECTRUM_COLUMNS, zip(*columns))


def write_drt_csv(drt: DRT, path: Path) -> None:
    _write_rows(path, ("tau_s", "frequency_Hz", "resistance_ohm", "gamma_ohm"),
                zip(drt.tau_s, 1 / (2 * np.pi * drt.tau_s), drt.resistance_ohm,
                    drt.density_ohm))


def _write_contributions(result: ImpedanceResult, folder: Path) -> None:
    c = result.contributions
    owners = c.owners
    names = [e.name for e in result.case.electrodes]
    grain_rows, gb_rows = [], []
    for k, frequency in enumerate(c.frequency_Hz):  # a few contribution frequencies
        total = c.impedance_ohm[k]
        parts = [(f"G{g}" if g > 0 else "backbone", g if g > 0 else "", z)
                 for g, z in zip(owners.grain_label, c.grain_share[k])]
        parts += [(f"contact {name}", "", z) for name, z in zip(names, c.contact_share[k])]
        for name, grain, z in sorted(parts, key=lambda p: p[2].imag):
            grain_rows.append((frequency, name, grain, *_share(z, total)))
        order = np.argsort(c.gb_share[k].imag, kind="stable")
        for row in order:
            a, b = owners.gb_pair[row]
            gb_rows.append((frequency, int(a), int(b), *_share(c.gb_share[k, row], total)))
    share_columns = ("z_real_ohm", "z_imag_ohm", "share_real", "share_imag")
    _write_rows(folder / "contributions_grain.csv",
                ("frequency_Hz", "part", "grain_id") + share_columns, grain_rows)
    _write_rows(folder / "contributions_gb.csv",
                ("frequency_Hz", "grain_a", "grain_b") + share_columns, gb_rows)


def _share(z: complex, total: complex) -> tuple[float, float, float, float]:
    """A part's Z (real, imag) and its fraction of the total's real and imaginary part."""
    return (z.real, z.imag, z.real / total.real if total.real else float("nan"),
            z.imag / total.imag if total.imag else float("nan"))


def _write_rows(path: Path, header, rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(v) for v in row])


def _cell(value):
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def summary(result: ImpedanceResult) -> dict:
    r = result.response
    z = r.impedance_ohm
    stats = r.stats
    out = {
        "case": result.case.label,
        "terminals": {"A": list(result.options.terminals[0]),
                      "B": list(result.options.terminals[1])},
        "n_unknowns": result.n_unknowns,
        "frequency_range_Hz": [float(r.frequency_Hz[0]), float(r.frequency_Hz[-1])],
        "n_frequencies": len(r.frequency_Hz),
        "z_real_lowest_frequency_ohm": float(z[0].real),
        "z_real_highest_frequency_ohm": float(z[-1].real),
        "arcs": result.arcs,
        "contribution_frequencies_Hz": [float(f) for f in result.contributions.frequency_Hz],
        "kramers_kronig": {"method": "Lin-KK (Schoenleber et al. 2014)",
                           "n_rc_elements": result.kk.n_elements, "mu": result.kk.mu,
                           "max_residual_rel": result.kk.max_residual,
                           "tolerance": result.kk.tolerance, "passed": result.kk.passed},
        "balances": {"current_rel_max": float(r.current_balance_rel.max()),
                     "tellegen_rel_max": float(r.share_balance_rel.max())},
        "solver": {"method": result.method,
                   "iterations_total": int(sum(s.iterations for s in stats)),
                   "iterations_max": int(max(s.iterations for s in stats)),
                   "amg_setups": int(sum(s.setup for s in stats)),
                   "residual_rel_max": float(max(s.residual_rel for s in stats)),
                   "time_s": float(sum(s.time_s for s in stats))},
    }
    if result.arc_fit is not None:
        out["arc_fit"] = {"method": "one RC element per arc, fitted to the whole spectrum "
                                    "(docs/impedance.md)",
                          "arcs": [dataclasses.asdict(a) for a in result.arc_fit.arcs],
                          "r_inf_ohm": result.arc_fit.r_inf_ohm,
                          "residual_rel": result.arc_fit.residual_rel}
    if result.drt is not None:
        out["drt"] = {"lambda": result.drt.lambda_, "residual_rms_rel": result.drt.residual_rms,
                      "r_inf_ohm": result.drt.r_inf_ohm, "peaks": result.drt.peaks()}
    return out

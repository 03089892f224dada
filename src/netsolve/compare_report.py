"""The terminal report of :func:`netsolve.compare.compare`: global numbers, the certified R_eff
bracket and where each discretization's R_eff lies, per-grain and per-GB tables, the GB
classification (rows ordered by the reference discretization)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .compare import Comparison


def _percent(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.2%}"


def format_bracket(bounds: dict | None, resistance: dict[str, float]) -> list[str]:
    """The R_eff bracket of the certified solve and each discretization's place against it."""
    if bounds is None:
        return ["  R_eff bracket: none (the mixed discretization was not compared)"]
    if bounds["reason"] is not None:
        power = bounds["power_W"]
        return [f"  R_eff bracket: none ({bounds['reason']})" + (
            "" if power["reason"] is not None else
            f"; power bracket [{power['lower']:.6g}, {power['upper']:.6g}] W")]
    status = ("certified" if bounds["certified"] else
              f"NOT certified (gap > bound_tol {bounds['bound_tol']:g})")
    refined = ("on the voxels" if bounds["cells"] is None else
               f"{bounds['cells']} cells, refinement stopped by {bounds['stopped_by']}")
    source = f"{bounds['from']} + Q1"
    lines = [f"  R_eff bracket ({source}): [{bounds['lower_ohm']:.6g}, "
             f"{bounds['upper_ohm']:.6g}] ohm, relative gap {_percent(bounds['relative_gap'])}, "
             f"{status}; {refined}"]
    for name, place in bounds["position"].items():
        side = place["side"]
        where = ("inside the bracket" if side == "inside" else "undefined" if side is None
                 else f"{side} the bracket by {place['excess']:+.1%}")
        lines.append(f"    R_eff {name}: {resistance[name]:.6g} ohm, {where}")
    return lines


def format_comparison(comparison: Comparison) -> str:
    """Human-readable tables (all grains and GBs, ordered by the reference's ranks)."""
    s, names, ref = comparison.summary, comparison.discretizations, comparison.reference
    others = [n for n in names if n != ref]
    lines = [f"{s['case']}: {', '.join(names)} (reference: {ref})",
             "  total current: " + ", ".join(f"{n} {s['total_current_A'][n]:.6g} A"
                                             for n in names),
             *format_bracket(s["bounds"], s["effective_resistance_ohm"])]
    for n in others:
        lines.append(f"  Spearman rank correlation, {n} vs {ref}: grain mean|J| "
                     "{grain_mean_abs_J:.3f}, GB |current| {gb_abs_current:.3f}, GB |jump| "
                     "{gb_abs_jump:.3f}".format(**s["spearman"][n]))
    g = comparison.grains
    lines += ["", "  " + f"{'grain':>6}" + "".join(f" {'mean|J| ' + n:>13}" for n in names)
              + "".join(f" {'diff ' + n:>10}" for n in others)
              + "".join(f" {'rank ' + n:>10}" for n in names)]
    for row in np.argsort(g[f"rank_{ref}"]):
        lines.append("  " + f"{g['grain'][row]:>6}"
                     + "".join(f" {g[f'mean_abs_J_{n}_A_m2'][row]:13.4g}" for n in names)
                     + "".join(f" {g[f'rel_diff_{n}'][row]:+10.1%}" for n in others)
                     + "".join(f" {g[f'rank_{n}'][row]:>10}" for n in names))
    b = comparison.grain_boundaries
    lines += ["", "  " + f"{'GB':>9} {'faces':>5}" + "".join(f" {'I ' + n:>10}" for n in names)
              + "".join(f" {'rank ' + n:>10}" for n in names)
              + "".join(f" {'jump ' + n:>10}" for n in names)
              + "".join(f" {'rank ' + n:>10}" for n in names)]
    for row in np.argsort(b[f"current_A_rank_{ref}"]):
        lines.append(
            "  " + f"{'G%d/G%d' % (b['grain_a'][row], b['grain_b'][row]):>9} "
            f"{b['n_faces'][row]:>5}"
            + "".join(f" {b[f'current_A_{n}'][row]:10.3g}" for n in names)
            + "".join(f" {b[f'current_A_rank_{n}'][row]:>10}" for n in names)
            + "".join(f" {b[f'jump_V_{n}'][row]:10.3g}" for n in names)
            + "".join(f" {b[f'jump_V_rank_{n}'][row]:>10}" for n in names))
    return "\n".join(lines + _format_classification(comparison))


def _format_classification(comparison: Comparison) -> list[str]:
    c = comparison.summary["classification"]
    if c is None:
        return ["", "  GB classification: not compared (some grains have no orientation)"]
    names, ref = comparison.discretizations, comparison.reference
    b = comparison.grain_boundaries
    blocking = ", ".join(f"{n} {c['n_blocking'][n]}" for n in names)
    risk = ", ".join(f"{n} {c['spearman_risk'][n]:.3f}" for n in c["spearman_risk"])
    lines = ["", f"  GB classification under each solved field: {c['n_changed']} of "
                 f"{c['n_classified']} GBs differ from {ref}; blocking GBs {blocking}; Spearman "
                 f"rank correlation of the risk score with {ref}: {risk}",
             "  " + f"{'GB':>9}" + "".join(f" {'subtype ' + n[0]:>10}" for n in names)
             + "".join(f" {'block ' + n[0]:>7}" for n in names)
             + "".join(f" {'risk ' + n[0]:>7}" for n in names)
             + "".join(f" {'rank ' + n[0]:>6}" for n in names)]
    for row in np.argsort(b[f"risk_rank_{ref}"]):
        mark = "  *" if b["classification_changed"][row] else ""
        lines.append(
            "  " + f"{'G%d/G%d' % (b['grain_a'][row], b['grain_b'][row]):>9}"
            + "".join(f" {b[f'subtype_{n}'][row]:>10}" for n in names)
            + "".join(f" {'yes' if b[f'blocking_{n}'][row] else 'no':>7}" for n in names)
            + "".join(f" {b[f'risk_{n}'][row]:7.3f}" for n in names)
            + "".join(f" {b[f'risk_rank_{n}'][row]:>6}" for n in names) + mark)
    lines.append(f"  (columns: {', '.join(f'{n[0]} = {n}' for n in names)}; * subtype or "
                 f"blocking flag differs from {ref})")
    for n in names:
        lines.append(f"  top {len(c['top_risk'][n])} risk, {n}: " + ", ".join(c["top_risk"][n]))
    return lines

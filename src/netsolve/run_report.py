"""What `netsolve run` prints on the terminal: the headline results, the certified bracket
(and a loud line when it is not certified) and the GB verdicts, all from ``summary.json``'s
values (one function per block, so the CLI and the tests read the same lines)."""

from __future__ import annotations


def human_summary(result) -> str:
    s = result.summary()
    lines = [f"{s['case']}: I = {s['total_current_A']:.6g} A, "
             f"R_eff = {s['effective_resistance_ohm']:.6g} ohm"]
    for name, current in s["electrode_currents_A"].items():
        lines.append(f"  {name:>12}: {s['electrode_potentials_V'][name]:+.6g} V, "
                     f"{current:+.6g} A")
    solver = s["solver"]
    lines.append(f"  solver {solver['method']}: {solver['iterations']} iterations, residual "
                 f"{solver['residual_rel']:.1e}, {solver['time_s']:.2f} s; "
                 f"{s['n_unknowns']} unknowns, {s['n_floating_voxels']} floating voxels")
    lines.append(f"  balance: current {s['current_balance_rel']:.1e}, "
                 f"power {s['power_balance_rel']:.1e}")
    return "\n".join(lines + bounds_lines(s["bounds"]) + gb_lines(result))


def bounds_lines(bounds: dict | None) -> list[str]:
    """The bracket of a certified solve, and a loud line when it misses bound_tol."""
    if bounds is None:
        return []
    resistance, power = bounds["resistance_ohm"], bounds["power_W"]
    if resistance["reason"] is None:
        what = (f"R_eff in [{resistance['lower']:.6g}, {resistance['upper']:.6g}] ohm")
    elif power["reason"] is None:
        what = f"power in [{power['lower']:.6g}, {power['upper']:.6g}] W"
    else:
        return [f"  bounds: none ({power['reason']})"]
    gap = bounds["relative_gap"]
    refinement = bounds.get("refinement")
    lines = [f"  bounds: {what} (relative gap {gap:.2%}, bound_tol {bounds['bound_tol']:.2%})"]
    if "upper_from" in bounds:
        lines.append(f"  upper bound from the {bounds['upper_from']} potential, lower bound from "
                     f"the {bounds['lower_from']} flux")
    if resistance["reason"] is None and not resistance.get("this_result_inside", True):
        half = 0.5 * (resistance["upper"] - resistance["lower"]) / resistance["estimate"]
        lines.append(f"  R_eff above is the mixed solution's (its fields' currents), outside "
                     f"the reconstructed bracket: quote R_eff = {resistance['estimate']:.6g} ohm "
                     f"+- {half:.2%} (the bracket's midpoint)")
    if refinement:
        lines.append(f"  refined {refinement['steps']} times to {refinement['cells'][-1]} cells "
                     f"(gap {(refinement.get('bracket_gap') or refinement['relative_gap'])[0]:.1%}"
                     f" on the voxels)")
    if not bounds["certified"]:
        why = {"refine_max_cells": "the cell budget solver.refine_max_cells was reached",
               "max_level": "the finest sub-voxel level was reached"}
        reason = (why.get(refinement["stopped_by"], "") if refinement
                  else "no refinement (3D, or solver.refine = false)")
        lines.append(f"  WARNING: not certified: the bracket is {gap:.1%} wide, more than "
                     f"solver.bound_tol = {bounds['bound_tol']:.1%} ({reason}); the error "
                     f"indicator (error_indicator_W in fields.vti) shows where the answer is "
                     f"uncertain")
    return lines


SHOWN_BLOCKING = 8  # blocking GBs named in the run summary; the rest are in gb_table.csv
SHOWN_CHANGES = 3  # GBs named whose subtype differs under the applied field


def gb_lines(result) -> list[str]:
    """The blocking GBs, the GBs most at risk and the subtype changes against the applied
    field, for the run summary: summary.json's ``grain_boundaries`` in words (none without
    orientations, e.g. a uniform isotropic case)."""
    gbs = result.summary()["grain_boundaries"]
    if gbs is None:
        return []
    blocking = gbs["blocking"]
    shown = ", ".join(f"{b['gb']} {b['subtype']}" for b in blocking[:SHOWN_BLOCKING])
    more = len(blocking) - SHOWN_BLOCKING
    lines = [f"  GBs: {gbs['n_gbs']} between grains, {len(blocking)} blocking"
             + (f": {shown}" if shown else "") + (f" and {more} more" if more > 0 else "")]
    idle = gbs["negligible_current_blocking"]
    if idle:
        lines.append(f"  not counted: {len(idle)} GB{'s' if len(idle) > 1 else ''} of a blocking "
                     f"subtype with negligible current: "
                     + ", ".join(f"{b['gb']} {b['subtype']}" for b in idle[:SHOWN_BLOCKING])
                     + (" ..." if len(idle) > SHOWN_BLOCKING else ""))
    if gbs["top_risk"]:
        lines.append("  highest Na+ accumulation risk: "
                     + ", ".join(f"{r['gb']} ({r['risk_score']:.2f})" for r in gbs["top_risk"]))
    changes = gbs["applied_field_changes"]
    if changes is not None:
        named = ", ".join(f"{c['gb']} {c['applied']} -> {c['solved']}"
                          for c in changes[:SHOWN_CHANGES])
        lines.append(f"  applied field (netsolve classify) -> solved field: {len(changes)} of "
                     f"{gbs['n_gbs']} GBs change subtype"
                     + (f": {named}{', ...' if len(changes) > SHOWN_CHANGES else ''}"
                        if changes else "") + " (gb_table.csv: applied_subtype)")
    return lines

"""Two-point (paper) against finite-element (full tensor) solution of the same case.

Per grain: mean |J| over its solved voxels. Per grain boundary (grain pair a < b): the current
from a to b (sum of its face currents, A) and the mean potential jump from a to b over its faces
(V; a's side minus b's side). Rankings (1 = largest) of grains by mean |J| and of GBs by |current|
and |jump|, with Spearman rank correlations between the two discretizations. Both solves use the
case's materials, electrodes and solver settings; only ``[solver] discretization`` differs.

When every grain has an orientation, each GB is also classified (:mod:`netsolve.analysis`)
under each discretization's own *solved* field (whatever ``[analysis] field`` says, so that the
comparison shows what the discretization changes): subtype (type, letter, suffix), behaviour,
blocking flag, risk score and risk rank (1 = highest risk) per GB, the GBs whose subtype or
blocking flag changed, the Spearman correlation of the risk scores and the top-k risk GBs.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .case import Case, load_case
from .microstructure import Phase
from .result import Result

DISCRETIZATIONS = ("tpfa", "fem")
TOP_RISK = 5  # GBs listed per discretization in the risk ranking


@dataclass(frozen=True)
class Comparison:
    """Tables keyed by column name (NumPy arrays of equal length) plus global numbers."""

    case_label: str
    grains: dict[str, np.ndarray]
    grain_boundaries: dict[str, np.ndarray]
    summary: dict


def grain_mean_current_density(result: Result) -> tuple[np.ndarray, np.ndarray]:
    """(grain ids, mean |J| in A/m^2 over each grain's solved voxels; NaN if none)."""
    labels = result.microstructure.labels.ravel()
    magnitude = np.linalg.norm(result.fields.current_density.reshape(labels.size, -1), axis=1)
    grain = (result.microstructure.phase.ravel() == Phase.GRAIN) & np.isfinite(magnitude)
    ids = np.unique(result.microstructure.labels[result.microstructure.phase == Phase.GRAIN])
    index = np.searchsorted(ids, labels[grain])
    total = np.bincount(index, magnitude[grain], len(ids))
    count = np.bincount(index, minlength=len(ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        return ids, total / count


def grain_boundary_table(result: Result) -> dict[str, np.ndarray]:
    """Per GB (a < b): n_faces, current a -> b (A), mean jump a -> b (V), from the GB faces."""
    fields = result.fields
    labels = result.microstructure.labels.ravel()
    lower = labels[fields.gb_face_voxels[:, 0]].astype(np.int64)
    upper = labels[fields.gb_face_voxels[:, 1]].astype(np.int64)
    sign = np.where(lower < upper, 1.0, -1.0)  # faces report lower voxel -> upper voxel
    a, b = np.minimum(lower, upper), np.maximum(lower, upper)
    pairs, inverse = np.unique(np.stack([a, b], axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n_faces = np.bincount(inverse, minlength=len(pairs))
    return {"grain_a": pairs[:, 0], "grain_b": pairs[:, 1], "n_faces": n_faces,
            "current_A": np.bincount(inverse, sign * fields.gb_face_current, len(pairs)),
            "jump_V": np.bincount(inverse, sign * fields.gb_face_jump, len(pairs)) / n_faces}


def descending_rank(values: np.ndarray) -> np.ndarray:
    """1 for the largest value (NaN last)."""
    order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(1, len(values) + 1)
    return rank


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    finite = np.isfinite(x) & np.isfinite(y)
    if finite.sum() < 3:
        return float("nan")
    return float(spearmanr(x[finite], y[finite]).statistic)


def relative_difference(fem: np.ndarray, tpfa: np.ndarray) -> np.ndarray:
    """(fem - tpfa) / |tpfa| (NaN where tpfa is 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tpfa != 0, (fem - tpfa) / np.abs(tpfa), np.nan)


def classification_table(result: Result) -> dict[str, np.ndarray] | None:
    """Per whole GB (a < b, sorted): subtype, behaviour, blocking, risk score, under the
    result's own solved field; None when a grain has no orientation (nothing to classify)."""
    from .analysis import gb_table
    from .analysis.report import WHOLE_GB

    micro = result.microstructure
    if len(micro.unoriented_grain_ids):
        return None
    table = gb_table(result.case, micro, result.graph, result.fields,
                     result.solution.electrode_potential, direction_fields=result.fields,
                     geometry=result.gb_geometry)
    rows = np.flatnonzero((table.segment == WHOLE_GB) & (table.grain_b >= 0))
    rows = rows[np.lexsort((table.grain_b[rows], table.grain_a[rows]))]
    return {"grain_a": table.grain_a[rows], "grain_b": table.grain_b[rows],
            "subtype": table.subtype[rows].astype(str),
            "behaviour": table.behaviour[rows].astype(str),
            "blocking": table.blocking[rows].astype(bool), "risk": table.risk_score[rows]}


def _align(table: dict[str, np.ndarray], gbs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The classification rows of the GBs in ``gbs`` (same order); a GB with no classified row
    (possible only if all its faces float) gets subtype "", not blocking, risk NaN."""
    if not len(table["grain_a"]):
        table = {"grain_a": np.array([-1]), "grain_b": np.array([-1]), "subtype": np.array([""]),
                 "behaviour": np.array([""]), "blocking": np.array([False]),
                 "risk": np.array([np.nan])}
    span = int(max(table["grain_b"].max(initial=0), gbs["grain_b"].max(initial=0))) + 1
    key = table["grain_a"].astype(np.int64) * span + table["grain_b"]
    wanted = gbs["grain_a"].astype(np.int64) * span + gbs["grain_b"]
    where = np.minimum(np.searchsorted(key, wanted), len(key) - 1)
    found = key[where] == wanted
    return {"subtype": np.where(found, table["subtype"][where], ""),
            "behaviour": np.where(found, table["behaviour"][where], ""),
            "blocking": found & table["blocking"][where],
            "risk": np.where(found, table["risk"][where], np.nan)}


def _gb_names(table: dict[str, np.ndarray], rows: np.ndarray) -> list[str]:
    return [f"G{a}/G{b}" for a, b in zip(table["grain_a"][rows], table["grain_b"][rows])]


def compare_classifications(gbs: dict[str, np.ndarray], tpfa: dict | None, fem: dict | None,
                            top: int = TOP_RISK) -> dict | None:
    """Add the classification columns of both discretizations to ``gbs`` (in place, rows
    matched by grain pair) and return the summary: changed GBs, blocking counts, Spearman
    correlation of the risk scores, top-``top`` risk GBs of each."""
    if tpfa is None or fem is None:
        return None
    tpfa, fem = _align(tpfa, gbs), _align(fem, gbs)
    for name, table in (("tpfa", tpfa), ("fem", fem)):
        for column in ("subtype", "behaviour", "blocking"):
            gbs[f"{column}_{name}"] = table[column]
        gbs[f"risk_{name}"] = table["risk"]
        gbs[f"risk_rank_{name}"] = descending_rank(table["risk"])
    changed = ((tpfa["subtype"] != fem["subtype"]) | (tpfa["blocking"] != fem["blocking"]))
    gbs["classification_changed"] = changed
    rows = np.flatnonzero(changed)
    return {
        "field": "solved",
        "n_classified": len(changed), "n_changed": len(rows),
        "changed": [f"{name}: {t} -> {f}" for name, t, f in
                    zip(_gb_names(gbs, rows), tpfa["subtype"][rows], fem["subtype"][rows])],
        "n_blocking": {"tpfa": int(tpfa["blocking"].sum()), "fem": int(fem["blocking"].sum())},
        "blocking": {"tpfa": _gb_names(gbs, np.flatnonzero(tpfa["blocking"])),
                     "fem": _gb_names(gbs, np.flatnonzero(fem["blocking"]))},
        "spearman_risk": spearman(tpfa["risk"], fem["risk"]),
        "top_risk": {name: _gb_names(gbs, np.argsort(gbs[f"risk_rank_{name}"])[:top])
                     for name in DISCRETIZATIONS},
    }


def compare_results(tpfa: Result, fem: Result) -> Comparison:
    """Compare two results of the same microstructure."""
    ids, j_tpfa = grain_mean_current_density(tpfa)
    _, j_fem = grain_mean_current_density(fem)
    grains = {"grain": ids, "mean_abs_J_tpfa_A_m2": j_tpfa, "mean_abs_J_fem_A_m2": j_fem,
              "rel_diff": relative_difference(j_fem, j_tpfa),
              "rank_tpfa": descending_rank(j_tpfa), "rank_fem": descending_rank(j_fem)}
    gb_t, gb_f = grain_boundary_table(tpfa), grain_boundary_table(fem)
    if not (np.array_equal(gb_t["grain_a"], gb_f["grain_a"])
            and np.array_equal(gb_t["grain_b"], gb_f["grain_b"])):
        raise ValueError("the two results have different grain boundaries")
    gbs = {"grain_a": gb_t["grain_a"], "grain_b": gb_t["grain_b"], "n_faces": gb_t["n_faces"]}
    for name in ("current_A", "jump_V"):
        gbs[f"{name}_tpfa"], gbs[f"{name}_fem"] = gb_t[name], gb_f[name]
        gbs[f"{name}_rel_diff"] = relative_difference(gb_f[name], gb_t[name])
        gbs[f"{name}_rank_tpfa"] = descending_rank(np.abs(gb_t[name]))
        gbs[f"{name}_rank_fem"] = descending_rank(np.abs(gb_f[name]))
    summary = {
        "case": tpfa.case.label,
        "total_current_A": {"tpfa": tpfa.total_current_A, "fem": fem.total_current_A},
        "effective_resistance_ohm": {"tpfa": tpfa.effective_resistance_ohm,
                                     "fem": fem.effective_resistance_ohm},
        "spearman": {
            "grain_mean_abs_J": spearman(j_tpfa, j_fem),
            "gb_abs_current": spearman(np.abs(gb_t["current_A"]), np.abs(gb_f["current_A"])),
            "gb_abs_jump": spearman(np.abs(gb_t["jump_V"]), np.abs(gb_f["jump_V"]))},
        "n_grains": len(ids), "n_grain_boundaries": len(gbs["grain_a"]),
        "solver": {"tpfa": tpfa.solution.stats.as_dict(), "fem": fem.solution.stats.as_dict()},
        "classification": compare_classifications(gbs, classification_table(tpfa),
                                                  classification_table(fem)),
    }
    return Comparison(tpfa.case.label, grains, gbs, summary)


def compare(case: Case | str | Path) -> Comparison:
    """Solve a case with both discretizations and compare them."""
    from .api import solve

    if not isinstance(case, Case):
        case = load_case(case)
    tpfa, fem = (solve(case, discretization=name) for name in DISCRETIZATIONS)
    return compare_results(tpfa, fem)


def write_comparison(comparison: Comparison, out_dir: str | Path, *,
                     overwrite: bool = False) -> Path:
    """``summary.json``, ``grain_comparison.csv``, ``gb_comparison.csv`` (atomic; an existing
    non-empty ``out_dir`` needs ``overwrite``, see :mod:`netsolve.atomic`)."""
    from .atomic import atomic_directory

    target = atomic_directory(out_dir, overwrite=overwrite)
    with target as tmp:
        (tmp / "summary.json").write_text(json.dumps(comparison.summary, indent=2) + "\n")
        for name, table in (("grain_comparison", comparison.grains),
                            ("gb_comparison", comparison.grain_boundaries)):
            with open(tmp / f"{name}.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(table)
                writer.writerows(zip(*(column.tolist() for column in table.values())))
    return target.target


def format_comparison(comparison: Comparison) -> str:
    """Human-readable tables (all grains; GBs ordered by the FEM |current| rank)."""
    s = comparison.summary
    lines = [f"{s['case']}: two-point (tpfa) vs finite elements (fem)",
             f"  total current: tpfa {s['total_current_A']['tpfa']:.6g} A, "
             f"fem {s['total_current_A']['fem']:.6g} A",
             "  Spearman rank correlation: grain mean|J| {grain_mean_abs_J:.3f}, GB |current| "
             "{gb_abs_current:.3f}, GB |jump| {gb_abs_jump:.3f}".format(**s["spearman"]),
             "", f"  {'grain':>6} {'mean|J| tpfa':>13} {'mean|J| fem':>13} {'rel diff':>9} "
                 f"{'rank t':>6} {'rank f':>6}"]
    g = comparison.grains
    for row in np.argsort(g["rank_fem"]):
        lines.append(f"  {g['grain'][row]:>6} {g['mean_abs_J_tpfa_A_m2'][row]:13.4g} "
                     f"{g['mean_abs_J_fem_A_m2'][row]:13.4g} {g['rel_diff'][row]:+9.1%} "
                     f"{g['rank_tpfa'][row]:>6} {g['rank_fem'][row]:>6}")
    b = comparison.grain_boundaries
    lines += ["", f"  {'GB':>9} {'faces':>5} {'I tpfa':>10} {'I fem':>10} {'rank t':>6} "
                  f"{'rank f':>6} {'jump tpfa':>10} {'jump fem':>10} {'rank t':>6} {'rank f':>6}"]
    for row in np.argsort(b["current_A_rank_fem"]):
        gb = f"G{b['grain_a'][row]}/G{b['grain_b'][row]}"
        lines.append(
            f"  {gb:>9} {b['n_faces'][row]:>5} {b['current_A_tpfa'][row]:10.3g} "
            f"{b['current_A_fem'][row]:10.3g} {b['current_A_rank_tpfa'][row]:>6} "
            f"{b['current_A_rank_fem'][row]:>6} {b['jump_V_tpfa'][row]:10.3g} "
            f"{b['jump_V_fem'][row]:10.3g} {b['jump_V_rank_tpfa'][row]:>6} "
            f"{b['jump_V_rank_fem'][row]:>6}")
    return "\n".join(lines + _format_classification(comparison))


def _format_classification(comparison: Comparison) -> list[str]:
    c = comparison.summary["classification"]
    if c is None:
        return ["", "  GB classification: not compared (some grains have no orientation)"]
    b = comparison.grain_boundaries
    lines = ["", f"  GB classification under each solved field: {c['n_changed']} of "
                 f"{c['n_classified']} GBs changed; blocking GBs tpfa {c['n_blocking']['tpfa']}, "
                 f"fem {c['n_blocking']['fem']}; Spearman rank correlation of the risk score "
                 f"{c['spearman_risk']:.3f}",
             f"  {'GB':>9} {'subtype t':>10} {'subtype f':>10} {'block t':>7} {'block f':>7} "
             f"{'risk t':>7} {'risk f':>7} {'rank t':>6} {'rank f':>6}"]
    for row in np.argsort(b["risk_rank_fem"]):
        mark = "  *" if b["classification_changed"][row] else ""
        lines.append(
            f"  {'G%d/G%d' % (b['grain_a'][row], b['grain_b'][row]):>9} "
            f"{b['subtype_tpfa'][row]:>10} {b['subtype_fem'][row]:>10} "
            f"{'yes' if b['blocking_tpfa'][row] else 'no':>7} "
            f"{'yes' if b['blocking_fem'][row] else 'no':>7} {b['risk_tpfa'][row]:7.3f} "
            f"{b['risk_fem'][row]:7.3f} {b['risk_rank_tpfa'][row]:>6} "
            f"{b['risk_rank_fem'][row]:>6}{mark}")
    lines.append("  (* subtype or blocking flag changed)")
    for name in DISCRETIZATIONS:
        lines.append(f"  top {len(c['top_risk'][name])} risk, {name}: "
                     + ", ".join(c["top_risk"][name]))
    return lines

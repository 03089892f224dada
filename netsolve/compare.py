"""Two-point (paper) against finite-element (full tensor) solution of the same case.

Per grain: mean |J| over its solved voxels. Per grain boundary (grain pair a < b): the current
from a to b (sum of its face currents, A) and the mean potential jump from a to b over its faces
(V; a's side minus b's side). Rankings (1 = largest) of grains by mean |J| and of GBs by |current|
and |jump|, with Spearman rank correlations between the two discretizations. Both solves use the
case's materials, electrodes and solver settings; only ``[solver] discretization`` differs.
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
    }
    return Comparison(tpfa.case.label, grains, gbs, summary)


def compare(case: Case | str | Path) -> Comparison:
    """Solve a case with both discretizations and compare them."""
    from .api import solve

    if not isinstance(case, Case):
        case = load_case(case)
    tpfa, fem = (solve(case, discretization=name) for name in DISCRETIZATIONS)
    return compare_results(tpfa, fem)


def write_comparison(comparison: Comparison, out_dir: str | Path) -> Path:
    """``summary.json``, ``grains.csv``, ``grain_boundaries.csv`` (atomic)."""
    from .export import atomic_directory

    out_dir = Path(out_dir).absolute()
    with atomic_directory(out_dir) as tmp:
        (tmp / "summary.json").write_text(json.dumps(comparison.summary, indent=2) + "\n")
        for name, table in (("grains", comparison.grains),
                            ("grain_boundaries", comparison.grain_boundaries)):
            with open(tmp / f"{name}.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(table)
                writer.writerows(zip(*(column.tolist() for column in table.values())))
    return out_dir


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
    return "\n".join(lines)

"""Several discretizations of one case side by side: two-point (``tpfa``, the paper's network),
Q1 finite elements (``fem``) and the certified, conservative mixed method (``mixed``).

The *reference* is ``mixed`` when it is compared (else the first discretization named); every
other one is set against it. Per grain: mean |J| over its solved voxels. Per grain boundary
(grain pair a < b): the current from a to b (sum of its face currents, A) and the mean potential
jump from a to b over its faces (V; a's side minus b's side). Rankings (1 = largest) of grains
by mean |J| and of GBs by |current| and |jump|, relative differences and Spearman rank
correlations against the reference. All solves use the case's materials, electrodes and solver
settings; only ``[solver] discretization`` differs, and ``bounds`` is on for ``mixed`` (its
R_eff bracket, :mod:`netsolve.certify`, with the case's ``bound_tol``, ``refine`` and
``refine_max_cells``) and off for the others. The summary says where each discretization's
R_eff lies relative to that bracket.

When every grain has an orientation, each GB is also classified (:mod:`netsolve.analysis`)
under each discretization's own *solved* field (whatever ``[analysis] field`` says, so that the
comparison shows what the discretization changes): subtype (type, letter, suffix), behaviour,
blocking flag, risk score and risk rank (1 = highest risk) per GB, the GBs whose subtype or
blocking flag differs from the reference's, the Spearman correlation of the risk scores and the
top-k risk GBs (:mod:`netsolve.compare_classes`). Text output: :mod:`netsolve.compare_report`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .case import Case, load_case
from .compare_classes import (TOP_RISK, classification_table, compare_classifications,
                              descending_rank, spearman)
from .compare_report import format_comparison
from .errors import CaseError
from .microstructure import Phase
from .result import Result

__all__ = ["DISCRETIZATIONS", "TOP_RISK", "Comparison", "compare", "compare_results",
           "format_comparison", "write_comparison", "check_discretizations"]

DISCRETIZATIONS = ("tpfa", "fem", "mixed")
CERTIFIED = "mixed"  # the reference column whenever it is compared


@dataclass(frozen=True)
class Comparison:
    """Tables keyed by column name (NumPy arrays of equal length) plus global numbers;
    ``discretizations`` in column order, ``reference`` the one the others are set against."""

    case_label: str
    discretizations: tuple[str, ...]
    reference: str
    grains: dict[str, np.ndarray]
    grain_boundaries: dict[str, np.ndarray]
    summary: dict


def check_discretizations(names, what: str = "--discretizations") -> tuple[str, ...]:
    """At least two distinct names of :data:`DISCRETIZATIONS` (order kept); a CaseError
    naming ``what`` otherwise."""
    from .tables import check_choices

    names = check_choices(tuple(names), DISCRETIZATIONS, what, "discretization")
    if len(names) < 2:
        raise CaseError(f"{what}: give at least two different discretizations to compare "
                        f"(of {', '.join(DISCRETIZATIONS)}), got {', '.join(names) or 'none'}")
    return names


def reference_of(names: tuple[str, ...]) -> str:
    return CERTIFIED if CERTIFIED in names else names[0]


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


def relative_difference(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(value - reference) / |reference| (NaN where the reference is 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(reference != 0, (value - reference) / np.abs(reference), np.nan)


def bracket_position(lower: float, upper: float, value: float, slack: float) -> dict:
    """Where ``value`` lies against [lower, upper]: ``side`` "below" / "inside" / "above" and
    ``excess``, value / lower - 1 below, value / upper - 1 above, 0 inside. Both ends are
    widened by the relative ``slack`` (the solver balance the bounds themselves hold to)."""
    if not np.isfinite(value):
        return {"side": None, "excess": None}
    if value < lower * (1 - slack):
        return {"side": "below", "excess": value / lower - 1}
    if value > upper * (1 + slack):
        return {"side": "above", "excess": value / upper - 1}
    return {"side": "inside", "excess": 0.0}


def resistance_bracket(results: dict[str, Result]) -> dict | None:
    """The certified R_eff bracket (of the first result that has one: the mixed solve) and
    where every result's R_eff lies against it; None when no result is certified. Without two
    electrodes (or fixed potentials of two values) there is none (``reason``)."""
    certified = [name for name, result in results.items() if result.certificate is not None]
    if not certified:
        return None
    source = results[certified[0]]
    bounds = source.bounds_summary()
    resistance = source.certificate.resistance_ohm
    refinement = bounds["refinement"]
    out = {"from": certified[0], "lower_ohm": resistance.lower, "upper_ohm": resistance.upper,
           "relative_gap": resistance.relative_gap, "reason": resistance.reason,
           "bound_tol": bounds["bound_tol"],
           "certified": bounds["certified"],
           "cells": None if refinement is None else refinement["cells"][-1],
           "stopped_by": None if refinement is None else refinement["stopped_by"],
           "power_W": bounds["power_W"], "position": {}}
    if resistance.reason is None:
        slack = source.case.solver.balance_tol
        out["position"] = {name: bracket_position(resistance.lower, resistance.upper,
                                                  result.effective_resistance_ohm, slack)
                           for name, result in results.items()}
    return out


def compare_results(results: dict[str, Result], reference: str | None = None) -> Comparison:
    """Compare results of the same microstructure, keyed by discretization name (column
    order); ``reference`` defaults to ``mixed`` if present, else the first."""
    names = tuple(results)
    if len(names) < 2:
        raise ValueError("compare_results needs at least two results")
    reference = reference or reference_of(names)
    ref = results[reference]
    others = tuple(n for n in names if n != reference)
    ids, j_ref = grain_mean_current_density(ref)
    mean_j = {n: j_ref if n == reference else grain_mean_current_density(results[n])[1]
              for n in names}
    grains = {"grain": ids}
    grains.update({f"mean_abs_J_{n}_A_m2": mean_j[n] for n in names})
    grains.update({f"rel_diff_{n}": relative_difference(mean_j[n], j_ref) for n in others})
    grains.update({f"rank_{n}": descending_rank(mean_j[n]) for n in names})

    tables = {n: grain_boundary_table(results[n]) for n in names}
    first = tables[reference]
    for n in others:
        if not (np.array_equal(tables[n]["grain_a"], first["grain_a"])
                and np.array_equal(tables[n]["grain_b"], first["grain_b"])):
            raise ValueError(f"the {n} and {reference} results have different grain boundaries")
    gbs = {"grain_a": first["grain_a"], "grain_b": first["grain_b"], "n_faces": first["n_faces"]}
    for quantity in ("current_A", "jump_V"):
        gbs.update({f"{quantity}_{n}": tables[n][quantity] for n in names})
        gbs.update({f"{quantity}_rel_diff_{n}": relative_difference(tables[n][quantity],
                                                                    first[quantity])
                    for n in others})
        gbs.update({f"{quantity}_rank_{n}": descending_rank(np.abs(tables[n][quantity]))
                    for n in names})
    summary = {
        "case": ref.case.label, "discretizations": list(names), "reference": reference,
        "total_current_A": {n: results[n].total_current_A for n in names},
        "effective_resistance_ohm": {n: results[n].effective_resistance_ohm for n in names},
        "bounds": resistance_bracket(results),
        "spearman": {n: {
            "grain_mean_abs_J": spearman(mean_j[n], j_ref),
            "gb_abs_current": spearman(np.abs(tables[n]["current_A"]), np.abs(first["current_A"])),
            "gb_abs_jump": spearman(np.abs(tables[n]["jump_V"]), np.abs(first["jump_V"]))}
            for n in others},
        "n_grains": len(ids), "n_grain_boundaries": len(gbs["grain_a"]),
        "solver": {n: results[n].solution.stats.as_dict() for n in names},
        "classification": compare_classifications(
            gbs, {n: classification_table(results[n]) for n in names}, reference),
    }
    return Comparison(ref.case.label, names, reference, grains, gbs, summary)


def solve_for_comparison(case: Case, name: str) -> Result:
    """``case`` solved with discretization ``name``: bounds on for the mixed method (its
    certified bracket), off for the others (a bracket per column would repeat the same two
    extra solves)."""
    from .api import solve

    solver = replace(case.solver, discretization=name, bounds=name == CERTIFIED)
    return solve(replace(case, solver=solver))


def compare(case: Case | str | Path, discretizations=DISCRETIZATIONS) -> Comparison:
    """Solve a case with each of ``discretizations`` (at least two of
    :data:`DISCRETIZATIONS`) and compare them."""
    names = check_discretizations(discretizations, "discretizations")
    if not isinstance(case, Case):
        case = load_case(case)
    return compare_results({name: solve_for_comparison(case, name) for name in names})


def write_comparison(comparison: Comparison, out_dir: str | Path, *,
                     overwrite: bool = False) -> Path:
    """``summary.json``, ``grain_comparison.csv``, ``gb_comparison.csv`` (atomic; an existing
    non-empty ``out_dir`` needs ``overwrite``, see :mod:`netsolve.atomic`)."""
    from .atomic import atomic_directory
    from .result import strict_json

    target = atomic_directory(out_dir, overwrite=overwrite)
    with target as tmp:
        (tmp / "summary.json").write_text(
            json.dumps(strict_json(comparison.summary), indent=2, allow_nan=False) + "\n")
        for name, table in (("grain_comparison", comparison.grains),
                            ("gb_comparison", comparison.grain_boundaries)):
            with open(tmp / f"{name}.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(table)
                writer.writerows(zip(*(column.tolist() for column in table.values())))
    return target.target

"""The GB classification and risk ranking of several solutions of one case, side by side
(:mod:`netsolve.compare`): each GB classified under each discretization's own solved field,
rows matched by grain pair, set against a reference discretization."""

from __future__ import annotations

import numpy as np

from .result import Result

TOP_RISK = 5  # GBs listed per discretization in the risk ranking


def descending_rank(values: np.ndarray) -> np.ndarray:
    """1 for the largest value (NaN last)."""
    order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(1, len(values) + 1)
    return rank


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation over the rows where both are finite (NaN below 3 rows)."""
    from scipy.stats import spearmanr

    finite = np.isfinite(x) & np.isfinite(y)
    if finite.sum() < 3:
        return float("nan")
    return float(spearmanr(x[finite], y[finite]).statistic)


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


def gb_names(table: dict[str, np.ndarray], rows: np.ndarray) -> list[str]:
    return [f"G{a}/G{b}" for a, b in zip(table["grain_a"][rows], table["grain_b"][rows])]


def _verdict(table: dict[str, np.ndarray], row: int) -> str:
    return table["subtype"][row] + (" (blocking)" if table["blocking"][row] else "")


def compare_classifications(gbs: dict[str, np.ndarray], tables: dict[str, dict | None],
                            reference: str, top: int = TOP_RISK) -> dict | None:
    """Add the classification columns of every discretization in ``tables`` (name ->
    :func:`classification_table`) to ``gbs`` (in place, rows matched by grain pair) and return
    the summary: GBs whose subtype or blocking flag differs from the ``reference``'s (in any /
    per discretization), blocking GBs, Spearman correlation of each risk score with the
    reference's, top-``top`` risk GBs of each. None when a table is None (no orientations)."""
    if any(table is None for table in tables.values()):
        return None
    aligned = {name: _align(table, gbs) for name, table in tables.items()}
    ref = aligned[reference]
    others = [name for name in aligned if name != reference]
    for name, table in aligned.items():
        for column in ("subtype", "behaviour", "blocking"):
            gbs[f"{column}_{name}"] = table[column]
        gbs[f"risk_{name}"] = table["risk"]
        gbs[f"risk_rank_{name}"] = descending_rank(table["risk"])
    differs = {name: (aligned[name]["subtype"] != ref["subtype"])
               | (aligned[name]["blocking"] != ref["blocking"]) for name in others}
    changed = np.logical_or.reduce(list(differs.values()))
    gbs["classification_changed"] = changed
    rows = np.flatnonzero(changed)
    return {
        "field": "solved", "reference": reference,
        "n_classified": len(changed), "n_changed": len(rows),
        "n_changed_vs_reference": {name: int(d.sum()) for name, d in differs.items()},
        "changed": [f"{gb}: " + ", ".join(f"{name} {_verdict(aligned[name], row)}"
                                          for name in aligned)
                    for gb, row in zip(gb_names(gbs, rows), rows)],
        "n_blocking": {name: int(t["blocking"].sum()) for name, t in aligned.items()},
        "blocking": {name: gb_names(gbs, np.flatnonzero(t["blocking"]))
                     for name, t in aligned.items()},
        "spearman_risk": {name: spearman(aligned[name]["risk"], ref["risk"]) for name in others},
        "top_risk": {name: gb_names(gbs, np.argsort(gbs[f"risk_rank_{name}"])[:top])
                     for name in aligned},
    }

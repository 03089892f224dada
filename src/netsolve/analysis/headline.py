"""The answers of a GB table in a few names: what ``netsolve run`` prints, what ``summary.json``
holds under ``grain_boundaries`` and what a sweep row keeps (one function for all three, so
they never disagree)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classify import BLOCKING, BLOCKING_ALONG


@dataclass(frozen=True)
class Headline:
    """The answers of a GB table in a few names (whole GBs between two grains, e.g.
    ``"G11/G16"``): the blocking ones with their subtypes, most at risk first; the GB with the
    largest |GB field|; the ``top_k`` GBs by risk score; the GBs of a blocking subtype left
    out for negligible current; and, when the table has the applied-field subtypes, the GBs
    whose subtype differs under the applied field as (GB, applied, solved), else None
    (``docs/gb-classification.md``)."""

    n_gbs: int
    blocking: list[tuple[str, str]]
    max_field: tuple[str, float] | None  # (GB, |gb_field_V_m| in V/m); None without a solve
    top_risk: list[tuple[str, float]]
    idle_blocking: list[tuple[str, str]] = ()
    applied_changes: list[tuple[str, str, str]] | None = None


def headline(table, top_k: int = 5) -> Headline:
    """:class:`Headline` of a :class:`~netsolve.analysis.GBTable`; risk ties keep the table
    order."""
    whole = np.flatnonzero(table.whole_gbs)
    names = [f"G{a}/G{b}" for a, b in zip(table.grain_a[whole].tolist(),
                                          table.grain_b[whole].tolist())]
    score = table.risk_score[whole]
    order = np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")
    subtype, is_blocking = table.subtype[whole], np.asarray(table.blocking[whole], bool)
    blocking = [(names[k], str(subtype[k])) for k in order[is_blocking[order]].tolist()]
    idle = table.negligible_current[whole] & np.isin(table.behaviour[whole],
                                                     (BLOCKING, BLOCKING_ALONG))
    idle_blocking = [(names[k], str(subtype[k])) for k in np.flatnonzero(idle)]
    field = np.abs(table.gb_field_V_m[whole])
    max_field = None
    if np.isfinite(field).any():
        k = int(np.nanargmax(field))
        max_field = (names[k], float(field[k]))
    ranked = order[np.isfinite(score[order])][:top_k]
    top = [(names[k], float(score[k])) for k in ranked.tolist()]
    applied = np.asarray(table.applied_subtype[whole]).astype(str)
    changes = None
    if len(whole) and (applied != "").all() and (table.field_source[whole] == "solved").all():
        changes = [(names[k], applied[k], str(subtype[k]))
                   for k in np.flatnonzero(applied != subtype.astype(str))]
    return Headline(len(whole), blocking, max_field, top, idle_blocking, changes)


def headline_summary(table, top_k: int = 5) -> dict:
    """The ``grain_boundaries`` entry of ``summary.json`` (:func:`headline`, JSON-ready)."""
    gbs = headline(table, top_k)
    changes = gbs.applied_changes
    return {
        "n_gbs": gbs.n_gbs,
        "n_blocking": len(gbs.blocking),
        "blocking": [{"gb": name, "subtype": subtype} for name, subtype in gbs.blocking],
        "top_risk": [{"gb": name, "risk_score": score} for name, score in gbs.top_risk],
        "max_gb_field": (None if gbs.max_field is None else
                         {"gb": gbs.max_field[0], "gb_field_V_m": gbs.max_field[1]}),
        "negligible_current_blocking": [{"gb": name, "subtype": subtype}
                                        for name, subtype in gbs.idle_blocking],
        "applied_field_changes": (None if changes is None else
                                  [{"gb": name, "applied": applied, "solved": solved}
                                   for name, applied, solved in changes]),
    }

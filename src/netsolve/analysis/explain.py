"""Why a grain boundary got its verdict, in words and numbers: the ``reason`` column of the GB
table and ``netsolve explain RESULT G11/G16`` (rules: ``docs/gb-classification.md``).

A reason names the rule that fired at each step (type from psi, suffix from the field angle,
letter from the planes or the drift), the grains and the angles it compared against the
thresholds, the behaviour, and why a GB that the geometry calls blocking is not counted
(isotropic conduction, negligible current). Angles in degrees, |J| in A/m^2.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import CaseError
from .classify import NOT_CLASSIFIED, Classification

GB_NAME = re.compile(r"^\s*G(\d+)\s*/\s*G(\d+)\s*$", re.IGNORECASE)


def reasons(cls: Classification, grain_a: np.ndarray, grain_b: np.ndarray, options,
            field_source: str, plane_rules_off: str | None,
            idle: np.ndarray, band_j: np.ndarray, median_j: float) -> np.ndarray:
    """The reason text of every classified row (object array).

    grain_a, grain_b: grain ids per row; options: ``case.analysis``; field_source: "solved" or
    "applied"; plane_rules_off: why the plane rules do not apply
    (:func:`.classify.isotropic_conduction`), or None; idle: the negligible-current flag per
    row, band_j: the larger band |J| per row, median_j: the median |J| of the grains (A/m^2).
    """
    tau, across = options.type_tolerance_deg, options.across_angle_deg
    out = []
    for k in range(len(cls.psi_deg)):  # one sentence per table row
        words = _row_reason(cls, k, int(grain_a[k]), int(grain_b[k]), tau, across,
                            field_source, plane_rules_off)
        if idle[k]:
            words += (f"; negligible current: band |J| {band_j[k]:.3g} A/m^2 < "
                      f"{options.negligible_current_rel:g} x the grains' median |J| "
                      f"{median_j:.3g} A/m^2, so not counted as blocking and not ranked")
        out.append(words)
    return np.array(out, dtype=object)


def _row_reason(cls: Classification, k: int, a: int, b: int, tau: float, across: float,
                source: str, plane_rules_off: str | None) -> str:
    psi, gb_type, letter = cls.psi_deg[k], cls.gb_type[k], cls.letter[k]
    if not gb_type:
        return "undetermined: a grain of this GB has no orientation"
    if not letter:
        if not np.isfinite(cls.c_normal_deg_a[k]):
            return "undetermined: the GB normal is undefined (its voxel faces cancel)"
        return f"undetermined: no {source} field at the GB (its voxels are not solved)"
    subtype = f"{gb_type} {letter}{cls.suffix[k]}"
    if gb_type == "I":
        kind = f"psi = {psi:.1f} deg <= {tau:g}: type I (planes of G{a} and G{b} parallel)"
    elif gb_type == "II":
        kind = f"psi = {psi:.1f} deg >= {90 - tau:g}: type II (planes perpendicular)"
    else:
        kind = (f"psi = {psi:.1f} deg, between {tau:g} and {90 - tau:g}: type III "
                f"(oblique planes)")
    angle = float(np.degrees(np.arccos(min(abs(cls.field_normal_cos[k]), 1.0))))
    crossing = (f"the {source} field is {angle:.1f} deg from the GB normal "
                + (f"(<= {across:g}: it crosses the GB, suffix 1)" if cls.suffix[k] == 1
                   else f"(> {across:g}: it runs along the GB, suffix 2)"))
    verdict = (f"{subtype} -> behaviour {cls.behaviour[k]}"
               + (", a blocking subtype" if cls.blocking[k] else ""))
    if plane_rules_off is not None:
        return (f"{subtype} geometry, but {plane_rules_off}: the plane rules do not apply, the "
                f"GB behaves like type I b and never blocks -> {cls.behaviour[k]}: "
                f"{kind}; {crossing}")
    return f"{verdict}: {kind}; {crossing}; {_letter_reason(cls, k, a, b, tau)}"


def _letter_reason(cls: Classification, k: int, a: int, b: int, tau: float) -> str:
    gb_type, letter = cls.gb_type[k], cls.letter[k]
    angle = {a: cls.c_normal_deg_a[k], b: cls.c_normal_deg_b[k]}

    def planes(g: int) -> str:
        parallel = angle[g] <= tau
        return (f"G{g}'s planes are {'' if parallel else 'not '}parallel to the GB (c-axis "
                f"{angle[g]:.1f} deg from the normal, {'<=' if parallel else '>'} {tau:g})")

    if gb_type == "I":
        if letter == "a":
            g = a if angle[a] <= angle[b] else b
            return f"{planes(g)}: a spinel layer separates the grains, letter a"
        return (f"neither grain's planes are parallel to the GB (c-axes {angle[a]:.1f} and "
                f"{angle[b]:.1f} deg from the normal, > {tau:g}): the planes connect across it, "
                f"letter b")
    if gb_type == "II":
        down = cls.downstream[k]
        if not down:
            g = a if angle[a] <= angle[b] else b
            return (f"the field has no normal part, so either grain counts as downstream; "
                    f"{planes(g)}: letter {letter}")
        g, up = (b, a) if down == "b" else (a, b)
        return (f"the field enters G{g} (downstream): {planes(g)}, so ions arriving from "
                f"G{up} are {'stopped, letter b' if letter == 'b' else 'passed on, letter a'}")
    drift_a, drift_b = cls.drift_a[k], cls.drift_b[k]
    if np.isfinite(drift_a):
        return (f"under the field's tangential part the Na+ drift "
                f"{'converges on' if letter == 'a' else 'does not converge on'} the GB "
                f"(w.n = {drift_a:+.3g} in G{a}, {drift_b:+.3g} in G{b}, sigma_ip units; "
                f"converging: > 0 in G{a} and < 0 in G{b}), letter {letter}")
    return (f"the field has no tangential part; the planes "
            f"{'form' if letter == 'a' else 'do not form'} a chevron, letter {letter}")


# --------------------------------------------------------------------------- explain


def parse_gb_name(text: str) -> tuple[int, int]:
    """"G11/G16" (or "g16/g11") -> (11, 16); a CaseError names the expected form."""
    match = GB_NAME.match(text)
    if match is None:
        raise CaseError(f"grain boundary {text!r}: expected two grain ids like G11/G16")
    a, b = sorted((int(match.group(1)), int(match.group(2))))
    return a, b


def read_gb_table(result_dir: str | Path):
    """The GB table of a result directory (its ``gb_table.csv``; no voxel data is read)."""
    from .report import GBTable, read_csv_table

    path = Path(result_dir)
    table_path = path / "gb_table.csv"
    if not path.is_dir():
        raise CaseError(f"{path}: not a result directory")
    if not table_path.is_file():
        raise CaseError(f"{path}: no gb_table.csv (not a result directory of netsolve run?)")
    empty = np.zeros(0, np.int64)
    return read_csv_table(GBTable, table_path, face_lower_voxel=empty, face_axis=empty,
                          face_segment_row=empty)


def explain(table, gb: str) -> str:
    """Why GB ``gb`` ("G11/G16") of a :class:`~netsolve.analysis.GBTable` got its verdict:
    the whole GB and each of its segments (several lines of text)."""
    a, b = parse_gb_name(gb)
    try:
        whole = table.row(a, b)
    except KeyError:
        raise CaseError(f"no grain boundary G{a}/G{b} in the table (grains {a} and {b} do "
                        f"not touch)") from None
    rows = np.flatnonzero((table.grain_a == a) & (table.grain_b == b) & (table.segment >= 0))
    name = f"G{a}/G{b}"
    lines = [f"{name}: {_verdict(table, whole)}", _wrap("why: " + str(table.reason[whole]), 2)]
    lines += _numbers(table, whole)
    applied = str(table.applied_subtype[whole])
    if applied and table.field_source[whole] == "solved":
        same = applied == str(table.subtype[whole])
        lines.append(f"  under the applied field (netsolve classify): {applied}"
                     + (" (the same)" if same else " (differs from the solved field)"))
    if len(rows) > 1:
        for k in rows:  # a few segments per GB
            lines.append(f"  segment {table.segment[k]} ({table.n_faces[k]} faces, normal "
                         f"{_vector(table.normal[k])}): {_verdict(table, k)}")
            lines.append(_wrap("why: " + str(table.reason[k]), 4))
    return "\n".join(lines)


def _verdict(table, k: int) -> str:
    subtype = str(table.subtype[k]) or "undetermined"
    if subtype == NOT_CLASSIFIED:
        return "not classified"
    flags = ["blocking" if table.blocking[k] else "not blocking"]
    if table.negligible_current[k]:
        flags.append("negligible current")
    return f"{subtype}, behaviour {table.behaviour[k]} ({', '.join(flags)})"


def _numbers(table, k: int) -> list[str]:
    lines = [f"geometry: {table.n_faces[k]} faces, normal {_vector(table.normal[k])} (from "
             f"G{table.grain_a[k]} to G{table.grain_b[k]}), psi {table.psi_deg[k]:.1f} deg, "
             f"c-axes {table.c_normal_angle_a_deg[k]:.1f} / {table.c_normal_angle_b_deg[k]:.1f}"
             f" deg from the normal, {table.field_source[k]} field direction "
             f"{_vector(table.field_direction[k])}"]
    if np.isfinite(table.current_A[k]):
        risk = table.risk_score[k]
        lines.append(f"solved: current {table.current_A[k]:.3g} A (a -> b), band |J| "
                     f"{table.j_band_a_A_m2[k]:.3g} / {table.j_band_b_A_m2[k]:.3g} A/m^2, "
                     f"GB field {table.gb_field_V_m[k]:.3g} V/m, risk score "
                     + (f"{risk:.2f}" if np.isfinite(risk) else "none (not ranked)"))
    return [_wrap(line, 2) for line in lines]


def _wrap(text: str, indent: int) -> str:
    """A long sentence wrapped to 100 columns, continuation lines indented 2 more."""
    import textwrap

    return textwrap.fill(text, 100, initial_indent=" " * indent,
                         subsequent_indent=" " * (indent + 2), break_on_hyphens=False)


def _vector(v) -> str:
    return "(" + ", ".join(f"{x:+.2f}" for x in np.asarray(v, float)) + ")"

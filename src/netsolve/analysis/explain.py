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

    Vectorized over rows (a sweep builds the table at every point): each part of the sentence
    is an object array of strings, the branches of the rules are chosen with masks and the
    parts joined elementwise.
    """
    tau, across = options.type_tolerance_deg, options.across_angle_deg
    n = len(cls.psi_deg)
    if n == 0:
        return np.zeros(0, dtype=object)
    gb_type, letter = _objects(cls.gb_type), _objects(cls.letter)
    suffix, behaviour = np.asarray(cls.suffix), _objects(cls.behaviour)
    ga = "G" + _text(np.asarray(grain_a).astype(np.int64))
    gb = "G" + _text(np.asarray(grain_b).astype(np.int64))
    angle_a, angle_b = (np.asarray(x, float) for x in (cls.c_normal_deg_a, cls.c_normal_deg_b))
    psi = "psi = " + _text(cls.psi_deg, ".1f")
    is_i, is_ii = gb_type == "I", gb_type == "II"
    kind = _pick(is_i, psi + f" deg <= {tau:g}: type I (planes of " + ga + " and " + gb
                 + " parallel)",
                 _pick(is_ii, psi + f" deg >= {90 - tau:g}: type II (planes perpendicular)",
                       psi + f" deg, between {tau:g} and {90 - tau:g}: type III (oblique "
                       f"planes)"))
    with np.errstate(invalid="ignore"):
        angle = np.degrees(np.arccos(np.minimum(np.abs(np.asarray(cls.field_normal_cos,
                                                                   float)), 1.0)))
    crossing = (f"the {field_source} field is " + _text(angle, ".1f")
                + " deg from the GB normal "
                + _pick(suffix == 1, f"(<= {across:g}: it crosses the GB, suffix 1)",
                        f"(> {across:g}: it runs along the GB, suffix 2)"))
    subtype = gb_type + " " + letter + _text(suffix)
    if plane_rules_off is not None:
        decided = (subtype + f" geometry, but {plane_rules_off}: the plane rules do not apply, "
                   "the GB behaves like type I b and never blocks -> " + behaviour + ": "
                   + kind + "; " + crossing)
    else:
        verdict = (subtype + " -> behaviour " + behaviour
                   + _pick(np.asarray(cls.blocking, bool), ", a blocking subtype", ""))
        letters = _letter_reasons(cls, letter, is_i, is_ii, ga, gb, angle_a, angle_b, tau)
        decided = verdict + ": " + kind + "; " + crossing + "; " + letters
    undetermined = _pick(np.isfinite(angle_a),
                         f"undetermined: no {field_source} field at the GB (its voxels are not "
                         f"solved)",
                         "undetermined: the GB normal is undefined (its voxel faces cancel)")
    out = _pick(gb_type == "", "undetermined: a grain of this GB has no orientation",
                _pick(letter == "", undetermined, decided))
    idle_words = ("; negligible current: band |J| " + _text(band_j, ".3g")
                  + f" A/m^2 < {options.negligible_current_rel:g} x the grains' median |J| "
                  f"{median_j:.3g} A/m^2, so not counted as blocking and not ranked")
    return out + _pick(np.asarray(idle, bool), idle_words, "")


def _letter_reasons(cls: Classification, letter, is_i, is_ii, ga, gb, angle_a, angle_b,
                    tau: float) -> np.ndarray:
    """Why each row got its letter (object array; rows without a letter get some text that
    :func:`reasons` does not use)."""

    def planes(g, angle):  # G..'s planes are (not) parallel to the GB, per row
        parallel = angle <= tau  # False for NaN, as in the rules
        return (g + "'s planes are " + _pick(parallel, "", "not ") + "parallel to the GB "
                "(c-axis " + _text(angle, ".1f") + " deg from the normal, "
                + _pick(parallel, "<=", ">") + f" {tau:g})")

    nearer = angle_a <= angle_b  # the grain whose c-axis is nearer the normal (b on a NaN)
    near = planes(_pick(nearer, ga, gb), np.where(nearer, angle_a, angle_b))
    type_i = _pick(letter == "a", near + ": a spinel layer separates the grains, letter a",
                   "neither grain's planes are parallel to the GB (c-axes "
                   + _text(angle_a, ".1f") + " and " + _text(angle_b, ".1f")
                   + f" deg from the normal, > {tau:g}): the planes connect across it, "
                   "letter b")
    down = _objects(cls.downstream)
    down_b = down == "b"
    entered, upstream = _pick(down_b, gb, ga), _pick(down_b, ga, gb)
    type_ii = _pick(down == "",
                    "the field has no normal part, so either grain counts as downstream; "
                    + near + ": letter " + letter,
                    "the field enters " + entered + " (downstream): "
                    + planes(entered, np.where(down_b, angle_b, angle_a))
                    + ", so ions arriving from " + upstream + " are "
                    + _pick(letter == "b", "stopped, letter b", "passed on, letter a"))
    drift_a = np.asarray(cls.drift_a, float)
    converging = letter == "a"
    type_iii = _pick(np.isfinite(drift_a),
                     "under the field's tangential part the Na+ drift "
                     + _pick(converging, "converges on", "does not converge on")
                     + " the GB (w.n = " + _text(drift_a, "+.3g") + " in " + ga + ", "
                     + _text(cls.drift_b, "+.3g") + " in " + gb
                     + ", sigma_ip units; converging: > 0 in " + ga + " and < 0 in " + gb
                     + "), letter " + letter,
                     "the field has no tangential part; the planes "
                     + _pick(converging, "form", "do not form") + " a chevron, letter "
                     + letter)
    return _pick(is_i, type_i, _pick(is_ii, type_ii, type_iii))


def _objects(values) -> np.ndarray:
    """Strings as an object array (elementwise ``+`` and ``==`` on Python strings)."""
    return np.asarray(values).astype(object)


def _text(values, spec: str = "") -> np.ndarray:
    """Each value formatted with ``format(value, spec)`` as an object array (Python numbers,
    so the text is that of an f-string)."""
    return np.array([format(v, spec) for v in np.asarray(values).tolist()], dtype=object)


def _pick(condition, when_true, when_false) -> np.ndarray:
    """``np.where`` on strings or string arrays, as an object array."""
    return np.where(condition, np.asarray(when_true, object), np.asarray(when_false, object))


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

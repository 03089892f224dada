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

    The branch of the rules each row takes is chosen with masks over all rows; the rows of one
    branch are then worded by one ``%`` template each (a sweep builds the table at every point).
    """
    tau, across = options.type_tolerance_deg, options.across_angle_deg
    n = len(cls.psi_deg)
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    gb_type, letter = _objects(cls.gb_type), _objects(cls.letter)
    suffix = np.asarray(cls.suffix).astype(np.int64)
    angle_a = np.asarray(cls.c_normal_deg_a, float)
    decided = (gb_type != "") & (letter != "")
    rows = _Rows(decided, gb_type=gb_type, letter=letter, suffix=suffix,
                 behaviour=_objects(cls.behaviour), psi=np.asarray(cls.psi_deg, float),
                 a=np.asarray(grain_a).astype(np.int64), b=np.asarray(grain_b).astype(np.int64),
                 blocking=np.where(np.asarray(cls.blocking, bool), ", a blocking subtype", ""))
    with np.errstate(invalid="ignore"):
        rows.add(angle=np.degrees(np.arccos(np.minimum(
            np.abs(np.asarray(cls.field_normal_cos, float)[decided]), 1.0))))
    is_i, is_ii = rows.gb_type == "I", rows.gb_type == "II"
    kind = rows.worded([
        (is_i, f"psi = %.1f deg <= {tau:g}: type I (planes of G%d and G%d parallel)",
         "psi", "a", "b"),
        (is_ii, f"psi = %.1f deg >= {90 - tau:g}: type II (planes perpendicular)", "psi"),
        (~is_i & ~is_ii, f"psi = %.1f deg, between {tau:g} and {90 - tau:g}: type III "
                         f"(oblique planes)", "psi")])
    crossing = rows.worded([
        (rows.suffix == 1, f"the {field_source} field is %.1f deg from the GB normal "
                           f"(<= {across:g}: it crosses the GB, suffix 1)", "angle"),
        (rows.suffix != 1, f"the {field_source} field is %.1f deg from the GB normal "
                           f"(> {across:g}: it runs along the GB, suffix 2)", "angle")])
    rows.add(kind=kind, crossing=crossing)
    if plane_rules_off is not None:
        out[decided] = rows.worded([(
            True, f"%s %s%d geometry, but {plane_rules_off.replace('%', '%%')}: the plane "
                  f"rules do not apply, the GB behaves like type I b and never blocks -> %s: "
                  f"%s; %s", "gb_type", "letter", "suffix", "behaviour", "kind", "crossing")])
    else:
        rows.add(why=_letter_reasons(cls, rows, decided, tau))
        out[decided] = rows.worded([(
            True, "%s %s%d -> behaviour %s%s: %s; %s; %s", "gb_type", "letter", "suffix",
            "behaviour", "blocking", "kind", "crossing", "why")])
    out[gb_type == ""] = "undetermined: a grain of this GB has no orientation"
    no_letter = (gb_type != "") & (letter == "")
    out[no_letter & np.isfinite(angle_a)] = (f"undetermined: no {field_source} field at the GB "
                                             f"(its voxels are not solved)")
    out[no_letter & ~np.isfinite(angle_a)] = ("undetermined: the GB normal is undefined (its "
                                              "voxel faces cancel)")
    idle = np.flatnonzero(np.asarray(idle, bool))
    if len(idle):
        tail = (f" A/m^2 < {options.negligible_current_rel:g} x the grains' median |J| "
                f"{median_j:.3g} A/m^2, so not counted as blocking and not ranked")
        out[idle] = [f"{words}; negligible current: band |J| {j:.3g}{tail}"
                     for words, j in zip(out[idle].tolist(),
                                         np.asarray(band_j, float)[idle].tolist())]
    return out


def _letter_reasons(cls: Classification, rows: _Rows, decided: np.ndarray,
                    tau: float) -> np.ndarray:
    """Why each decided row got its letter (object array over ``rows``)."""
    angle_a = np.asarray(cls.c_normal_deg_a, float)[decided]
    angle_b = np.asarray(cls.c_normal_deg_b, float)[decided]
    down = _objects(cls.downstream)[decided]
    letter = rows.letter
    nearer = angle_a <= angle_b  # the grain whose c-axis is nearer the normal (b on a NaN)
    down_b = down == "b"
    # the grain whose planes the rule looks at: the nearer one, or the downstream one
    look_b = np.where((rows.gb_type == "II") & (down != ""), down_b, ~nearer)
    looked = np.where(look_b, angle_b, angle_a)
    parallel = looked <= tau  # False for NaN, as in the rules
    rows.add(angle_a=angle_a, angle_b=angle_b, looked=looked,
             g=np.where(look_b, rows.b, rows.a), up=np.where(look_b, rows.a, rows.b),
             not_=np.where(parallel, "", "not "), le=np.where(parallel, "<=", ">"),
             drift_a=np.asarray(cls.drift_a, float)[decided],
             drift_b=np.asarray(cls.drift_b, float)[decided],
             stopped=np.where(letter == "b", "stopped, letter b", "passed on, letter a"),
             converge=np.where(letter == "a", "converges on", "does not converge on"),
             form=np.where(letter == "a", "form", "do not form"))
    planes = (f"G%d's planes are %sparallel to the GB (c-axis %.1f deg from the normal, %s "
              f"{tau:g})")
    planes_keys = ("g", "not_", "looked", "le")
    is_i, is_ii = rows.gb_type == "I", rows.gb_type == "II"
    is_iii = ~is_i & ~is_ii
    drift = np.isfinite(rows.drift_a)
    return rows.worded([
        (is_i & (letter == "a"), planes + ": a spinel layer separates the grains, letter a",
         *planes_keys),
        (is_i & (letter != "a"), "neither grain's planes are parallel to the GB (c-axes %.1f "
                                 f"and %.1f deg from the normal, > {tau:g}): the planes connect "
                                 "across it, letter b", "angle_a", "angle_b"),
        (is_ii & (down == ""), "the field has no normal part, so either grain counts as "
                               "downstream; " + planes + ": letter %s", *planes_keys, "letter"),
        (is_ii & (down != ""), "the field enters G%d (downstream): " + planes
         + ", so ions arriving from G%d are %s", "g", *planes_keys, "up", "stopped"),
        (is_iii & drift, "under the field's tangential part the Na+ drift %s the GB (w.n = "
                         "%+.3g in G%d, %+.3g in G%d, sigma_ip units; converging: > 0 in G%d and "
                         "< 0 in G%d), letter %s", "converge", "drift_a", "a", "drift_b", "b",
         "a", "b", "letter"),
        (is_iii & ~drift, "the field has no tangential part; the planes %s a chevron, letter %s",
         "form", "letter")])


class _Rows:
    """The columns of the rows of one mask, worded branch by branch."""

    def __init__(self, mask: np.ndarray, **columns):
        self.mask = mask
        self.n = int(mask.sum())
        self.add(**{k: np.asarray(v)[mask] for k, v in columns.items()})

    def add(self, **columns) -> None:
        self.__dict__.update(columns)

    def worded(self, branches) -> np.ndarray:
        """Per row, the ``%`` template of the branch whose mask holds it (branches: (mask or
        True, template, column names...); every row in one branch) filled from its columns."""
        out = np.empty(self.n, dtype=object)
        for mask, template, *names in branches:
            where = np.flatnonzero(np.broadcast_to(mask, (self.n,)))
            columns = [getattr(self, name)[where].tolist() for name in names]
            out[where] = [template % values for values in zip(*columns)]
        return out


def _objects(values) -> np.ndarray:
    """Strings as an object array (elementwise ``==`` on Python strings)."""
    return np.asarray(values).astype(object)


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

"""Orientation tables (CSV) for the ``image`` and ``labels`` sources.

A header row names the columns; each further row gives one grain:

- a key column: ``id`` (the grain's label value, an integer > 0) or ``color`` (``#rrggbb``, for
  colour-coded maps read by ``source = "image"``);
- exactly one orientation form per row, in degrees: ``phi1,Phi,phi2`` (Bunge, passive),
  ``theta,alpha`` (the paper's angles, alpha in [0, 90]) or ``cx,cy,cz`` (the c-axis).

A file may hold the columns of several forms as long as every row fills exactly one of them (the
other cells empty). Column names are matched case-insensitively; blank rows are skipped. Every
problem raises :class:`CaseError` naming the file, the line and the column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..case import GrainOrientation
from ..errors import CaseError
from ..orientation import GrainOrientations, orientations_from_case
from ..input_files import read_text
from ..tables import canonical_columns, csv_records

KEY_COLUMNS = ("id", "color")
FORMS = {"euler": ("phi1", "Phi", "phi2"), "theta_alpha": ("theta", "alpha"),
         "c_axis": ("cx", "cy", "cz")}
COLUMNS = KEY_COLUMNS + tuple(c for cols in FORMS.values() for c in cols)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
MAX_GRAIN_ID = 2**31 - 1  # int32, the label map's type


@dataclass(frozen=True)
class OrientationRow:
    """One row: ``key`` is the grain id (int) or the colour (``"#rrggbb"``, lower case);
    exactly one of the orientation forms is set."""

    line: int
    key: int | str
    euler_deg: tuple[float, float, float] | None = None
    theta_alpha_deg: tuple[float, float] | None = None
    c_axis: tuple[float, float, float] | None = None

    def grain(self, grain_id: int | None = None) -> GrainOrientation:
        """This row as a grain orientation (``grain_id`` defaults to the row's id)."""
        gid = self.key if grain_id is None else grain_id
        return GrainOrientation(gid, self.euler_deg, self.theta_alpha_deg, self.c_axis)


@dataclass(frozen=True)
class OrientationTable:
    """A read orientation CSV. ``key`` is ``"id"`` or ``"color"``."""

    path: Path
    key: str
    rows: tuple[OrientationRow, ...]

    def by_key(self) -> dict[int | str, OrientationRow]:
        return {row.key: row for row in self.rows}

    def orientations(self, grain_ids: dict[int | str, int] | None = None) -> GrainOrientations:
        """Per-grain table. For colour keys, ``grain_ids`` maps each colour to its grain id
        (rows whose colour it lacks are left out)."""
        if grain_ids is None:
            grains = [row.grain() for row in self.rows]
        else:
            grains = [row.grain(grain_ids[row.key]) for row in self.rows if row.key in grain_ids]
        return orientations_from_case(tuple(grains), self.path.name)


def read_orientation_csv(path: str | Path) -> OrientationTable:
    """Read and check an orientation table (see the module docstring)."""
    path = Path(path)
    name = path.name
    records = csv_records(read_text(path, "orientation table"), name)
    if not records:
        raise CaseError(f"{name}: orientation table is empty (expected a header row such as "
                        f"'id,phi1,Phi,phi2')")
    header_line, header = records[0]
    columns = _read_header(name, header_line, header)
    key = "id" if "id" in columns else "color"
    forms = {form: cols for form, cols in FORMS.items() if cols[0] in columns}
    index = {c: k for k, c in enumerate(columns)}

    rows: list[OrientationRow] = []
    seen: dict[int | str, int] = {}
    for line, cells in records[1:]:  # one pass per table row
        where = f"{name}: line {line}"
        if len(cells) != len(columns):
            raise CaseError(f"{where}: {len(cells)} values, but the header has {len(columns)} "
                            f"columns ({','.join(columns)})")
        value = {c: cells[index[c]] for c in columns}
        row_key = _read_key(where, key, value[key])
        if row_key in seen:
            raise CaseError(f"{where}, column '{key}': {key} {value[key]} is given twice "
                            f"(also on line {seen[row_key]})")
        seen[row_key] = line
        filled = [form for form, cols in forms.items() if any(value[c] for c in cols)]
        if len(filled) != 1:
            given = [c for form in filled for c in forms[form] if value[c]]
            raise CaseError(f"{where}: give exactly one orientation per row: "
                            f"{' or '.join(','.join(forms[f]) for f in forms)} (got "
                            f"{', '.join(given) if given else 'none'})")
        form = filled[0]
        numbers = tuple(_read_number(where, c, value[c]) for c in forms[form])
        if form == "theta_alpha" and not 0.0 <= numbers[1] <= 90.0:
            raise CaseError(f"{where}, column 'alpha': alpha must be in [0, 90] degrees, got "
                            f"{numbers[1]:g}")
        if form == "c_axis" and math.hypot(*numbers) == 0:
            raise CaseError(f"{where}, columns 'cx,cy,cz': the c-axis must not be the zero vector")
        rows.append(OrientationRow(line, row_key, **{
            "euler": {"euler_deg": numbers}, "theta_alpha": {"theta_alpha_deg": numbers},
            "c_axis": {"c_axis": numbers}}[form]))
    if not rows:
        raise CaseError(f"{name}: orientation table has a header but no rows")
    return OrientationTable(path, key, tuple(rows))


def _read_header(name: str, line: int, header: list[str]) -> list[str]:
    where = f"{name}: line {line} (header)"
    columns = canonical_columns(where, header, COLUMNS, {"colour": "color"})
    keys = [c for c in KEY_COLUMNS if c in columns]
    if len(keys) != 1:
        raise CaseError(f"{where}: need exactly one key column, 'id' (grain id) or 'color' "
                        f"(#rrggbb), got {', '.join(keys) or 'none'}")
    present = 0
    for cols in FORMS.values():
        have = [c for c in cols if c in columns]
        if have and len(have) != len(cols):
            missing = [c for c in cols if c not in columns]
            raise CaseError(f"{where}, column '{missing[0]}': missing (columns {','.join(cols)} "
                            f"go together)")
        present += bool(have)
    if not present:
        raise CaseError(f"{where}: no orientation columns: give phi1,Phi,phi2 (Bunge, degrees), "
                        f"theta,alpha (degrees) or cx,cy,cz (c-axis)")
    return columns


def _read_key(where: str, key: str, text: str) -> int | str:
    if key == "id":
        # the length test first: int() of a 5000-digit text is a ValueError of its own
        if (not _INTEGER.fullmatch(text) or len(text.lstrip("+-0")) > 10
                or not 1 <= int(text) <= MAX_GRAIN_ID):
            shown = text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"
            raise CaseError(f"{where}, column 'id': grain id must be an integer in [1, "
                            f"{MAX_GRAIN_ID}] (label maps are int32), got {shown!r}")
        return int(text)
    if not _COLOR.fullmatch(text):
        raise CaseError(f"{where}, column 'color': colour must be '#rrggbb' (hex), got {text!r}")
    return text.lower()


def _read_number(where: str, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or "_" in text:
        raise CaseError(f"{where}, column '{column}': must be a number, got {text!r}")
    if not math.isfinite(value):
        raise CaseError(f"{where}, column '{column}': must be a finite number, got {text!r}")
    return value

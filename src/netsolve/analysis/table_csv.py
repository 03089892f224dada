"""The analysis tables as CSV (``gb_table.csv``, ``grain_table.csv``) and back: vector columns
split into ``name_x``, ``name_y``, ...; floats with 10 significant digits, NaN as ``nan``;
written atomically."""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
from dataclasses import fields as dataclass_fields
from pathlib import Path

import numpy as np

from ..errors import CaseError

AXES = "xyz"


def table_columns(table) -> dict[str, np.ndarray]:
    """The CSV columns of a table dataclass: vector columns split into ``name_x``, ``name_y``,
    ...; hidden fields left out (``GBTable`` adds ``subtype``)."""
    columns: dict[str, np.ndarray] = {}
    for f in dataclass_fields(table):
        if f.metadata.get("csv", True):
            value = np.asarray(getattr(table, f.name))
            if value.ndim == 2:
                columns.update({f"{f.name}_{AXES[d]}": value[:, d] for d in range(value.shape[1])})
            else:
                columns[f.name] = value
    if isinstance(getattr(type(table), "subtype", None), property):  # GBTable
        columns["subtype"] = table.subtype
    return columns


def read_csv_table(cls, path: str | Path, **hidden: np.ndarray):
    """Read a table written by :func:`write_csv` back into ``cls`` (GBTable, GrainTable);
    ``hidden``: the fields that are not CSV columns. Columns are typed by content: true/false
    -> bool, integers -> int64, numbers (and ``nan``) -> float, anything else text. A
    CaseError names the file and a missing column."""
    path = Path(path)
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"{path}: cannot read the table ({exc})") from None
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    if any(len(row) != len(header) for row in body):
        raise CaseError(f"{path}: rows of different lengths (a damaged table? run the case "
                        f"again)")
    columns = list(zip(*body)) if body else [()] * len(header)
    text = {name: np.array(column, dtype=str) for name, column in zip(header, columns)}
    values = {}
    for f in dataclass_fields(cls):
        if not f.metadata.get("csv", True):
            values[f.name] = hidden[f.name]
        elif f.name in text:
            values[f.name] = _typed(text[f.name])
        elif f"{f.name}_x" in text:
            parts = [text[f"{f.name}_{a}"] for a in AXES if f"{f.name}_{a}" in text]
            values[f.name] = np.stack([_typed(p) for p in parts], axis=1).astype(float)
        else:
            raise CaseError(f"{path}: missing column '{f.name}' (written by an older netsolve? "
                            f"run the case again)")
    return cls(**values)


def _typed(cells: np.ndarray) -> np.ndarray:
    """A text column as bool, int64, float or (anything else) object array."""
    if cells.size and np.isin(cells, ("true", "false")).all():
        return cells == "true"
    for dtype in (np.int64, float):
        try:
            return cells.astype(dtype)
        except ValueError:
            continue
    return cells.astype(object)


def write_csv(table, path: str | Path, extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write a table dataclass as CSV (:func:`table_columns`, plus ``extra``), atomically;
    floats with 10 significant digits, NaN as ``nan``."""
    columns = {**table_columns(table), **(extra or {})}
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(columns)
    # Formatted a column at a time (the same text as csv.writer with _cell per value, which
    # took 5 s for the 59 000 rows of a 2048^2 map): numbers never need quoting; text is
    # quoted once per distinct value. Written in slices of rows: the whole text as one string
    # (joined, buffered, encoded: ~4 copies of a 46 MiB table) cost more than formatting it.
    cells = [_column_cells(np.asarray(col)) for col in columns.values()]
    n_rows = len(cells[0]) if cells else 0
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")  # same folder: atomic
    try:
        with open(tmp, "w") as f:  # (what Path.write_text opened before)
            f.write(header.getvalue())
            for start in range(0, n_rows, ROWS_PER_WRITE):
                part = [column[start:start + ROWS_PER_WRITE] for column in cells]
                f.write("\n".join(map(",".join, zip(*part))) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _column_cells(column: np.ndarray) -> list[str]:
    """The CSV cells of one column: exactly what csv.writer writes for ``_cell(value)``."""
    kind = column.dtype.kind
    if kind == "f":
        return _float_cells(column)
    values = column.tolist()
    if kind == "b":
        return ["true" if v else "false" for v in values]
    if kind in "iu":
        return list(map(str, values))
    text = values if set(map(type, values)) <= {str} else [_cell(v) for v in values]
    # Only a cell with a delimiter, quote or line break needs quoting (csv's minimal
    # quoting), once per distinct value.
    quoted = {t: _quoted(t) for t in set(text) if _SPECIAL.search(t)}
    return [quoted.get(t, t) for t in text] if quoted else text


def _float_cells(column: np.ndarray) -> list[str]:
    """``f"{v:.10g}"`` of every value, formatted once per distinct value (by bit pattern, so
    that -0.0 and 0.0 keep their own text): the tables repeat a GB's values on its segment
    rows, and Python's float formatting is most of the time of writing them."""
    values = np.ascontiguousarray(column, dtype=np.float64)
    distinct, inverse = np.unique(values.view(np.int64), return_inverse=True)
    text = np.array(list(map("%.10g".__mod__, distinct.view(np.float64).tolist())), dtype=object)
    return text[inverse.ravel()].tolist()


ROWS_PER_WRITE = 4096  # rows formatted into one string and written at a time
_SPECIAL = re.compile(r'[,"\r\n]')  # what can make csv's minimal quoting quote a cell


def _quoted(text: str) -> str:
    """One such text cell as csv.writer writes it in a row of several cells: in double quotes,
    quotes doubled (default dialect); a carriage return is left to csv itself (whether it
    quotes one depends on the Python version)."""
    if "\r" not in text:
        return '"' + text.replace('"', '""') + '"'
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([text, ""])
    return buffer.getvalue()[:-2]  # without the empty second cell's "," and the line end


def _cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)

"""The sweep directory: ``sweep.json`` (the definition), ``sweep.csv`` appended row by row
(each row flushed and fsync'd), ``sweep.parquet`` at the end when pyarrow is installed.

A sweep killed at any moment loses at most the points in flight: ``--resume`` reads the point
ids already in ``sweep.csv``, cuts a last line that a kill interrupted mid-write, and appends
only the missing points, so no row is ever duplicated.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from ..errors import CaseError
from .engine import row_columns
from .plan import SweepPlan

DEFINITION = "sweep.json"
TABLE = "sweep.csv"
PARQUET = "sweep.parquet"


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # repr: exact round trip
    return str(value)


class SweepStore:
    """The only writer of ``sweep.csv`` (the parent process)."""

    def __init__(self, out_dir: Path, plan: SweepPlan, done: set[str]):
        self.out_dir = out_dir
        self.columns = row_columns(plan)
        self.done = done
        self._stream = open(out_dir / TABLE, "a", newline="", encoding="utf-8")

    def append(self, row: dict) -> None:
        if row["point_id"] in self.done:
            return
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(
            [_cell(row.get(c, "")) for c in self.columns])
        self._stream.write(buffer.getvalue())
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self.done.add(row["point_id"])

    def close(self) -> None:
        self._stream.close()


def check_out_dir(out_dir: Path, plan: SweepPlan, resume: bool) -> None:
    """Refuse, before anything is written: an existing sweep without ``--resume``, or a resume
    of a sweep with another definition."""
    definition = out_dir / DEFINITION
    if not resume:
        if out_dir.exists() and (definition.exists() or (out_dir / TABLE).exists()):
            raise CaseError(f"{out_dir}: a sweep is already there; add --resume to continue it "
                            f"or choose another -o")
        if out_dir.exists() and not out_dir.is_dir():
            raise CaseError(f"-o {out_dir}: exists and is not a folder")
        return
    if not definition.exists():
        raise CaseError(f"{out_dir}: --resume needs a sweep folder ({DEFINITION} not found)")
    try:
        stored = json.loads(definition.read_text())
    except (OSError, ValueError) as exc:
        raise CaseError(f"{definition.name}: cannot read the sweep definition ({exc})") from None
    if stored != _jsonable(plan.definition()):
        raise CaseError(f"{out_dir}: --resume with a different sweep (case, parameters or top_k "
                        f"differ from {DEFINITION}); use another -o for a new sweep")


def _jsonable(data: dict) -> dict:
    return json.loads(json.dumps(data))


def open_store(out_dir: Path, plan: SweepPlan, resume: bool) -> SweepStore:
    """Create (or reopen, with ``resume``) the sweep directory; call :func:`check_out_dir`
    first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = out_dir / TABLE
    columns = row_columns(plan)
    done: set[str] = set()
    if resume and table.exists():
        done = _finished_ids(table, columns)
    else:
        tmp = out_dir / f".{DEFINITION}.tmp"
        tmp.write_text(json.dumps(plan.definition(), indent=2) + "\n")
        os.replace(tmp, out_dir / DEFINITION)
    if not table.exists() or table.stat().st_size == 0:
        with open(table, "w", newline="", encoding="utf-8") as stream:
            csv.writer(stream, lineterminator="\n").writerow(columns)
            stream.flush()
            os.fsync(stream.fileno())
    return SweepStore(out_dir, plan, done)


def _finished_ids(table: Path, columns: list[str]) -> set[str]:
    """Point ids in ``sweep.csv``; a last line without its newline (a kill mid-write) is cut."""
    with open(table, "rb+") as stream:
        data = stream.read()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            stream.truncate(complete)
            stream.flush()
            os.fsync(stream.fileno())
    rows = list(csv.reader(io.StringIO(data[:complete].decode("utf-8"), newline="")))
    if not rows:
        return set()
    if rows[0] != columns:
        raise CaseError(f"{table.name}: the header does not match this sweep's columns")
    return {row[0] for row in rows[1:] if row}


def read_table(out_dir: str | Path) -> list[dict[str, str]]:
    """The rows of ``sweep.csv`` as dicts of strings."""
    with open(Path(out_dir) / TABLE, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def write_parquet(out_dir: Path, plan: SweepPlan) -> Path | None:
    """``sweep.parquet`` from ``sweep.csv`` (rows in grid order), when pyarrow is installed."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
    except ImportError:
        return None
    text_columns = {c: pa.string() for c in ("point_id", "status", "message", "blocking_gbs",
                                             "max_gb_field_gb", "solver_method")}
    text_columns.update({f"risk_{i}_gb": pa.string() for i in range(1, plan.top_k + 1)})
    table = pacsv.read_csv(out_dir / TABLE, convert_options=pacsv.ConvertOptions(
        column_types=text_columns, strings_can_be_null=False, quoted_strings_can_be_null=False))
    table = table.sort_by("point_id")
    tmp = out_dir / f".{PARQUET}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, out_dir / PARQUET)
    return out_dir / PARQUET

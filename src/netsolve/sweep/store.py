"""The sweep directory: ``sweep.json`` (the definition and the fingerprint of every input),
``sweep.csv`` appended row by row (each row one line, written whole, fsync'd), ``sweep.parquet``
at the end when pyarrow is installed.

A sweep killed at any moment loses at most the points in flight. ``--resume`` refuses a sweep
whose definition or any input file changed (content hashes), reads the rows already in
``sweep.csv``, drops what is not a whole valid row of this sweep (a line cut by a kill, a
corrupt or duplicated row: their points are run again) and appends only the missing points.
A write that fails (disk full, read-only, permissions) is undone and reported in one line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import CaseError
from .engine import row_columns, row_number_columns
from .engine import text_columns as row_text_columns
from .files import atomic_path, atomic_write, file_sha256, fsync_path, write_failure, writing
from .plan import SweepPlan

DEFINITION = "sweep.json"
TABLE = "sweep.csv"
PARQUET = "sweep.parquet"
RESUME_ADVICE = "free space or fix the folder, then rerun with --resume"


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # repr: exact round trip
    return str(value)


def _csv_line(cells: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


class SweepStore:
    """The only writer of ``sweep.csv`` (the parent process). Each row is one line written
    with O_APPEND and fsync'd; a failed write is cut off again, so the table only ever holds
    whole rows."""

    def __init__(self, out_dir: Path, plan: SweepPlan, done: set[str]):
        self.out_dir = out_dir
        self.path = out_dir / TABLE
        self.columns = row_columns(plan)
        self.done = done
        with writing(self.path, RESUME_ADVICE):
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size

    def append(self, row: dict) -> None:
        if row["point_id"] in self.done:
            return
        data = memoryview(_csv_line([_cell(row.get(c, "")) for c in self.columns]).encode())
        try:
            while data:
                data = data[os.write(self._fd, data):]
            os.fsync(self._fd)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                pass
            raise write_failure(self.path, exc, f"the {len(self.done)} finished points are "
                                                f"kept; {RESUME_ADVICE}") from None
        self._size = os.fstat(self._fd).st_size
        self.done.add(row["point_id"])

    def close(self) -> None:
        os.close(self._fd)


# --------------------------------------------------------------------------- the definition


def input_fingerprint(plan: SweepPlan) -> dict[str, str]:
    """SHA-256 of every input file the points read, by its path relative to the case's folder
    (absolute when outside it), so that a sweep moved with its inputs still resumes."""
    fingerprint = {}
    for path in plan.input_files:
        try:
            name = path.relative_to(plan.base_dir).as_posix()
        except ValueError:
            name = path.as_posix()
        fingerprint[name] = file_sha256(path, name)
    return fingerprint


def definition(plan: SweepPlan, inputs: dict[str, str]) -> dict:
    """What ``sweep.json`` holds: the plan's definition and the input fingerprint."""
    return json.loads(json.dumps({**plan.definition(), "inputs": inputs}))


def _difference(stored: dict, current: dict) -> str | None:
    """Why a stored definition is not this sweep's (None if it is)."""
    if (stored.get("case"), stored.get("case_sha256")) != (current["case"],
                                                            current["case_sha256"]):
        return f"the case {current['case']} is not the one the sweep started with"
    if stored.get("parameters") != current["parameters"]:
        return "the swept parameters differ"
    if "impedance" in stored and "impedance" not in current:
        return "it is an impedance sweep: add --impedance"
    if "impedance" in current and "impedance" not in stored:
        return "it is a DC sweep, not an impedance sweep"
    if stored.get("impedance") != current.get("impedance"):
        was = stored["impedance"]
        was = was.get("arcs") if isinstance(was, dict) else was
        return (f"the number of arcs per row differs ({was} in {DEFINITION}, "
                f"{current['impedance']['arcs']} now)")
    if stored.get("top_k") != current["top_k"]:
        return f"top_k differs ({stored.get('top_k')} in {DEFINITION}, {current['top_k']} now)"
    inputs = stored.get("inputs")
    if not isinstance(inputs, dict):
        return f"{DEFINITION} holds no input fingerprint (an older netsolve wrote it)"
    for name, digest in current["inputs"].items():
        if name not in inputs:
            return f"the input file {name} is not one the sweep started with"
        if inputs[name] != digest:
            return f"the input file {name} changed since the sweep started (its contents differ)"
    if stored != current:
        return f"{DEFINITION} differs"
    return None


def check_out_dir(out_dir: Path, plan: SweepPlan, resume: bool, inputs: dict[str, str]) -> None:
    """Refuse, before anything is written: an existing sweep without ``--resume``, or a resume
    of another sweep (definition or input contents)."""
    table = out_dir / DEFINITION
    if out_dir.exists() and not out_dir.is_dir():
        raise CaseError(f"-o {out_dir}: exists and is not a folder")
    if not resume:
        if out_dir.exists() and (table.exists() or (out_dir / TABLE).exists()):
            raise CaseError(f"{out_dir}: a sweep is already there; add --resume to continue it "
                            f"or choose another -o")
        return
    if not table.exists():
        raise CaseError(f"{out_dir}: --resume needs a sweep folder ({DEFINITION} not found)")
    try:
        stored = json.loads(table.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise CaseError(f"{table}: cannot read the sweep definition ({exc})") from None
    why = _difference(stored if isinstance(stored, dict) else {}, definition(plan, inputs))
    if why is not None:
        raise CaseError(f"{out_dir}: --resume refused: {why}; use another -o for a new sweep")


# --------------------------------------------------------------------------- opening


def open_store(out_dir: Path, plan: SweepPlan, resume: bool, inputs: dict[str, str],
               notify: Callable[[str], None] = lambda message: None) -> SweepStore:
    """Create the sweep directory (or reopen it, with ``resume``); call :func:`check_out_dir`
    first. ``notify`` gets one line when rows of the table are dropped to be run again."""
    header = _csv_line(row_columns(plan)).encode()
    table = out_dir / TABLE
    if not resume:
        _create(out_dir, json.dumps(definition(plan, inputs), indent=2).encode() + b"\n",
                header)
        return SweepStore(out_dir, plan, set())
    scan = scan_table(table, plan) if table.exists() else None
    if scan is None or scan.empty:
        atomic_write(table, header)
        return SweepStore(out_dir, plan, set())
    if scan.dropped:
        notify(scan.report(table))
    if scan.rewrite:
        atomic_write(table, header + "".join(scan.kept).encode())
    return SweepStore(out_dir, plan, scan.done)


def _create(out_dir: Path, definition_bytes: bytes, header: bytes) -> None:
    """A new sweep folder with its definition and the table's header, whole or not at all:
    written in a temporary sibling that is renamed into place; into an existing (empty or
    foreign) folder, the two files are added atomically, the first removed if the second
    fails."""
    if out_dir.exists():
        atomic_write(out_dir / DEFINITION, definition_bytes)
        try:
            atomic_write(out_dir / TABLE, header)
        except BaseException:
            (out_dir / DEFINITION).unlink(missing_ok=True)
            raise
        return
    created = [p for p in (out_dir.parent, *out_dir.parent.parents) if not p.exists()]
    tmp = None
    try:
        with writing(out_dir):
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
            for name, data in ((DEFINITION, definition_bytes), (TABLE, header)):
                with open(tmp / name, "xb") as stream:
                    stream.write(data)
                    stream.flush()
                    os.fsync(stream.fileno())
            os.rename(tmp, out_dir)
            tmp = None
            fsync_path(out_dir.parent, directory=True)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:  # innermost first; only folders this call made, if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise


# --------------------------------------------------------------------------- resuming


@dataclass(frozen=True)
class TableScan:
    """``sweep.csv`` as read on resume: the lines to keep, the finished point ids, and what
    was dropped (line number and why) to be run again."""

    kept: tuple[str, ...]
    done: set[str]
    dropped: tuple[tuple[int, str], ...]
    n_duplicates: int
    empty: bool  # not even a header

    @property
    def rewrite(self) -> bool:
        return bool(self.dropped)

    def report(self, table: Path) -> str:
        n_corrupt = len(self.dropped) - self.n_duplicates
        parts = ([f"{self.n_duplicates} duplicated"] if self.n_duplicates else []) + (
            [f"{n_corrupt} corrupt"] if n_corrupt else [])
        line, why = self.dropped[0]
        return (f"{table}: {' and '.join(parts)} row{'s' if len(self.dropped) > 1 else ''} "
                f"dropped (first: line {line}, {why}); their points are run again")


def scan_table(table: Path, plan: SweepPlan) -> TableScan:
    """Read ``sweep.csv`` for a resume: every line is checked against this sweep (column count,
    a known point id with its own values, status, numbers where numbers belong); rows of a point
    id given more than once are all dropped (which one is right is unknown). Bytes that are not
    UTF-8 are a CaseError naming the line."""
    try:
        data = table.read_bytes()
    except OSError as exc:
        raise CaseError(f"{table}: cannot read ({exc.strerror or exc})") from None
    complete = data.rfind(b"\n") + 1
    cut = complete < len(data)
    body = data[:complete]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        column = exc.start - body.rfind(b"\n", 0, exc.start)
        raise CaseError(f"{table}: line {line} is not UTF-8 text (byte 0x{body[exc.start]:02x} "
                        f"at column {column}); the table was changed outside netsolve: repair "
                        f"or delete that line, then rerun with --resume") from None
    lines = [line + "\n" for line in text.split("\n")[:-1]]  # rows are "\n"-terminated
    dropped = [(len(lines) + 1, "cut by an interruption")] if cut else []
    if not lines:
        return TableScan((), set(), tuple(dropped), 0, empty=True)
    columns = row_columns(plan)
    if _parse_line(lines[0]) != columns:
        raise CaseError(f"{table}: the header does not match this sweep's columns")
    checker = RowChecker(plan, columns)
    valid: list[tuple[int, str, str]] = []  # (line number, point id, line)
    for number, line in enumerate(lines[1:], start=2):
        cells = _parse_line(line)
        problem = checker.problem(cells)
        if problem is None:
            valid.append((number, cells[0], line))
        else:
            dropped.append((number, problem))
    counts = Counter(point_id for _, point_id, _ in valid)
    duplicates = [(n, f"point {pid} is in the table {counts[pid]} times")
                  for n, pid, _ in valid if counts[pid] > 1]
    kept = tuple(line for _, pid, line in valid if counts[pid] == 1)
    dropped = sorted(dropped + duplicates)
    return TableScan(kept, {pid for _, pid, _ in valid if counts[pid] == 1}, tuple(dropped),
                     len(duplicates), empty=False)


def _parse_line(line: str) -> list[str] | None:
    try:
        return next(csv.reader([line.rstrip("\r\n")]), [])
    except csv.Error:
        return None


class RowChecker:
    """Whether a row of ``sweep.csv`` is a whole, valid row of this sweep."""

    def __init__(self, plan: SweepPlan, columns: list[str]):
        self.columns = columns
        self.values = {p.point_id: dict(zip(plan.keys, p.values)) for p in plan.points}
        self.finite, self.maybe_nan = row_number_columns(plan)
        self.keys = plan.keys

    def problem(self, cells: list[str] | None) -> str | None:
        if cells is None:
            return "not readable as CSV"
        if len(cells) != len(self.columns):
            return f"{len(cells)} columns instead of {len(self.columns)}"
        row = dict(zip(self.columns, cells))
        values = self.values.get(row["point_id"])
        if values is None:
            return f"unknown point id {row['point_id']!r}"
        for key, value in values.items():
            if _number(row[key]) != float(value):
                return f"'{key}' is {row[key]!r}, not this point's value"
        if row["status"] == "error":
            required, optional = {"wall_s"}, set()
        elif row["status"] == "ok":
            required, optional = self.finite, self.maybe_nan
        else:
            return f"status {row['status']!r}"
        for column in required:
            if not math.isfinite(_number(row[column])):
                return f"'{column}' is {row[column]!r}, not a finite number"
        for column in optional:
            if row[column] != "nan" and not math.isfinite(_number(row[column])):
                return f"'{column}' is {row[column]!r}, not a number"
        return None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


# --------------------------------------------------------------------------- reading back


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
    text_columns = {c: pa.string() for c in row_text_columns(plan)}
    table = pacsv.read_csv(out_dir / TABLE, convert_options=pacsv.ConvertOptions(
        column_types=text_columns, strings_can_be_null=False, quoted_strings_can_be_null=False))
    table = table.sort_by("point_id")
    with atomic_path(out_dir / PARQUET) as tmp:
        pq.write_table(table, tmp)
    return out_dir / PARQUET

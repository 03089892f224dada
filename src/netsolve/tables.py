"""Checked reading of TOML tables: types, ranges, choices, unknown keys with suggestions; CSV
records and headers. (Reading the files themselves: ``input_files``.)

Every case-file error goes through :class:`Table`, so messages have one form:
``<file>: '<table>.<key>' must be ...``.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
from typing import Any

from .errors import CaseError

REQUIRED = object()


class Table:
    """Reads one TOML table, checking types, and reports keys it never read as unknown."""

    def __init__(self, data: Any, where: str, origin: str):
        self.origin = origin
        self.where = where
        if not isinstance(data, dict):
            self.fail(f"{where} must be a table, got {type(data).__name__}")
        self.data = data
        self.used: set[str] = set()

    def fail(self, message: str) -> None:
        raise CaseError(f"{self.origin}: {message}")

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = REQUIRED) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is REQUIRED:
                close = difflib.get_close_matches(key, [str(k) for k in self.data], n=1, cutoff=0.6)
                hint = f" (found unknown key '{self._key(close[0])}': misspelled?)" if close else ""
                self.fail(f"missing key '{self._key(key)}'{hint}")
            return default
        return self.data[key]

    def number(self, key: str, default: Any = REQUIRED, *, positive: bool = False,
               nonnegative: bool = False, within=None) -> float:
        """A number; ``within`` (a :class:`netsolve.ranges.Range`) bounds it."""
        value = self.raw(key, default)
        if value is default and default is not REQUIRED:
            return value
        return self.check_number(key, value, positive=positive, nonnegative=nonnegative,
                                 within=within)

    def check_number(self, key: str, value: Any, *, positive: bool = False,
                     nonnegative: bool = False, within=None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"'{self._key(key)}' must be a number, got {value!r}")
        try:
            value = float(value)
        except OverflowError:  # a TOML integer beyond float64
            self.fail(f"'{self._key(key)}' must be a finite number, got {value!r}")
        if not math.isfinite(value):
            self.fail(f"'{self._key(key)}' must be a finite number, got {value!r}")
        if positive and value <= 0:
            self.fail(f"'{self._key(key)}' must be > 0, got {value!r}")
        if nonnegative and value < 0:
            self.fail(f"'{self._key(key)}' must be >= 0, got {value!r}")
        if within is not None and not within.contains(value):
            self.fail(f"'{self._key(key)}' must be {within.describe()}, got {value!r}")
        return value

    def integer(self, key: str, default: Any = REQUIRED, *, minimum: int | None = None) -> int:
        value = self.raw(key, default)
        if value is default and default is not REQUIRED:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"'{self._key(key)}' must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(f"'{self._key(key)}' must be >= {minimum}, got {value!r}")
        return value

    def string(self, key: str, default: Any = REQUIRED, *, choices: tuple[str, ...] = ()) -> str:
        value = self.raw(key, default)
        if value is default and default is not REQUIRED:
            return value
        if not isinstance(value, str):
            self.fail(f"'{self._key(key)}' must be a string, got {value!r}")
        if choices and value not in choices:
            self.fail(f"'{self._key(key)}' must be one of {', '.join(map(repr, choices))}, "
                      f"got {value!r}{suggest(value, choices)}")
        return value

    def boolean(self, key: str, default: Any = REQUIRED) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            self.fail(f"'{self._key(key)}' must be true or false, got {value!r}")
        return value

    def strings(self, key: str, default: Any = REQUIRED, *,
                choices: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A list of distinct strings (each one of ``choices`` if given), as a tuple."""
        value = self.raw(key, default)
        if value is default and default is not REQUIRED:
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"'{self._key(key)}' must be a list of strings, got {value!r}")
        for v in value:
            if choices and v not in choices:
                self.fail(f"'{self._key(key)}': unknown value {v!r}{suggest(v, choices)}; "
                          f"allowed: {', '.join(choices)}")
        if len(set(value)) != len(value):
            self.fail(f"'{self._key(key)}' lists a value twice: {value!r}")
        return tuple(value)

    def numbers(self, key: str, length: int | tuple[int, ...], default: Any = REQUIRED) -> tuple[float, ...]:
        value = self.raw(key, default)
        if value is default and default is not REQUIRED:
            return value
        lengths = (length,) if isinstance(length, int) else length
        if not isinstance(value, list) or len(value) not in lengths:
            want = " or ".join(str(n) for n in lengths)
            self.fail(f"'{self._key(key)}' must be a list of {want} numbers, got {value!r}")
        return tuple(self.check_number(key, v) for v in value)

    def finish(self) -> None:
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            key = unknown[0]
            self.fail(f"unknown key '{self._key(key)}'{suggest(key, tuple(self.used))}")


def suggest(word: str, candidates: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_choices(names, allowed: tuple[str, ...], what: str, kind: str) -> tuple[str, ...]:
    """Names given on a command line (e.g. ``--format``), each one of ``allowed``; duplicates
    dropped, order kept. An unknown name is a CaseError: ``<what>: unknown <kind> '<name>'``."""
    for name in names:
        if name not in allowed:
            raise CaseError(f"{what}: unknown {kind} '{name}'{suggest(name, allowed)}; "
                            f"{kind}s are {', '.join(allowed)}")
    return tuple(dict.fromkeys(names))


def csv_records(text: str, file: str) -> list[tuple[int, list[str]]]:
    """Non-blank CSV records as (line number, stripped cells)."""
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        records = [(reader.line_num, [c.strip() for c in rec]) for rec in reader]
    except csv.Error as exc:
        raise CaseError(f"{file}: not a readable CSV ({exc})") from None
    return [(line, cells) for line, cells in records if any(cells)]


def canonical_columns(where: str, header: list[str], columns: tuple[str, ...],
                      aliases: dict[str, str] | None = None) -> list[str]:
    """Header cells matched case-insensitively to ``columns``; unknown or repeated names fail."""
    canonical = {c.lower(): c for c in columns} | (aliases or {})
    names: list[str] = []
    for cell in header:
        column = canonical.get(cell.lower())
        if column is None:
            raise CaseError(f"{where}, column '{cell}': unknown column{suggest(cell, columns)}; "
                            f"columns are {', '.join(columns)}")
        if column in names:
            raise CaseError(f"{where}, column '{cell}': the column is given twice")
        names.append(column)
    return names

"""Sweep parameters: ``key=1,5,20``, ``key=linspace(a,b,n)``, ``key=logspace(a,b,n)``.

A small regex parser (never ``eval``): lists of numbers, or numpy's ``linspace(a, b, n)`` (n
values from a to b) and ``logspace(a, b, n)`` (n values from 10**a to 10**b: a and b are
exponents, as in numpy). The grid of a sweep is the cartesian product of its parameters, the
first parameter varying slowest. Sizes are checked before anything is allocated: no parameter
and no grid may exceed ``MAX_SWEEP_POINTS``.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import CaseError

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
INTEGER_LITERAL = re.compile(r"[-+]?\d+")
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+")
SPACED_NAME = re.compile(r"^(linspace|logspace)\b", re.IGNORECASE)
SPACED = re.compile(r"^(linspace|logspace)\s*\((.*)\)$")
LIST_ITEM = re.compile(rf"^{NUMBER}$")

# The most points one sweep may have, whatever --max-points and --yes say: the plan holds every
# point (and validates its case) before the first solve, so the size is refused up front.
MAX_SWEEP_POINTS = 1_000_000
SPACED_FORMS = {"linspace": "linspace(a, b, n): n values from a to b",
                "logspace": "logspace(a, b, n): n values from 10^a to 10^b"}


@dataclass(frozen=True)
class Parameter:
    """One swept case key. ``values`` are the numbers in grid order; ``scale`` is "log" for a
    logspace (plots use a log axis), else "linear"; ``spec`` is the text it was parsed from."""

    key: str
    values: tuple[float | int, ...]
    scale: str
    spec: str

    def as_dict(self) -> dict:
        return {"key": self.key, "spec": self.spec, "scale": self.scale,
                "values": list(self.values)}


def parse_values(spec: str, where: str) -> tuple[tuple[float | int, ...], str]:
    """Values and scale of one parameter spec (the text after ``=``)."""
    text = spec.strip()
    if SPACED_NAME.match(text):
        return _spaced_values(text, where)
    if not text:
        raise CaseError(f"{where}: no values (empty grid); give e.g. 1,5,20 or "
                        f"linspace(a,b,n) or logspace(a,b,n)")
    items = text.split(",")
    check_count(len(items), where, _shown(text))
    values = []
    for item in items:
        item = item.strip()
        if not LIST_ITEM.match(item):
            raise CaseError(f"{where}: {item!r} is not a number; give a comma-separated list of "
                            f"numbers, linspace(a,b,n) or logspace(a,b,n) (exponents a, b)")
        value = int(item) if INTEGER_LITERAL.fullmatch(item) else float(item)
        if not math.isfinite(value):
            raise CaseError(f"{where}: {item!r} is not a finite number")
        values.append(value)
    if len(set(values)) != len(values):
        raise CaseError(f"{where}: a value is listed twice in {text!r}")
    return tuple(values), "linear"


def _spaced_values(text: str, where: str) -> tuple[tuple[float, ...], str]:
    """``linspace(a, b, n)`` / ``logspace(a, b, n)``: the count is checked before numpy
    allocates anything."""
    kind = SPACED_NAME.match(text).group(1).lower()
    form = SPACED_FORMS[kind]
    spaced = SPACED.match(text)
    if spaced is None or spaced.group(1) != kind:
        raise CaseError(f"{where}: {text!r} is not of the form {form} (three numbers in "
                        f"parentheses)")
    arguments = [a.strip() for a in spaced.group(2).split(",")]
    if len(arguments) != 3:
        raise CaseError(f"{where}: {text!r} needs three numbers, {form}; got "
                        f"{len(arguments)} argument{'s' if len(arguments) != 1 else ''}")
    for argument in arguments:
        if not LIST_ITEM.match(argument):
            raise CaseError(f"{where}: {text!r}: {argument!r} is not a number ({form})")
    a, b, n = (float(x) for x in arguments)
    if not (math.isfinite(a) and math.isfinite(b)):
        raise CaseError(f"{where}: {text!r}: a and b must be finite numbers")
    if math.isfinite(n) and n != int(n):
        raise CaseError(f"{where}: {text!r}: n must be a whole number of values, got {n:g}")
    if n < 1:
        raise CaseError(f"{where}: {kind}(a, b, n) needs n >= 1, got {text!r} (empty grid)")
    check_count(n, where, _shown(text))
    function = np.linspace if kind == "linspace" else np.logspace
    values = tuple(float(v) for v in function(a, b, int(n)))
    if not all(math.isfinite(v) for v in values):
        raise CaseError(f"{where}: {text!r} gives values that are not finite numbers")
    return values, "log" if kind == "logspace" else "linear"


def check_count(count: float, where: str, what: str) -> None:
    """Refuse more values than a sweep may have points (before they are made); ``what``
    names the spec in the message."""
    if count > MAX_SWEEP_POINTS:
        size = f"{int(count)}" if math.isfinite(count) else "infinitely many"
        raise CaseError(f"{where}: {what} has {size} values, more than the maximum of "
                        f"{MAX_SWEEP_POINTS} points per sweep")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def parse_param(text: str) -> Parameter:
    """``KEY=VALUES`` as given to ``--param``."""
    key, sep, spec = text.partition("=")
    key = key.strip()
    if not sep or not KEY.fullmatch(key):
        raise CaseError(f"--param {text!r}: expected KEY=VALUES with a dotted case key, e.g. "
                        f"materials.ratio_ip_gb=1,5,20")
    values, scale = parse_values(spec, f"--param {key}")
    return Parameter(key, values, scale, spec.strip())


def table_param(key: str, raw, origin: str) -> Parameter:
    """One entry of ``[sweep.parameters]``: a TOML list of numbers or a spec string."""
    where = f"{origin}: 'sweep.parameters.{key}'"
    if not KEY.fullmatch(key):
        raise CaseError(f"{where}: expected a dotted case key such as materials.ratio_ip_gb")
    if isinstance(raw, str):
        values, scale = parse_values(raw, where)
        return Parameter(key, values, scale, raw.strip())
    if isinstance(raw, list):
        if not raw:
            raise CaseError(f"{where}: empty list (empty grid)")
        check_count(len(raw), where, "the list")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   and math.isfinite(v) for v in raw):
            raise CaseError(f"{where}: must be a list of finite numbers, got {raw!r}")
        if len(set(raw)) != len(raw):
            raise CaseError(f"{where}: a value is listed twice in {raw!r}")
        return Parameter(key, tuple(raw), "linear", ",".join(map(repr, raw)))
    raise CaseError(f"{where}: must be a list of numbers or a string such as "
                    f"\"logspace(1, 4, 13)\", got {raw!r}")


def grid_size(parameters: tuple[Parameter, ...]) -> int:
    return math.prod(len(p.values) for p in parameters)


def grid_indices(parameters: tuple[Parameter, ...]) -> list[tuple[int, ...]]:
    """Index tuples of the cartesian product, first parameter slowest (C order)."""
    return list(itertools.product(*(range(len(p.values)) for p in parameters)))

"""Sweep parameters: ``key=1,5,20``, ``key=linspace(a,b,n)``, ``key=logspace(a,b,n)``.

A small regex parser (never ``eval``): lists of numbers, or numpy's ``linspace(a, b, n)`` (n
values from a to b) and ``logspace(a, b, n)`` (n values from 10**a to 10**b: a and b are
exponents, as in numpy). The grid of a sweep is the cartesian product of its parameters, the
first parameter varying slowest.
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
SPACED = re.compile(rf"^(linspace|logspace)\(\s*({NUMBER})\s*,\s*({NUMBER})\s*,\s*(\d+)\s*\)$")
LIST_ITEM = re.compile(rf"^{NUMBER}$")


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
    spaced = SPACED.match(text)
    if spaced:
        kind, a, b, n = spaced.groups()
        count = int(n)
        if count < 1:
            raise CaseError(f"{where}: {kind}(a, b, n) needs n >= 1, got {text!r} (empty grid)")
        function = np.linspace if kind == "linspace" else np.logspace
        values = tuple(float(v) for v in function(float(a), float(b), count))
        if not all(math.isfinite(v) for v in values):
            raise CaseError(f"{where}: {text!r} gives values that are not finite numbers")
        return values, "log" if kind == "logspace" else "linear"
    if not text:
        raise CaseError(f"{where}: no values (empty grid); give e.g. 1,5,20 or "
                        f"linspace(a,b,n) or logspace(a,b,n)")
    values = []
    for item in text.split(","):
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

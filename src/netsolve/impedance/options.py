"""The ``[impedance]`` table: frequency window, terminals, solver, DRT and KK settings.

Read once, with the case (``netsolve.case``), so that ``netsolve check`` and ``netsolve run``
report a mistyped key too. A case without the table gets :func:`default_options` when
``netsolve impedance`` runs it. Frequencies in Hz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import CaseError
from ..tables import Table, suggest

IMPEDANCE_METHODS = ("auto", "direct", "amg")


@dataclass(frozen=True)
class ImpedanceOptions:
    """``f_min_Hz`` / ``f_max_Hz``: None = derived from the case's time constants
    (:func:`netsolve.impedance.spectrum_window`). ``terminals``: two tuples of electrode
    names, each group shorted together; the spectrum is Z = (V_A - V_B) / I_A. Electrodes in
    neither group float (an equipotential metal that carries no net current).
    ``contribution_frequencies_Hz``: where the per-grain / per-GB shares are reported; empty =
    at every arc summit of the computed spectrum and the grid frequency nearest every DRT
    peak. ``drt_lambda``: None = chosen by the
    discrepancy principle at ``drt_tolerance`` (docs/impedance.md)."""

    terminals: tuple[tuple[str, ...], tuple[str, ...]]
    f_min_Hz: float | None = None
    f_max_Hz: float | None = None
    points_per_decade: int = 10
    method: str = "auto"
    rtol: float = 1e-8
    maxiter: int = 1000
    contribution_frequencies_Hz: tuple[float, ...] = ()
    drt: bool = True
    drt_lambda: float | None = None
    drt_tolerance: float = 1e-3
    kk_tolerance: float = 1e-3


def read_impedance_options(t: Table, electrodes) -> ImpedanceOptions:
    """Check the keys of one ``[impedance]`` table against the case's electrodes."""
    terminals = _read_terminals(t, electrodes)
    f_min = t.number("f_min_Hz", None, positive=True)
    f_max = t.number("f_max_Hz", None, positive=True)
    if f_min is not None and f_max is not None and not f_min < f_max:
        t.fail(f"'impedance.f_min_Hz' = {f_min:g} must be below 'impedance.f_max_Hz' = "
               f"{f_max:g}: the frequency range is empty or inverted")
    contribution = t.raw("contribution_frequency_Hz", [])
    if not isinstance(contribution, list):
        contribution = [contribution]
    contribution = tuple(t.check_number("contribution_frequency_Hz", f, positive=True)
                         for f in contribution)
    options = ImpedanceOptions(
        terminals=terminals, f_min_Hz=f_min, f_max_Hz=f_max,
        points_per_decade=t.integer("points_per_decade", 10, minimum=1),
        method=t.string("method", "auto", choices=IMPEDANCE_METHODS),
        rtol=t.number("rtol", 1e-8, positive=True),
        maxiter=t.integer("maxiter", 1000, minimum=1),
        contribution_frequencies_Hz=contribution,
        drt=t.boolean("drt", True),
        drt_lambda=t.number("drt_lambda", None, positive=True),
        drt_tolerance=t.number("drt_tolerance", 1e-3, positive=True),
        kk_tolerance=t.number("kk_tolerance", 1e-3, positive=True),
    )
    for key, value in (("rtol", options.rtol), ("drt_tolerance", options.drt_tolerance),
                       ("kk_tolerance", options.kk_tolerance)):
        if value >= 1:
            t.fail(f"'impedance.{key}' must be < 1, got {value!r}")
    t.finish()
    return options


def default_options(case) -> ImpedanceOptions:
    """The options of a case without an ``[impedance]`` table (every default)."""
    return read_impedance_options(Table({}, "impedance", case.label), case.electrodes)


def _read_terminals(t: Table, electrodes) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = tuple(e.name for e in electrodes)
    if not t.has("terminals"):
        return _default_terminals(t, electrodes)
    raw = t.raw("terminals")
    if not isinstance(raw, list) or len(raw) != 2:
        t.fail(f"'impedance.terminals' must be a list of two electrodes (a name or a list of "
               f"names each), e.g. [\"{names[0]}\", \"{names[-1]}\"], got {raw!r}")
    groups = []
    for entry in raw:
        group = entry if isinstance(entry, list) else [entry]
        if not group or not all(isinstance(name, str) for name in group):
            t.fail(f"'impedance.terminals': {entry!r} is not an electrode name or a non-empty "
                   f"list of names")
        for name in group:
            if name not in names:
                t.fail(f"'impedance.terminals': {name!r} is not an electrode; electrodes are "
                       f"{', '.join(names)}{suggest(name, names)}")
        groups.append(tuple(dict.fromkeys(group)))
    both = set(groups[0]) & set(groups[1])
    if both:
        t.fail(f"'impedance.terminals': electrode {sorted(both)[0]!r} is in both terminals")
    return groups[0], groups[1]


def _default_terminals(t: Table, electrodes) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Two electrodes: those two. More: the electrodes grouped by potential_V when all of them
    have one and there are exactly two values (the higher one is terminal A)."""
    if len(electrodes) == 2:
        return (electrodes[0].name,), (electrodes[1].name,)
    potentials = {e.potential_V for e in electrodes}
    if None in potentials or len(potentials) != 2:
        t.fail(f"'impedance.terminals' is needed: the case has {len(electrodes)} electrodes at "
               f"more than two potentials; give terminals = [\"A\", \"B\"] (a name or a list "
               f"of names each)")
    high = max(potentials)
    return (tuple(e.name for e in electrodes if e.potential_V == high),
            tuple(e.name for e in electrodes if e.potential_V != high))


def frequencies(f_min_Hz: float, f_max_Hz: float, points_per_decade: int):
    """Log-spaced frequencies (Hz) from f_min to f_max, both included, ``points_per_decade``
    per decade (rounded to a whole number of points)."""
    import numpy as np

    if not (math.isfinite(f_min_Hz) and math.isfinite(f_max_Hz) and 0 < f_min_Hz < f_max_Hz):
        raise CaseError(f"impedance: the frequency range [{f_min_Hz:g}, {f_max_Hz:g}] Hz is "
                        f"empty, inverted or not positive")
    decades = math.log10(f_max_Hz / f_min_Hz)
    n = max(2, int(round(decades * points_per_decade)) + 1)
    return np.logspace(math.log10(f_min_Hz), math.log10(f_max_Hz), n)

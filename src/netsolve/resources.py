"""Peak memory of a run, estimated from the case before anything is allocated.

``netsolve run``, ``compare``, ``sweep`` and ``check`` compare the estimate with a limit and
refuse a case that would not fit, instead of failing with a MemoryError (or being killed) after
minutes. The limit is ``--max-memory`` (GB), else ``[solver] max_memory_GB``, else the memory
the system reports available (``MemAvailable`` of /proc/meminfo; without it, no limit).

The model (per dimension, discretization and solver method; n = number of voxels):

    peak = BASE_BYTES[ndim] + SAFETY * (a * n + b * n * f(n))

f(n) = n^(1/2) for the 2D direct solver and n for 3D: SuperLU's fill-in with the COLAMD ordering
was measured to grow as n^1.5 on 2D grids and as n^2 on 3D grids (a nested-dissection ordering
would do better, n log n and n^(4/3), but is not what SciPy offers); 0 for AMG and CG, whose
memory is linear. a and b are measured by
``validation/calibrate_memory.py`` (peak RSS of complete runs with the default outputs, figures
included) on Voronoi maps; docs/performance.md has the table. Sources that keep more per voxel
(EBSD with per-voxel orientations) are within the safety margin for moderate sizes only.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import CaseError

GB = 1e9
SAFETY = 1.25
BASE_BYTES = {2: 334_950_400, 3: 261_812_224}  # a tiny run: interpreter, libraries, figures
COEFFICIENTS = {  # (ndim, discretization, method): (a, b) bytes per voxel
    (2, "tpfa", "amg"): (451.0, 0.0),
    (2, "tpfa", "direct"): (0.0, 2.327),
    (2, "tpfa", "cg"): (344.0, 0.0),
    (2, "fem", "amg"): (667.0, 0.0),
    (2, "fem", "direct"): (0.0, 5.876),
    (2, "fem", "cg"): (511.0, 0.0),
    (3, "tpfa", "amg"): (647.0, 0.0),
    (3, "tpfa", "direct"): (0.0, 0.3035),
    (3, "tpfa", "cg"): (201.0, 0.0),
    (3, "fem", "amg"): (2093.0, 0.0),
    (3, "fem", "direct"): (0.0, 1.303),
    (3, "fem", "cg"): (517.0, 0.0),
    # mixed (hybridized RT0, ~d face unknowns per voxel): the amg rows from the certified runs
    # of validation/bounds.py --perf (2048^2 and 128^3, with the Q1 solve held at the same time
    # subtracted); the direct and cg rows scaled from the tpfa rows by the unknowns per voxel
    # (SuperLU fill of a 2D face system: about 0.2 N^1.5 entries of 12 bytes), not calibrated.
    (2, "mixed", "amg"): (1070.0, 0.0),
    (2, "mixed", "direct"): (0.0, 7.0),
    (2, "mixed", "cg"): (690.0, 0.0),
    (3, "mixed", "amg"): (1500.0, 0.0),
    (3, "mixed", "direct"): (0.0, 2.7),
    (3, "mixed", "cg"): (600.0, 0.0),
}
# Adaptive refinement (2D): bytes per quadtree cell at the largest mesh, both operators and
# their solves (measured: 1.94 M cells 5.6 GB, 1.68 M cells 4.9 GB; validation/bounds.py).
REFINED_CELL_BYTES = 2900.0
MEMINFO = Path("/proc/meminfo")


def superlinear(ndim: int, method: str, n):
    """f(n) of the model: the direct solver's fill-in beyond linear growth."""
    n = np.asarray(n, dtype=float)
    if method != "direct":
        return np.zeros_like(n)
    return np.sqrt(n) if ndim == 2 else n


def n_unknowns(shape: tuple[int, ...], discretization: str) -> int:
    """The most unknowns a grid can have: one per voxel (tpfa), per voxel corner (fem) or per
    voxel face (mixed)."""
    if discretization == "fem":
        return math.prod(n + 1 for n in shape)
    if discretization == "mixed":
        return sum(math.prod(n + (a == axis) for a, n in enumerate(shape))
                   for axis in range(len(shape)))
    return math.prod(shape)


def direct_limit(ndim: int, discretization: str, direct_max_unknowns: int | None) -> int:
    """The most unknowns ``auto`` solves directly (the case's, else the operator's, else the
    default of :mod:`netsolve.solvers`)."""
    from .solvers import DIRECT_MAX_UNKNOWNS

    if direct_max_unknowns is not None:
        return direct_max_unknowns
    if discretization == "mixed":
        from .discretization.mixed import MixedOperator

        return MixedOperator.direct_max_unknowns.get(ndim, DIRECT_MAX_UNKNOWNS[ndim])
    return DIRECT_MAX_UNKNOWNS[ndim]


def solver_method(shape: tuple[int, ...], discretization: str, method: str,
                  direct_max_unknowns: int | None = None) -> str:
    """The method ``auto`` resolves to for this grid (as :func:`netsolve.solvers.choose_method`
    with every voxel conducting)."""
    from .solvers import choose_method

    chosen = choose_method(method, n_unknowns(shape, discretization), len(shape),
                           direct_limit(len(shape), discretization, direct_max_unknowns),
                           on_grid=discretization == "tpfa")
    return "amg" if chosen == "gmg" else chosen  # gmg needs less than the amg row (measured)


def estimate_bytes(shape: tuple[int, ...], discretization: str, method: str,
                   direct_max_unknowns: int | None = None) -> float:
    """Estimated peak resident memory (bytes) of ``netsolve run`` on a grid of ``shape``."""
    ndim = len(shape)
    n = float(math.prod(shape))
    chosen = solver_method(shape, discretization, method, direct_max_unknowns)

    def model(kind: str, voxels: float) -> float:
        a, b = COEFFICIENTS[(ndim, discretization, kind)]
        return BASE_BYTES[ndim] + SAFETY * voxels * (a + b * float(superlinear(ndim, kind, voxels)))

    estimate = model(chosen, n)
    if method == "auto" and chosen != "direct":
        # ZrO2/void voxels have no unknown: auto may still pick direct, up to its limit
        limit = direct_limit(ndim, discretization, direct_max_unknowns)
        estimate = max(estimate, model("direct", min(n, float(limit))))
    return estimate


def available_bytes() -> float | None:
    """MemAvailable of /proc/meminfo in bytes; None where there is no such file."""
    try:
        text = MEMINFO.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return float(line.split()[1]) * 1024
    return None


@dataclass(frozen=True)
class MemoryCheck:
    """An estimate (bytes) and the limit it was held against (None: no limit known)."""

    estimate: float
    limit: float | None
    limit_source: str

    def describe(self) -> str:
        limit = (f"{self.limit / GB:.3g} GB {self.limit_source}" if self.limit is not None
                 else "no limit known")
        return f"about {self.estimate / GB:.3g} GB peak memory ({limit})"


def memory_limit(max_memory_GB: float | None, case_GB: float | None,
                 local: bool = True) -> tuple[float | None, str]:
    """(limit in bytes, where it comes from): --max-memory, [solver] max_memory_GB, the available
    memory (``local`` runs only: a remote worker's memory is not known here)."""
    if max_memory_GB is not None:
        return max_memory_GB * GB, "set by --max-memory"
    if case_GB is not None:
        return case_GB * GB, "set by [solver] max_memory_GB"
    available = available_bytes() if local else None
    return available, "available (MemAvailable)"


def check_memory(case, *, max_memory_GB: float | None = None,
                 discretizations: tuple[str, ...] | None = None, copies: int = 1,
                 local: bool = True) -> MemoryCheck:
    """Estimate the run of ``case`` (both ``discretizations`` held at once, as ``compare``
    does; ``copies`` processes at once, as ``sweep --jobs``) and raise a CaseError naming the
    estimate, the limit and what to change when it exceeds the limit."""
    shape, solver = case.grid.shape, case.solver
    discretizations = discretizations or (solver.discretization,)
    if solver.bounds:  # a certified solve holds the Q1 and the mixed solutions at once
        discretizations = tuple(dict.fromkeys(discretizations + ("fem", "mixed")))
    parts = [estimate_bytes(shape, d, solver.method, solver.direct_max_unknowns)
             for d in discretizations]
    per_process = sum(parts) - BASE_BYTES[len(shape)] * (len(parts) - 1)
    if solver.bounds and solver.refine and len(shape) == 2:
        from .case import default_refine_budget

        cells = solver.refine_max_cells or default_refine_budget(math.prod(shape))
        per_process = max(per_process, BASE_BYTES[2] + SAFETY * REFINED_CELL_BYTES * cells)
    estimate = per_process * copies
    limit, source = memory_limit(max_memory_GB, solver.max_memory_GB, local)
    check = MemoryCheck(estimate, limit, source)
    if limit is None or estimate <= limit:
        return check
    methods = {solver_method(shape, d, solver.method, solver.direct_max_unknowns)
               for d in discretizations}
    hints = ["a smaller grid.shape"]
    amg = (sum(estimate_bytes(shape, d, "amg") for d in discretizations)
           - BASE_BYTES[len(shape)] * (len(discretizations) - 1)) * copies
    if "direct" in methods and amg < estimate:
        hints.append(f"solver.method = \"amg\" (about {amg / GB:.3g} GB)")
    if copies > 1:
        hints.append("fewer --jobs")
    hints.append("a higher --max-memory if the memory is there")
    jobs = f" x {copies} processes" if copies > 1 else ""
    raise CaseError(f"{case.label}: grid {list(shape)} ({', '.join(discretizations)}, "
                    f"{'/'.join(sorted(methods))} solver{jobs}) needs about {estimate / GB:.3g} "
                    f"GB of memory, more than the {limit / GB:.3g} GB {source}; use "
                    f"{', or '.join(hints)}")


@contextmanager
def ordinary_pages():
    """NumPy's large arrays on ordinary memory pages for the duration, then its setting back.

    NumPy asks the kernel for transparent huge pages on every array >= 4 MiB; where the kernel
    compacts memory to serve them (defrag = madvise: a fragmented or shared machine) each
    2 MiB fault can stall: the 2048^2 assembly + solve measured 14.7 s CPU with them against
    9.6 s without (docs/performance.md). ``netsolve run`` sets NUMPY_MADVISE_HUGEPAGE=0 before
    NumPy is imported; this does the same for a Python caller of :func:`netsolve.solve`. The
    user's own NUMPY_MADVISE_HUGEPAGE wins, and a NumPy without the (private) switch is left
    as it is.
    """
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    switch = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if switch is None or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        yield
        return
    previous = switch(False)
    try:
        yield
    finally:
        switch(previous)

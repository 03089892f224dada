"""The Python API: ``load_case`` and ``solve`` chain the pipeline stages."""

from __future__ import annotations

from pathlib import Path

from .case import Case, load_case
from .fields import compute_fields
from .microstructure import build_microstructure
from .network import build_network
from .properties import compute_properties
from .result import Result
from .solve import solve_network


def classify(case: Case | str | Path):
    """Classify the grain boundaries of a case without solving it (field direction: the applied
    field of the electrode layout); returns a :class:`netsolve.analysis.GBTable` whose metric
    columns are NaN."""
    from .analysis import gb_table, require_orientations
    from .graph import build_grain_graph

    if not isinstance(case, Case):
        case = load_case(case)
    micro = build_microstructure(case)
    require_orientations(case, micro)
    return gb_table(case, micro, build_grain_graph(micro))


def solve(case: Case | str | Path) -> Result:
    """Solve a case (a :class:`Case` or the path of a case file) and return the :class:`Result`."""
    if not isinstance(case, Case):
        case = load_case(case)
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    network = build_network(case, micro, props)
    solution = solve_network(network, case.electrodes, case.solver, case.label)
    fields = compute_fields(network, solution, props, micro.electrode_index)
    return Result(case, micro, props, network, solution, fields)

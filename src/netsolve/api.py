"""The Python API: ``load_case`` and ``solve`` chain the pipeline stages."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .case import Case, load_case
from .discretization import build_operator
from .microstructure import build_microstructure
from .progress import stage
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
    stage("microstructure")
    micro = build_microstructure(case)
    require_orientations(case, micro)
    stage("analysis", "grain graph and GB classification")
    return gb_table(case, micro, build_grain_graph(micro))


def solve(case: Case | str | Path, *, discretization: str | None = None,
          compare_applied: bool = False) -> Result:
    """Solve a case (a :class:`Case` or the path of a case file) and return the :class:`Result`.

    ``discretization`` ("tpfa", "fem" or "mixed") overrides the case's ``[solver]
    discretization``. ``compare_applied``: also solve for the applied field (one Laplace solve
    of the homogeneous isotropic sample, about half the time of the solve), so that the GB
    table classified under the solved field has the subtypes under the applied field
    (``applied_subtype``, what ``netsolve classify`` reports) as well; ``netsolve run`` does
    this unless ``[analysis] compare_applied = false``.
    """
    from threadpoolctl import threadpool_limits

    from .resources import ordinary_pages

    # BLAS on one thread: netsolve's own kernels are serial, the solvers already limit BLAS,
    # and a pool left spinning after the large vector products of the checks only burns the
    # other core (a third of a sweep point's CPU time, docs/performance.md)
    with ordinary_pages(), threadpool_limits(limits=1, user_api="blas"):
        return _solve(case, discretization, compare_applied)


def _solve(case: Case | str | Path, discretization: str | None,
           compare_applied: bool) -> Result:
    if not isinstance(case, Case):
        case = load_case(case)
    if discretization is not None:
        case = replace(case, solver=replace(case.solver, discretization=discretization))
    stage("microstructure")
    micro = build_microstructure(case)
    stage("properties", "grain conductivities")
    props = compute_properties(micro, case.materials)
    if case.solver.bounds:
        from .certify import certified_solve

        solved = certified_solve(case, micro, props)
    else:
        stage("operator", f"operator ({case.solver.discretization})")
        operator = build_operator(case, micro, props)
        stage("solve", f"solve: {operator.n_nodes} nodes ({case.solver.method})")
        solution = solve_network(operator, case.electrodes, case.solver, case.label)
        stage("fields", "fields")
        solved = (operator, solution, operator.fields(solution, props, micro.electrode_index))
    applied = None
    if (compare_applied and case.analysis.field == "solved"
            and not len(micro.unoriented_grain_ids)):
        from .analysis.applied import applied_fields

        stage("applied", "applied field (the field netsolve classify uses)")
        applied = applied_fields(case, micro, solved[0])
    return Result(case, micro, props, *solved, applied_fields=applied)

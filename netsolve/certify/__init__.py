"""Certified answers: two-sided bounds of the global results from a primal (Q1) and a dual
(mixed RT0) solution of the same voxel map, the Prager-Synge indicator of where the answer is
uncertain (:mod:`.bounds`)."""

from __future__ import annotations

from ..case import Case
from ..discretization import build_operator
from ..microstructure import Microstructure
from ..progress import stage
from ..properties import Properties
from ..solve import solve_network
from .bounds import Bracket, Certificate, certify

__all__ = ["Bracket", "Certificate", "certified_solve"]


def certified_solve(case: Case, micro: Microstructure, props: Properties):
    """Solve the voxel map with Q1 and with the mixed method and bracket the answer.

    Returns ``(operator, solution, fields, certificate)``: the operator, solution and fields
    of the case's own discretization (the mixed or Q1 ones when that is the case's, else a
    third solve) and the :class:`Certificate`."""
    solved = {}
    for kind in ("fem", "mixed"):
        stage(f"operator-{kind}", f"operator ({kind}, for the bounds)")
        operator = build_operator(case, micro, props, kind)
        stage(f"solve-{kind}", f"solve ({kind}): {operator.n_nodes} unknowns")
        solution = solve_network(operator, case.electrodes, case.solver, case.label)
        solved[kind] = (operator, solution, operator.fields(solution, props,
                                                            micro.electrode_index))
    (q_op, q_sol, q_fields), (m_op, m_sol, m_fields) = solved["fem"], solved["mixed"]
    stage("bounds", "bounds and error indicator")
    certificate = certify(case.electrodes, q_op, q_sol, q_fields.joule_power_W, m_op, m_sol,
                          m_fields.joule_power_W)
    own = case.solver.discretization
    if own not in solved:
        operator = build_operator(case, micro, props)
        solution = solve_network(operator, case.electrodes, case.solver, case.label)
        solved[own] = (operator, solution, operator.fields(solution, props,
                                                           micro.electrode_index))
    return (*solved[own], certificate)

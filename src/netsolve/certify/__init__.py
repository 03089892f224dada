"""Certified answers: two-sided bounds of the global results from a primal (Q1) and a dual
(mixed RT0) solution of the same voxel map (:mod:`.bounds`), the Prager-Synge indicator of
where the answer is uncertain, and in 2D adaptive sub-voxel refinement until the bracket is
narrower than ``[solver] bound_tol`` (:mod:`.adaptive`)."""

from __future__ import annotations

from ..case import Case
from ..discretization import build_operator
from ..microstructure import Microstructure
from ..progress import stage
from ..properties import Properties
from ..solve import solve_network
from .bounds import Bracket, Certificate, certify, tightest

__all__ = ["Bracket", "Certificate", "certified_solve"]


def certified_solve(case: Case, micro: Microstructure, props: Properties):
    """Solve the voxel map with Q1 and with the mixed method and bracket the answer; in 2D,
    refine where the indicator is large until the gap meets ``bound_tol`` (``[solver]
    refine``).

    Returns ``(operator, solution, fields, certificate)``: for ``discretization = "mixed"``
    the mixed solution on the finest mesh (fields averaged back onto the voxels); for "fem"
    the voxel grid's Q1 solution; for "tpfa" a third, two-point solve. The
    :class:`Certificate` is that of the finest mesh."""
    solved = {}
    for kind, suffix in (("fem", ""), ("mixed", "-mixed")):  # stage names as in api.solve
        stage(f"operator{suffix}", f"operator ({kind}, for the bounds)")
        operator = build_operator(case, micro, props, kind)
        stage(f"solve{suffix}", f"solve ({kind}): {operator.n_nodes} unknowns")
        solution = solve_network(operator, case.electrodes, case.solver, case.label)
        solved[kind] = (operator, solution, operator.fields(solution, props,
                                                            micro.electrode_index))
    (q_op, q_sol, q_fields), (m_op, m_sol, m_fields) = solved["fem"], solved["mixed"]
    stage("bounds", "bounds and error indicator")
    certificate = certify(case.electrodes, q_op, q_sol, q_fields.joule_power_W, m_op, m_sol,
                          m_fields.joule_power_W)
    own = case.solver.discretization
    gap = certificate.relative_gap  # NaN: nothing bracketed, nothing to refine towards
    if case.solver.refine and micro.labels.ndim == 2 and gap > case.solver.bound_tol:
        from .adaptive import refine_until_certified

        refined, refinement = refine_until_certified(case, micro, props, certificate,
                                                     start=(q_op, q_sol))
        if refined is None:
            certificate = _with_refinement(certificate, refinement)
        else:
            certificate = tightest(certificate, refined[3])
            if own == "mixed":
                solved["mixed"] = refined[:3]
    if own not in solved:
        operator = build_operator(case, micro, props)
        solution = solve_network(operator, case.electrodes, case.solver, case.label)
        solved[own] = (operator, solution, operator.fields(solution, props,
                                                           micro.electrode_index))
    return (*solved[own], certificate)


def _with_refinement(certificate: Certificate, refinement) -> Certificate:
    from dataclasses import replace

    return replace(certificate, refinement=refinement)

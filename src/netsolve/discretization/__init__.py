"""Stage 3: the discretizations of the voxel conduction problem, behind one entry point.

- :mod:`.tpfa` (``"tpfa"``): the paper's two-point resistor network; sees only the diagonal of
  each grain's conductivity tensor.
- :mod:`.q1` (``"fem"``): bilinear/trilinear (Q1) finite elements with the full tensor and GB
  interface elements; conforming, so its conductance is an upper bound of the voxel map's.
- :mod:`.mixed` (``"mixed"``): hybridized lowest-order Raviart-Thomas mixed finite elements
  with the full tensor and GB interface conditions; locally conservative face fluxes, and a
  lower bound of the conductance.

Every operator fulfils the solve stage's contract (:mod:`netsolve.solve`: a symmetric matrix
over its unknowns with zero row sums apart from the electrode links) and reconstructs its own
fluxes into the one :class:`~netsolve.fields.Fields` contract:
``operator.fields(solution, props, electrode_index)``.
"""

from __future__ import annotations

from importlib import import_module

from ..case import Case
from ..microstructure import Microstructure
from ..properties import Properties

# [solver] discretization -> (module, builder); modules are imported on first use.
BUILDERS = {"tpfa": ("tpfa", "build_network"), "fem": ("q1", "build_fem_operator"),
            "mixed": ("mixed", "build_mixed_operator")}


def build_operator(case: Case, micro: Microstructure, props: Properties,
                   discretization: str | None = None):
    """The operator of ``discretization`` (default: the case's ``[solver] discretization``)."""
    module, builder = BUILDERS[discretization or case.solver.discretization]
    return getattr(import_module(f".{module}", __name__), builder)(case, micro, props)

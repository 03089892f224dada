"""The applied field of an electrode layout: the field the electrodes would drive through a
homogeneous isotropic sample of the same shape (for the classification without a solve).

The existing pipeline with the materials overridden: every grain and the backbone conduct
sigma_ip isotropically, no GB resistors; ZrO2, void and the electrodes stay where they are. For
parallel plates this is uniform; for electrodes at 90 degrees it curves. One Laplace solve.
"""

from __future__ import annotations

from dataclasses import replace

from ..case import Case
from ..discretization.tpfa import build_network
from ..fields import Fields
from ..microstructure import Microstructure
from ..properties import compute_properties
from ..solve import solve_network


def applied_fields(case: Case, micro: Microstructure) -> Fields:
    """Voxel fields of the homogeneous isotropic sample with the case's electrodes."""
    materials = replace(case.materials, conductivity_model="isotropic", gb_thickness_m=0.0,
                        ratio_ip_backbone=1.0)
    uniform = replace(case, materials=materials)
    props = compute_properties(micro, materials)
    network = build_network(uniform, micro, props)
    solution = solve_network(network, case.electrodes, case.solver, case.label)
    return network.fields(solution, props, micro.electrode_index)

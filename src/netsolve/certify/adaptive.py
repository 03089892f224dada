"""Adaptive sub-voxel refinement of a certified 2D solve: split the voxels where the
Prager-Synge indicator is large into 2 x 2 children (a 2:1-balanced quadtree,
:mod:`.quadtree`), solve again with Q1 (:mod:`.tree_q1`) and the mixed method
(:mod:`.tree_mixed`), until the bracket's relative gap is at most ``[solver] bound_tol`` or the
cell budget ``[solver] refine_max_cells`` is reached.

Marking: Doerfler's bulk criterion, the fewest leaves that hold ``BULK`` of the indicator.
Children inherit their voxel's material, so the exact answer does not move while both bounds
close in on it (the Q1 spaces are nested: its bound never gets worse; so are the RT0 spaces).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..case import Case, default_refine_budget
from ..microstructure import Microstructure
from ..progress import stage
from ..properties import Properties
from ..solve import NetworkSolution, solve_network
from .bounds import (GAUSS_1D, Certificate, brackets, element_terms, interface_term,
                     tightest)
from .quadtree import FINE, Quadtree, refine, root_tree, segments
from .tree_common import leaf_side_corners, tree_material
from .tree_mixed import TreeMixedOperator, _segment_flux, build_tree_mixed
from .tree_q1 import TreeQ1Operator, _trace, build_tree_q1

BULK = 0.5


@dataclass(frozen=True)
class Refinement:
    """What the refinement did: cells and relative gap after each step (step 0: the voxels)."""

    cells: tuple[int, ...]
    gaps: tuple[float, ...]
    max_level: int
    stopped_by: str  # "bound_tol", "refine_max_cells", "max_level"

    def summary(self) -> dict:
        return {"steps": len(self.cells) - 1, "cells": list(self.cells),
                "relative_gap": list(self.gaps), "max_level": self.max_level,
                "stopped_by": self.stopped_by}


def refine_until_certified(case: Case, micro: Microstructure, props: Properties,
                           first: Certificate):
    """Refine from the voxel grid's certificate ``first`` (and its indicator). Returns the
    mixed operator, solution and fields of the last mesh and its :class:`Certificate` (with
    the indicator summed per voxel and the :class:`Refinement`)."""
    options = case.solver
    budget = options.refine_max_cells or default_refine_budget(int(micro.conducting.sum()))
    tree = root_tree(micro.conducting)
    eta = first.indicator_W[micro.conducting]  # leaves of the root tree are in voxel order
    # gaps: the Q1 / RT0 brackets of the meshes; the loop stops on the best bracket so far
    # (the voxel grid's may use the reconstructed bounds, bounds.tightest)
    cells, gaps = [tree.n_leaves], [first.plain_gap]
    best = first.relative_gap
    stopped_by = "bound_tol"
    result = None
    while not best <= options.bound_tol:
        marked = doerfler(np.nan_to_num(eta), BULK)
        finer = refine(tree, marked)
        if finer.n_leaves > budget:
            stopped_by = "refine_max_cells"
            break
        if finer.n_leaves == tree.n_leaves:
            stopped_by = "max_level"
            break
        tree = finer
        stage("refine", f"refinement step {len(cells)}: {tree.n_leaves} cells, gap "
                        f"{gaps[-1]:.1%}")
        result = solve_tree(case, micro, props, tree)
        cells.append(tree.n_leaves)
        gaps.append(result["certificate"].relative_gap)
        best = tightest(first, result["certificate"]).relative_gap
        eta = result["eta"]
    refinement = Refinement(tuple(cells), tuple(gaps), int(tree.level.max()), stopped_by)
    if result is None:  # no step was taken (the budget was too small for one)
        return None, refinement
    certificate = result["certificate"]
    certificate = Certificate(certificate.power_W, certificate.conductance_S,
                              certificate.resistance_ohm, certificate.indicator_W,
                              certificate.primal_power_W, certificate.dual_power_W, refinement)
    return (result["operator"], result["solution"], result["fields"], certificate), refinement


def doerfler(eta: np.ndarray, bulk: float) -> np.ndarray:
    """The fewest entries whose sum is at least ``bulk`` of the total (bool mask)."""
    order = np.argsort(eta)[::-1]
    cumulative = np.cumsum(eta[order])
    count = int(np.searchsorted(cumulative, bulk * cumulative[-1])) + 1
    marked = np.zeros(len(eta), dtype=bool)
    marked[order[:count]] = True
    return marked


def solve_tree(case: Case, micro: Microstructure, props: Properties, tree: Quadtree) -> dict:
    """Both solutions on one tree, their brackets and the indicator per leaf and per voxel."""
    material = tree_material(tree, micro, props)
    segs = segments(tree)
    primal = build_tree_q1(case, micro, tree, material, segs)
    primal_solution = solve_network(primal, case.electrodes, case.solver, case.label)
    dual = build_tree_mixed(case, micro, tree, material, segs)
    dual_solution = solve_network(dual, case.electrodes, case.solver, case.label)
    energy = primal.energy(primal_solution)
    dissipation = dual.dissipation(dual_solution)
    power, conductance, resistance, scale = brackets(case.electrodes, primal_solution, energy,
                                                     dual_solution, dissipation)
    eta = tree_indicator(case, micro, primal, primal_solution, dual, dual_solution, scale)
    per_voxel = np.zeros(micro.labels.size)
    np.add.at(per_voxel, tree.root_voxel, eta)
    per_voxel[~micro.conducting.ravel()] = np.nan
    certificate = Certificate(power, conductance, resistance, per_voxel.reshape(micro.labels.shape),
                              energy, dissipation)
    fields = dual.fields(dual_solution, props, micro.electrode_index)
    return {"operator": dual, "solution": dual_solution, "fields": fields, "eta": eta,
            "certificate": certificate}


def tree_indicator(case: Case, micro: Microstructure, primal: TreeQ1Operator,
                   primal_solution: NetworkSolution, dual: TreeMixedOperator,
                   dual_solution: NetworkSolution, flux_scale: float) -> np.ndarray:
    """eta^2 per leaf (W): the element terms and the GB / contact-resistance segment terms
    (half of a GB segment's to each side)."""
    tree = dual.tree
    grid = case.grid
    t = grid.thickness_m
    u_copy = np.nan_to_num(primal.copy_potential(primal_solution))
    u = u_copy[primal.leaf_copies]
    flux = np.nan_to_num(dual.leaf_fluxes(dual_solution)) * flux_scale
    size = tree.size * (grid.voxel_size_m / FINE)
    eta = element_terms(u, flux, dual.tensor_table[dual.leaf_tensor], size, size * t,
                        size**2 * t)
    segs = dual.segs
    resistive = np.isfinite(dual.segment_conductance)
    if resistive.any():
        rows = np.flatnonzero(resistive)
        ends = []
        for end in (0, 1):
            lo_c, lo_w = _trace(tree, primal.leaf_copies, segs, segs.lower, 1, end)
            up_c, up_w = _trace(tree, primal.leaf_copies, segs, segs.upper, 0, end)
            ends.append((u_copy[lo_c[rows]] * lo_w[rows]).sum(axis=1)
                        - (u_copy[up_c[rows]] * up_w[rows]).sum(axis=1))
        jump = np.stack([(1 - g) * ends[0] + g * ends[1] for g in GAUSS_1D], axis=1)
        length = segs.length[rows] * (grid.voxel_size_m / FINE)
        area = length * t
        density = _segment_flux(dual, flux)[rows] / area
        r_area = area / dual.segment_conductance[rows]
        term = interface_term(jump, density, r_area, area)
        np.add.at(eta, segs.lower[rows], 0.5 * term)
        np.add.at(eta, segs.upper[rows], 0.5 * term)
    if len(dual.robin_leaf):
        leaf, side = dual.robin_leaf, dual.robin_side
        corners = np.array([leaf_side_corners(s) for s in range(4)])[side]
        ua = u[leaf, corners[:, 0]]
        ub = u[leaf, corners[:, 1]]
        trace = np.stack([(1 - g) * ua + g * ub for g in GAUSS_1D], axis=1)
        v = dual_solution.electrode_potential[dual.robin_electrode] * flux_scale
        area = size[leaf] * t
        inflow = -flux[leaf, side] / area
        np.add.at(eta, leaf, interface_term(v[:, None] - trace, inflow,
                                            area / dual.robin_conductance, area))
    return eta

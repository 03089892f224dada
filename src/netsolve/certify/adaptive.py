"""Adaptive sub-voxel refinement of a certified 2D solve: split the voxels where the
Prager-Synge indicator is large into 2 x 2 children (a 2:1-balanced quadtree,
:mod:`.quadtree`), solve again with Q1 (:mod:`.tree_q1`) and the mixed method
(:mod:`.tree_mixed`), until the bracket's relative gap is at most ``[solver] bound_tol`` or the
cell budget ``[solver] refine_max_cells`` is reached.

Marking: Doerfler's bulk criterion, the fewest leaves that hold ``BULK`` of the indicator, and
at least ``MIN_FRACTION`` of the leaves; a marked leaf whose indicator is 8^j times the
smallest marked one is split j more levels in the same step (up to ``MAX_DEPTH`` levels), and
no more leaves are marked than still fit the cell budget (the last step fills the budget
instead of stopping short of it). Every step rebuilds and solves both problems, so a few large
steps cost less than many small ones. Children inherit their voxel's material, so the exact
answer does not move while both bounds close in on it (the Q1 spaces are nested: its bound
never gets worse; so are the RT0 spaces).

Every iterative solve starts from the previous solution: the Q1 potential of the coarser mesh
(the same function: the spaces are nested) and, for the mixed face potentials, the trace of the
Q1 potential just solved on the same mesh. The fields are computed once, on the last mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..case import Case, default_refine_budget
from ..microstructure import Microstructure
from ..progress import stage
from ..properties import Properties
from ..solve import NetworkSolution, solve_network
from ..solvers import WarmStart
from .bounds import (GAUSS_1D, Certificate, brackets, current_groups, element_terms,
                     interface_term, tightest)
from .quadtree import FINE, Quadtree, refine, root_tree, segments
from .tree_common import leaf_side_corners, tree_material
from .tree_mixed import TreeMixedOperator, _segment_flux, build_tree_mixed
from .tree_q1 import TreeQ1Operator, _trace, build_tree_q1
from .tree_equilibrate import tree_equilibrated_dissipation
from .tree_reconstruct import tree_reconstructed_energy

BULK = 0.5
# Every step rebuilds and solves both problems (two solves of ~0.3-1 M unknowns on the ding2023
# lamella, ~17 s a step on 2 cores): Doerfler 0.5 alone marked ~0.3 % of the leaves per step
# there (the indicator sits at a few electrode ends and junctions) and took 6 steps from 23 %
# to 2.7 %. At least this fraction of the leaves is marked ...
MIN_FRACTION = 0.02
# ... and a marked leaf far above the smallest marked indicator is split up to this many levels
# at once (:func:`next_tree`): 4 steps instead of 6 on the lamella, to a tighter bracket
# (docs/performance.md). A larger bulk (0.9) or a larger minimum fraction (0.1) were measured
# to cost more cells for the same gap there.
MAX_DEPTH = 3
# Near the budget: a step that adds fewer cells than this fraction of the mesh is not worth
# its two solves, the loop stops at the budget instead.
MIN_STEP_FRACTION = 0.02
# An intermediate mesh gets the reconstructed bounds (tree_reconstruct / tree_equilibrate,
# about a third of a step's CPU) only when its plain gap, divided by the narrowing the
# reconstruction gave on the last mesh where it ran, comes within this factor of bound_tol:
# only then could they end the loop. The last mesh always gets them. The narrowing grows as
# the mesh is refined (320^2 Voronoi map, 112 grains, 100:1: 3.1 on the voxels, then 3.8,
# 4.5, 5.4, 6.8 after four steps), hence a factor that covers two steps' growth.
RECONSTRUCT_WITHIN = 4.0


@dataclass(frozen=True)
class Refinement:
    """What the refinement did: cells and relative gap after each step (step 0: the voxels)."""

    cells: tuple[int, ...]
    gaps: tuple[float, ...]  # the plain Q1 / RT0 gap of every mesh
    max_level: int
    stopped_by: str  # "bound_tol", "refine_max_cells", "max_level"
    # the gap of every mesh's own best bracket (Q2 upper bound where it is better; step 0: the
    # voxels' reconstructed bracket); None: not computed on that intermediate mesh (its plain
    # gap was too wide for the reconstruction to end the loop there; RECONSTRUCT_WITHIN)
    bracket_gaps: tuple[float | None, ...] = ()

    def summary(self) -> dict:
        return {"steps": len(self.cells) - 1, "cells": list(self.cells),
                "relative_gap": list(self.gaps), "bracket_gap": list(self.bracket_gaps),
                "max_level": self.max_level, "stopped_by": self.stopped_by}


def refine_until_certified(case: Case, micro: Microstructure, props: Properties,
                           first: Certificate, start=None):
    """Refine from the voxel grid's certificate ``first`` (and its indicator). ``start``:
    the voxel grid's Q1 operator and solution, ``(FemOperator, NetworkSolution)``, the first
    step's initial guess (optional). Returns the mixed operator, solution and fields of the
    last mesh and its :class:`Certificate` (with the indicator summed per voxel and the
    :class:`Refinement`)."""
    options = case.solver
    budget = options.refine_max_cells or default_refine_budget(int(micro.conducting.sum()))
    tree = root_tree(micro.conducting)
    eta = first.indicator_W[micro.conducting]  # leaves of the root tree are in voxel order
    # gaps: the Q1 / RT0 brackets of the meshes; the loop stops on the best bracket so far
    # (the voxel grid's may use the reconstructed bounds, bounds.tightest)
    corner_u = None if start is None else voxel_corner_potential(*start)
    cells, gaps, bracket_gaps = [tree.n_leaves], [first.plain_gap], [first.relative_gap]
    best = first.relative_gap
    narrowing = _narrowing(first.plain_gap, first.relative_gap)
    stopped_by = "bound_tol"
    result = None
    while not best <= options.bound_tol:
        finer, stopped_by = next_tree(tree, np.nan_to_num(eta), budget, BULK, MAX_DEPTH)
        if finer is None:
            break
        result = None  # the last mesh's operators: not kept through the next solves (memory)
        previous, tree = tree, finer
        stage("refine", f"refinement step {len(cells)}: {tree.n_leaves} cells, gap "
                        f"{best:.1%}")
        guess = None if corner_u is None else (previous, corner_u)
        result = solve_tree(case, micro, props, tree, with_fields=False, guess=guess,
                            reconstruct=False)
        plain_gap = result["certificate"].plain_gap
        if plain_gap / narrowing <= RECONSTRUCT_WITHIN * options.bound_tol:
            result = with_reconstruction(case, micro, result)
            narrowing = _narrowing(plain_gap, result["certificate"].relative_gap)
        cells.append(tree.n_leaves)
        gaps.append(plain_gap)
        bracket_gaps.append(result["certificate"].relative_gap if result["reconstructed"]
                            else None)
        best = tightest(first, result["certificate"]).relative_gap
        eta, corner_u = result["eta"], result["corner_potential"]
        stopped_by = "bound_tol"
    if result is not None and not result["reconstructed"]:  # the last mesh: always its best
        result = with_reconstruction(case, micro, result)
        bracket_gaps[-1] = result["certificate"].relative_gap
    refinement = Refinement(tuple(cells), tuple(gaps), int(tree.level.max()), stopped_by,
                            tuple(bracket_gaps))
    if result is None:  # no step was taken (the budget was too small for one)
        return None, refinement
    certificate = replace(result["certificate"], refinement=refinement)
    dual, dual_solution = result["operator"], result["solution"]
    fields = dual.fields(dual_solution, props, micro.electrode_index)
    return (dual, dual_solution, fields, certificate), refinement


def next_tree(tree: Quadtree, eta: np.ndarray, budget: int, bulk: float = BULK,
              max_depth: int = 1):
    """The next mesh: the marked leaves (:func:`mark_count` with ``bulk``) split and the tree
    balanced, with fewer marked leaves when that would exceed ``budget`` cells.

    ``max_depth`` > 1: a marked leaf whose indicator is 8^j times the smallest marked one is
    split j more levels at once (at most ``max_depth`` in all): a split leaf at a singularity
    keeps about half of its indicator, shared by 4 children (1/8 each), so its children would
    be marked again in the next step anyway, and theirs in the one after.

    ``(None, reason)`` when no step is worth taking ("refine_max_cells", "max_level"), else
    ``(tree, None)``."""
    order = np.argsort(eta, kind="stable")[::-1]
    count = mark_count(eta[order], tree.n_leaves, bulk)
    for _ in range(6):  # the balance adds cells that only refine() can count
        marked = np.zeros(tree.n_leaves, dtype=bool)
        marked[order[:count]] = True
        depth = np.zeros(tree.n_leaves, dtype=np.int64)
        threshold = eta[order[count - 1]]
        with np.errstate(divide="ignore", invalid="ignore"):
            extra = np.floor(np.log2(eta[marked] / threshold) / 3) if threshold > 0 else 0.0
        depth[marked] = 1 + np.clip(np.nan_to_num(extra), 0, max_depth - 1).astype(np.int64)
        finer = refine_to_depth(tree, depth)
        if finer.n_leaves == tree.n_leaves:
            return None, "max_level"
        if finer.n_leaves <= budget:
            break
        added_per_mark = (finer.n_leaves - tree.n_leaves) / count
        count = int(0.95 * (budget - tree.n_leaves) / added_per_mark)
        if count < 1:
            return None, "refine_max_cells"
    else:
        return None, "refine_max_cells"
    if (finer.n_leaves - tree.n_leaves < MIN_STEP_FRACTION * tree.n_leaves
            and finer.n_leaves > 0.9 * budget):
        return None, "refine_max_cells"
    return finer, None


def refine_to_depth(tree: Quadtree, depth: np.ndarray) -> Quadtree:
    """Split every leaf of ``tree`` into descendants ``depth`` (per leaf, >= 0) levels finer,
    then balance (:func:`~.quadtree.refine`, one level at a time)."""
    finer = refine(tree, depth > 0)
    for extra in range(1, int(depth.max(initial=0))):
        ancestor = tree.covering_leaf(finer.x0, finer.y0)
        below = finer.level.astype(np.int64) - tree.level[ancestor]
        more = (depth[ancestor] > below) & (below == extra)
        if not more.any():
            break
        finer = refine(finer, more)
    return finer


def mark_count(sorted_eta: np.ndarray, n_leaves: int, bulk: float = BULK,
               min_fraction: float = MIN_FRACTION) -> int:
    """How many of the largest indicators to mark (``sorted_eta`` descending): Doerfler's
    count for ``bulk``, at least ``min_fraction`` of the ``n_leaves``."""
    cumulative = np.cumsum(sorted_eta)
    count = int(np.searchsorted(cumulative, bulk * cumulative[-1])) + 1
    return int(min(len(sorted_eta), max(count, np.ceil(min_fraction * n_leaves))))


def doerfler(eta: np.ndarray, bulk: float, min_fraction: float = 0.0) -> np.ndarray:
    """The fewest entries whose sum is at least ``bulk`` of the total, and at least
    ``min_fraction`` of all entries (bool mask)."""
    order = np.argsort(eta, kind="stable")[::-1]
    count = mark_count(eta[order], len(eta), bulk, min_fraction)
    marked = np.zeros(len(eta), dtype=bool)
    marked[order[:count]] = True
    return marked


def solve_tree(case: Case, micro: Microstructure, props: Properties, tree: Quadtree,
               with_fields: bool = True, guess=None, reconstruct: bool = True) -> dict:
    """Both solutions on one tree, their brackets and the indicator per leaf and per voxel.

    ``guess``: ``(coarser tree, its Q1 potential per leaf corner (n, 4))``, the initial guess
    of the iterative Q1 solve (the mixed solve starts from the Q1 trace on this tree);
    ``with_fields``: also the mixed fields on the voxels; ``reconstruct``: the bounds also
    from the Q2 potential (:mod:`.tree_reconstruct`) and the stream-function corrected flux
    (:mod:`.tree_equilibrate`), the certificate's ``plain_gap`` keeps the Q1 / RT0 gap."""
    material = tree_material(tree, micro, props)
    segs = segments(tree)
    primal = build_tree_q1(case, micro, tree, material, segs)
    fixed = all(e.potential_V is not None for e in case.electrodes)  # one right-hand side
    warm = None
    if guess is not None and fixed:
        warm = WarmStart(x0=primal.initial_guess(*guess)[:, None])
    primal_solution = solve_network(primal, case.electrodes, case.solver, case.label, warm=warm)
    dual = build_tree_mixed(case, micro, tree, material, segs)
    warm = None
    if fixed:
        warm = WarmStart(x0=dual.initial_guess(primal, primal_solution)[:, None])
    dual_solution = solve_network(dual, case.electrodes, case.solver, case.label, warm=warm)
    energy = primal.energy(primal_solution)
    dissipation = dual.dissipation(dual_solution)
    plain = brackets(case.electrodes, primal_solution, energy, dual_solution, dissipation)
    scale = plain[3]
    eta = tree_indicator(case, micro, primal, primal_solution, dual, dual_solution, scale)
    per_voxel = np.zeros(micro.labels.size)
    np.add.at(per_voxel, tree.root_voxel, eta)
    per_voxel[~micro.conducting.ravel()] = np.nan
    indicator = per_voxel.reshape(micro.labels.shape)
    certificate = Certificate(*plain[:3], indicator, energy, dissipation)
    certificate = replace(certificate, plain_gap=certificate.relative_gap)
    fields = dual.fields(dual_solution, props, micro.electrode_index) if with_fields else None
    corner = np.nan_to_num(primal.copy_potential(primal_solution))[primal.leaf_copies]
    result = {"operator": dual, "solution": dual_solution, "fields": fields, "eta": eta,
              "certificate": certificate, "corner_potential": corner, "reconstructed": False,
              "primal": (primal, primal_solution), "mesh": (material, segs)}
    return with_reconstruction(case, micro, result) if reconstruct else result


def with_reconstruction(case: Case, micro: Microstructure, result: dict) -> dict:
    """``result`` of :func:`solve_tree` with the better of the Q1 potential and the Q2 one
    reached from it (same electrode potentials, so the same statement: tree_reconstruct.py),
    and of the RT0 flux and its stream-function correction (same electrode currents:
    tree_equilibrate.py), in its certificate; its ``plain_gap`` keeps the Q1 / RT0 gap."""
    plain = result["certificate"]
    primal, primal_solution = result["primal"]
    material, segs = result["mesh"]
    dual, dual_solution = result["operator"], result["solution"]
    energy, dissipation = plain.primal_power_W, plain.dual_power_W
    upper, upper_from, lower, lower_from = energy, "q1", dissipation, "rt0"
    if np.isfinite(energy) and np.isfinite(dissipation):
        q2 = tree_reconstructed_energy(case, micro, primal, primal_solution, material, segs)
        if q2 < upper:
            upper, upper_from = q2, "q2"
        w = tree_equilibrated_dissipation(case, micro, dual, dual_solution, material,
                                          current_groups(case.electrodes))[1]
        if w < lower:
            lower, lower_from = w, "rt0+curl"
    power, conductance, resistance, _ = brackets(case.electrodes, primal_solution, upper,
                                                 dual_solution, lower)
    certificate = Certificate(power, conductance, resistance, plain.indicator_W, energy,
                              dissipation, upper_from=upper_from, lower_from=lower_from,
                              plain_gap=plain.plain_gap)
    return {**result, "certificate": certificate, "reconstructed": True}


def _narrowing(plain_gap: float, bracket_gap: float) -> float:
    """plain / reconstructed gap (>= 1; 1 when either is not a positive finite number)."""
    ratio = plain_gap / bracket_gap if bracket_gap > 0 else 1.0
    return float(ratio) if np.isfinite(ratio) and ratio > 1.0 else 1.0


def voxel_corner_potential(primal, solution) -> np.ndarray:
    """The voxel grid's Q1 potential at the corners of its elements, (n, 4) in the corner
    order of the tree's leaves (the root tree's leaves are the elements, in voxel order)."""
    return np.nan_to_num(primal.copy_potential(solution)[primal.element_nodes])


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

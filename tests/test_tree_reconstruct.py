"""The reconstructed bounds on the quadtree meshes of the adaptive refinement: the Q2 potential
(netsolve.certify.tree_reconstruct) and the stream-function corrected flux
(netsolve.certify.tree_equilibrate). The tree's Q1 solution is in the constrained Q2 space with
its energy (exact integrals of its GB and contact terms), psi = 0 is the mixed flux with its
dissipation, exact values stay inside the refined brackets, and the reconstructed bracket is
narrower than the plain one."""

from __future__ import annotations

import numpy as np
import pytest

import netsolve
from netsolve.certify.adaptive import next_tree, solve_tree
from netsolve.certify.quadtree import refine, root_tree, segments
from netsolve.certify.reconstruct import FACE_NODES, minimize
from netsolve.certify.tree_common import contact_sides, leaf_side_corners, tree_material
from netsolve.certify.tree_equilibrate import tree_stream_form
from netsolve.certify.tree_q1 import _trace
from netsolve.certify.tree_reconstruct import (CORNER_NODE, embed_tree_q1,
                                               tree_potential_form)
from netsolve.microstructure import build_microstructure
from netsolve.properties import compute_properties

from test_mixed import SIGMA, in_plane_polycrystal, voronoi_labels
from test_refinement import polycrystal, tree_solutions


def random_tree(micro, steps=3, share=0.3, seed=1):
    tree = root_tree(micro.conducting)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        tree = refine(tree, rng.random(tree.n_leaves) < share)
    return tree


def _lumping_excess(case, micro, props, tree, primal, p_sol):
    """What the tree Q1 energy's trapezoidal GB and contact terms add to their exact
    integrals: g L (a - b)^2 / 6 per segment for a jump linear from a to b (W)."""
    material = tree_material(tree, micro, props)
    segs = segments(tree)
    grid = case.grid
    u = np.nan_to_num(primal.copy_potential(p_sol))
    g = material.gb_conductance_m2 * segs.length * (grid.voxel_size_m / 4096) * grid.thickness_m
    resistive = np.isfinite(g) & (segs.lower >= 0) & (segs.upper >= 0)
    resistive &= material.leaf_region[np.maximum(segs.lower, 0)] \
        != material.leaf_region[np.maximum(segs.upper, 0)]
    ends = []
    for end in (0, 1):
        lo_c, lo_w = _trace(tree, primal.leaf_copies, segs, segs.lower, 1, end)
        up_c, up_w = _trace(tree, primal.leaf_copies, segs, segs.upper, 0, end)
        ends.append((u[lo_c] * lo_w).sum(axis=1) - (u[up_c] * up_w).sum(axis=1))
    excess = float((g[resistive] * (ends[0] - ends[1])[resistive] ** 2).sum()) / 6
    contacts = contact_sides(tree, case, micro, material)
    robin = contacts["resistance_area"] > 0
    leaf, side = contacts["leaf"][robin], contacts["side"][robin]
    corners = np.array([leaf_side_corners(s) for s in range(4)])[side]
    corner_u = u[primal.leaf_copies]
    drop = corner_u[leaf, corners[:, 0]] - corner_u[leaf, corners[:, 1]]
    length = tree.size[leaf] * (grid.voxel_size_m / 4096)
    g_side = length * grid.thickness_m / contacts["resistance_area"][robin]
    return excess + float((g_side * drop**2).sum()) / 6, int(resistive.sum()), int(robin.sum())


@pytest.mark.parametrize("resistors", [False, True])
def test_embedded_q1_solution_has_the_tree_q1_energy(tmp_path, resistors):
    # The constraints (hanging midpoints on the coarse side's quadratic trace, GB nodes free)
    # must hold the tree's Q1 potential exactly: same node values, same element energy; the GB
    # and contact terms, integrated exactly, differ from Q1's lumped ones by g L (a - b)^2 / 6.
    case, micro, props = polycrystal(tmp_path, gb=resistors)
    tree = random_tree(micro)
    assert len(np.unique(tree.level)) == 4
    primal, p_sol, _, _ = tree_solutions(case, micro, props, tree)
    material = tree_material(tree, micro, props)
    potentials = np.nan_to_num(p_sol.electrode_potential)
    form, electrode = tree_potential_form(case, micro, tree, material, segments(tree),
                                          potentials)
    x = embed_tree_q1(form, primal, p_sol, electrode, potentials)
    local = form.local(x)
    corner = np.nan_to_num(primal.copy_potential(p_sol))[primal.leaf_copies]
    scale = np.abs(corner).max()
    assert np.abs(local[CORNER_NODE].T - corner).max() <= 1e-13 * scale
    for side in range(4):  # midpoints, including the constrained ones: the Q1 side's mean
        nodes = FACE_NODES[side]
        assert np.abs(local[nodes[1]] - 0.5 * (local[nodes[0]] + local[nodes[2]])).max() \
            <= 1e-13 * scale
    excess, n_gb, n_robin = _lumping_excess(case, micro, props, tree, primal, p_sol)
    assert (n_gb > 0 and n_robin > 0) == resistors
    assert form.value(x) == pytest.approx(primal.energy(p_sol) - excess, rel=1e-11)
    if resistors:
        assert excess > 1e-6 * primal.energy(p_sol)


@pytest.mark.parametrize("resistors", [False, True])
def test_stream_function_zero_is_the_mixed_flux(tmp_path, resistors):
    # psi = 0: the tree's RT0 flux, whose dissipation (GB segments and resistive contacts
    # included) the form must reproduce; descent lowers it, fixed (wall) nodes stay at 0.
    case, micro, props = polycrystal(tmp_path, gb=resistors, ratio=1000.0)
    tree = random_tree(micro)
    _, _, dual, d_sol = tree_solutions(case, micro, props, tree)
    assert (np.isfinite(dual.segment_conductance).any() and len(dual.robin_leaf) > 0) == resistors
    form = tree_stream_form(case, micro, dual, d_sol, tree_material(tree, micro, props))
    zero = np.zeros(form.n_dofs)
    assert form.value(zero) == pytest.approx(dual.dissipation(d_sol), rel=1e-12)
    assert 0 < form.fixed.sum() < form.n_dofs
    psi = minimize(form, zero, 200)
    assert np.all(psi[form.fixed] == 0)
    assert form.value(psi) < 0.8 * form.value(zero)


def test_descent_stays_inside_the_plain_bracket(tmp_path):
    case, micro, props = polycrystal(tmp_path, gb=True, ratio=1000.0)
    tree = random_tree(micro, seed=2)
    primal, p_sol, dual, d_sol = tree_solutions(case, micro, props, tree)
    material = tree_material(tree, micro, props)
    potentials = np.nan_to_num(p_sol.electrode_potential)
    form, electrode = tree_potential_form(case, micro, tree, material, segments(tree),
                                          potentials)
    x0 = embed_tree_q1(form, primal, p_sol, electrode, potentials)
    x = minimize(form, x0, 200)
    assert np.array_equal(x[form.fixed], x0[form.fixed])  # the electrode potentials kept
    v, i = d_sol.electrode_potential, d_sol.electrode_current
    lower = float(v @ i) ** 2 / dual.dissipation(d_sol)
    assert lower < form.value(x) < 0.95 * primal.energy(p_sol)
    psi_form = tree_stream_form(case, micro, dual, d_sol, material)
    w = psi_form.value(minimize(psi_form, np.zeros(psi_form.n_dofs), 200))
    # fixed electrode potentials: both bound the same power
    assert np.array_equal(v, p_sol.electrode_potential)
    assert lower < float(v @ i) ** 2 / w < form.value(x)


def refined_certificate(data, tmp_path, steps=2):
    case = netsolve.case_from_dict(data, base_dir=tmp_path)
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    tree = root_tree(micro.conducting)
    result = solve_tree(case, micro, props, tree, with_fields=False)
    for _ in range(steps):
        tree, _ = next_tree(tree, result["eta"], 10**6, max_depth=2)
        result = solve_tree(case, micro, props, tree, with_fields=False)
    return tree, result["certificate"]


@pytest.mark.parametrize("ratio", [100.0, 1000.0])
def test_refined_keller_brackets_contain_the_exact_value_and_narrow(tmp_path, ratio):
    # G_x G_y = (t sigma_ip)(t sigma_op) exactly on every map of in-plane grains: the refined
    # meshes' own brackets (Q2 upper bound) must contain it and be narrower than Q1 / RT0.
    labels = voronoi_labels(20, 8, seed=4)
    brackets = []
    for axis in (0, 1):
        tree, certificate = refined_certificate(in_plane_polycrystal(tmp_path, labels, ratio,
                                                                     axis), tmp_path)
        assert tree.level.max() >= 2
        assert certificate.upper_from == "q2" and certificate.lower_from == "rt0+curl"
        assert certificate.relative_gap < 0.75 * certificate.plain_gap
        brackets.append(certificate.conductance_S)
    exact = (100e-9) ** 2 * SIGMA * SIGMA / ratio
    gx, gy = brackets
    assert gx.lower * gy.lower <= exact <= gx.upper * gy.upper
    assert gx.lower <= exact / gy.lower and exact / gy.upper <= gx.upper


def test_adaptive_loop_records_plain_and_reconstructed_gaps(tmp_path):
    labels = voronoi_labels(20, 8, seed=4)
    data = in_plane_polycrystal(tmp_path, labels, 100.0, 0)
    data["solver"].update(refine=True, bound_tol=0.03)
    result = netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp_path))
    refinement = result.certificate.refinement
    assert len(refinement.bracket_gaps) == len(refinement.gaps) >= 2
    # every refined mesh whose bracket was reconstructed (always the last one) is narrower
    # than its plain one
    assert refinement.bracket_gaps[-1] is not None
    reconstructed = [(b, p) for b, p in zip(refinement.bracket_gaps[1:], refinement.gaps[1:])
                     if b is not None]
    assert reconstructed and all(b < p for b, p in reconstructed)
    summary = result.summary()["bounds"]
    assert summary["refinement"]["bracket_gap"] == list(refinement.bracket_gaps)
    assert summary["relative_gap"] <= min(b for b in refinement.bracket_gaps if b is not None)


@pytest.mark.parametrize("within", [0.0, np.inf])
def test_reconstruction_skipped_on_intermediate_meshes_still_certifies_the_last(
        tmp_path, monkeypatch, within):
    # RECONSTRUCT_WITHIN = 0: the intermediate meshes keep their plain bracket (None recorded)
    # and only the last mesh is reconstructed; inf: every mesh is. Either way the final
    # bracket is the last mesh's reconstructed one and holds the exact Keller product.
    from netsolve.certify import adaptive

    monkeypatch.setattr(adaptive, "RECONSTRUCT_WITHIN", within)
    labels = voronoi_labels(20, 8, seed=4)
    brackets = []
    for axis in (0, 1):
        data = in_plane_polycrystal(tmp_path, labels, 100.0, axis)
        data["solver"].update(refine=True, bound_tol=0.002, refine_max_cells=6000)
        certificate = netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp_path)).certificate
        gaps = certificate.refinement.bracket_gaps
        assert len(gaps) >= 3 and gaps[-1] is not None
        assert all((g is None) == (within == 0.0) for g in gaps[1:-1])
        assert certificate.upper_from == "q2" and certificate.lower_from == "rt0+curl"
        assert certificate.relative_gap == pytest.approx(gaps[-1], rel=1e-12)
        assert certificate.relative_gap < certificate.refinement.gaps[-1]
        brackets.append(certificate.conductance_S)
    exact = (100e-9) ** 2 * SIGMA * SIGMA / 100.0
    gx, gy = brackets
    assert gx.lower * gy.lower <= exact <= gx.upper * gy.upper

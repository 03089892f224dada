"""Adaptive sub-voxel refinement (2D quadtree): the quadtree operators agree with the voxel-grid
ones, bounds stay bounds and improve monotonically on nested meshes, the hypercircle identity
holds on non-uniform meshes, fluxes are continuous across hanging faces, and the loop stops
at bound_tol or the cell budget."""

from __future__ import annotations

import numpy as np
import pytest

import netsolve
from netsolve.certify.adaptive import doerfler, mark_count, next_tree, solve_tree, tree_indicator
from netsolve.certify.bounds import brackets
from netsolve.certify.quadtree import SIDE_AXIS, refine, root_tree, segments
from netsolve.certify.tree_common import tree_material
from netsolve.certify.tree_mixed import build_tree_mixed
from netsolve.certify.tree_q1 import build_tree_q1
from netsolve.discretization import build_operator
from netsolve.microstructure import build_microstructure
from netsolve.properties import compute_properties
from netsolve.solve import solve_network

from conftest import base_case, with_labels
from test_mixed import in_plane_polycrystal, voronoi_labels


def polycrystal(tmp_path, gb=True, ratio=100.0, zro2=True):
    labels = voronoi_labels(14, 6, seed=5)
    if zro2:
        labels[3:5, 3:6] = -1
    rng = np.random.default_rng(3)
    grains = [{"id": g, "c_axis": rng.normal(size=3).tolist()} for g in range(1, 7)]
    materials = ({"gb_thickness_nm": 1.0, "ratio_ip_gb": 20.0, "asr_ct_ohm_m2": 1e-9} if gb
                 else {"gb_thickness_nm": 0.0})
    data = with_labels(base_case(labels.shape, model="tensor", ratio_ip_op=ratio, **materials),
                       labels, tmp_path, phases={"zro2": -1}, grains=grains)
    data["solver"] = {"method": "direct", "rtol": 1e-12}
    case = netsolve.case_from_dict(data, base_dir=tmp_path)
    micro = build_microstructure(case)
    return case, micro, compute_properties(micro, case.materials)


def tree_solutions(case, micro, props, tree):
    material = tree_material(tree, micro, props)
    segs = segments(tree)
    primal = build_tree_q1(case, micro, tree, material, segs)
    dual = build_tree_mixed(case, micro, tree, material, segs)
    return (primal, solve_network(primal, case.electrodes, case.solver),
            dual, solve_network(dual, case.electrodes, case.solver))


@pytest.mark.parametrize("gb", [False, True])
def test_root_tree_reproduces_the_voxel_grid_operators(tmp_path, gb):
    case, micro, props = polycrystal(tmp_path, gb)
    primal, p_sol, dual, d_sol = tree_solutions(case, micro, props, root_tree(micro.conducting))
    for kind, sol, power in (("fem", p_sol, primal.energy(p_sol)),
                             ("mixed", d_sol, dual.dissipation(d_sol))):
        op = build_operator(case, micro, props, kind)
        reference = solve_network(op, case.electrodes, case.solver)
        assert sol.electrode_current == pytest.approx(reference.electrode_current, rel=1e-11)
        joule = op.fields(reference, props, micro.electrode_index).joule_power_W
        assert power == pytest.approx(joule, rel=1e-11)


def test_uniform_refinement_equals_the_upsampled_map(tmp_path):
    # Splitting every voxel is the same as a map with 2 x 2 voxels per voxel (half the size).
    case, micro, props = polycrystal(tmp_path)
    tree = refine(root_tree(micro.conducting), np.ones(int(micro.conducting.sum()), bool))
    _, p_sol, _, d_sol = tree_solutions(case, micro, props, tree)
    labels = np.kron(micro.labels, np.ones((2, 2), dtype=micro.labels.dtype))
    rng = np.random.default_rng(3)
    grains = [{"id": g, "c_axis": rng.normal(size=3).tolist()} for g in range(1, 7)]
    data = with_labels(base_case(labels.shape, model="tensor", ratio_ip_op=100.0,
                                 gb_thickness_nm=1.0, ratio_ip_gb=20.0, asr_ct_ohm_m2=1e-9),
                       labels, tmp_path, phases={"zro2": -1}, grains=grains)
    data["grid"].update(voxel_size_nm=5.0, thickness_nm=case.grid.thickness_m * 1e9)
    data["solver"] = {"method": "direct", "rtol": 1e-12}
    fine = netsolve.case_from_dict(data, base_dir=tmp_path)
    fine_micro = build_microstructure(fine)
    fine_props = compute_properties(fine_micro, fine.materials)
    for kind, sol in (("fem", p_sol), ("mixed", d_sol)):
        op = build_operator(fine, fine_micro, fine_props, kind)
        reference = solve_network(op, fine.electrodes, fine.solver)
        assert sol.electrode_current == pytest.approx(reference.electrode_current, rel=1e-10)


def test_nested_random_refinement_keeps_both_bounds_and_improves_them(tmp_path):
    case, micro, props = polycrystal(tmp_path)
    tree = root_tree(micro.conducting)
    rng = np.random.default_rng(0)
    uppers, lowers = [], []
    for _ in range(4):
        primal, p_sol, dual, d_sol = tree_solutions(case, micro, props, tree)
        power, *_ = brackets(case.electrodes, p_sol, primal.energy(p_sol), d_sol,
                             dual.dissipation(d_sol))
        uppers.append(power.upper)
        lowers.append(power.lower)
        tree = refine(tree, rng.random(tree.n_leaves) < 0.35)
        _assert_balanced(tree)
    assert all(a >= b for a, b in zip(uppers, uppers[1:]))  # nested Q1 spaces
    assert all(a <= b for a, b in zip(lowers, lowers[1:]))  # nested RT0 spaces
    assert max(lowers) <= min(uppers)


def _assert_balanced(tree):
    for side in range(4):
        first, second = tree.neighbours(side)
        has = first >= 0
        assert np.all(np.abs(tree.level[first[has]].astype(int)
                             - tree.level[has].astype(int)) <= 1)
        assert np.all(tree.level[second[second >= 0]] == tree.level[second >= 0] + 1)


def test_hypercircle_identity_and_flux_continuity_on_a_non_uniform_tree(tmp_path):
    case, micro, props = polycrystal(tmp_path, gb=False)
    tree = root_tree(micro.conducting)
    rng = np.random.default_rng(1)
    for _ in range(3):
        tree = refine(tree, rng.random(tree.n_leaves) < 0.3)
    assert len(np.unique(tree.level)) == 4
    primal, p_sol, dual, d_sol = tree_solutions(case, micro, props, tree)
    energy, dissipation = primal.energy(p_sol), dual.dissipation(d_sol)
    eta = tree_indicator(case, micro, primal, p_sol, dual, d_sol, 1.0)
    v, i = d_sol.electrode_potential, d_sol.electrode_current
    assert eta.sum() == pytest.approx(energy - (2 * float(v @ i) - dissipation), rel=1e-9)
    flux = dual.leaf_fluxes(d_sol)
    throughput = abs(i[0])
    assert np.abs(flux.sum(axis=1)).max() <= 1e-12 * throughput
    # across a hanging side the fine leaves each carry half of the coarse leaf's flux
    for side in range(4):
        first, second = tree.neighbours(side)
        coarse = np.flatnonzero(second >= 0)
        opposite = side ^ 1
        assert SIDE_AXIS[side] == SIDE_AXIS[opposite]
        for fine in (first[coarse], second[coarse]):
            assert np.allclose(flux[fine, opposite], -0.5 * flux[coarse, side],
                               atol=1e-9 * throughput)


def test_adaptive_loop_meets_bound_tol_and_keeps_the_exact_value(tmp_path):
    labels = voronoi_labels(20, 8, seed=4)
    results = []
    for axis in (0, 1):
        data = in_plane_polycrystal(tmp_path, labels, 100.0, axis)
        data["solver"].update(refine=True, bound_tol=0.05)
        result = netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp_path))
        refinement = result.certificate.refinement
        assert refinement.stopped_by == "bound_tol" and refinement.gaps[0] > 0.05
        assert result.certificate.relative_gap <= 0.05
        assert all(a > b for a, b in zip(refinement.gaps, refinement.gaps[1:]))
        summary = result.summary()
        assert summary["bounds"]["certified"] and summary["bounds"]["refinement"]["steps"] >= 1
        # the run's own answer (the refined mixed solution) is the plain bracket's upper end
        # of R; the mesh's corrected flux lowers that end, so the answer lies above the
        # reconstructed bracket and the summary quotes its midpoint instead
        resistance = summary["bounds"]["resistance_ohm"]
        assert summary["bounds"]["lower_from"] == "rt0+curl"
        assert result.effective_resistance_ohm > resistance["upper"]
        assert not resistance["this_result_inside"]
        assert resistance["lower"] < resistance["estimate"] < resistance["upper"]
        # fields come back on the user's voxel grid
        assert result.fields.current_density.shape == labels.shape + (2,)
        assert result.fields.potential.shape == labels.shape
        results.append(result.certificate.conductance_S)
    exact = (100e-9) ** 2 * 2.0 * 2.0 / 100.0  # Keller: G_x G_y = t^2 sigma_ip sigma_op
    gx, gy = results
    assert gx.lower * gy.lower <= exact <= gx.upper * gy.upper


def test_cell_budget_stops_the_loop_with_a_recorded_warning(tmp_path, capsys):
    labels = voronoi_labels(20, 8, seed=4)
    data = in_plane_polycrystal(tmp_path, labels, 1000.0, 0)
    data["solver"].update(refine=True, bound_tol=0.01, refine_max_cells=900)
    result = netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp_path))
    refinement = result.certificate.refinement
    assert refinement.stopped_by == "refine_max_cells" and max(refinement.cells) <= 900
    # the last step is cut to fit the budget rather than dropped: the budget is used
    assert refinement.cells[-1] > 0.9 * 900
    assert all(a < b for a, b in zip(refinement.cells, refinement.cells[1:]))
    bounds = result.summary()["bounds"]
    assert not bounds["certified"] and bounds["relative_gap"] > 0.01
    from netsolve.run_report import bounds_lines

    lines = bounds_lines(bounds)
    assert any(line.startswith("  WARNING: not certified") and "refine_max_cells" in line
               for line in lines)
    # the voxels' gap quoted is the bracket's there (reconstructed), not the plain Q1 / RT0 one
    voxels = bounds["refinement"]["bracket_gap"][0]
    assert voxels < bounds["refinement"]["relative_gap"][0]
    assert f"(gap {voxels:.1%} on the voxels)" in "\n".join(lines)


def test_budget_below_the_voxel_count_is_refused(tmp_path):
    labels = voronoi_labels(20, 8, seed=4)
    data = in_plane_polycrystal(tmp_path, labels, 100.0, 0)
    data["solver"].update(refine=True, refine_max_cells=399)
    with pytest.raises(netsolve.errors.CaseError,
                       match=r"'solver.refine_max_cells' = 399 cannot hold the base grid of 400"):
        netsolve.case_from_dict(data, base_dir=tmp_path)


def test_doerfler_marks_the_fewest_leaves_holding_the_bulk():
    eta = np.array([1.0, 5.0, 2.0, 2.0])
    assert doerfler(eta, 0.5).tolist() == [False, True, False, False]
    assert doerfler(eta, 0.6).tolist() == [False, True, True, False] or \
        doerfler(eta, 0.6).tolist() == [False, True, False, True]


def test_solve_tree_indicator_sums_per_voxel(tmp_path):
    case, micro, props = polycrystal(tmp_path)
    tree = refine(root_tree(micro.conducting), np.arange(int(micro.conducting.sum())) % 3 == 0)
    out = solve_tree(case, micro, props, tree)
    assert np.nansum(out["certificate"].indicator_W) == pytest.approx(out["eta"].sum(),
                                                                      rel=1e-12)
    assert np.all(np.isnan(out["certificate"].indicator_W[~micro.conducting]))


def test_marking_takes_at_least_the_minimum_fraction():
    eta = np.array([100.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert doerfler(eta, 0.5).sum() == 1  # Doerfler alone: the one large indicator
    marked = doerfler(eta, 0.5, min_fraction=0.3)
    assert marked.sum() == 3 and marked[0]
    # the count is Doerfler's when that is larger than the minimum fraction
    assert mark_count(np.sort(eta)[::-1], len(eta), 0.995, 0.1) == 10


def _energy_of_guess(primal, guess, electrode_potential):
    reduced = np.empty(len(primal.reduced_unknown))
    free = primal.reduced_unknown >= 0
    reduced[free] = guess[primal.reduced_unknown[free]]
    reduced[~free] = electrode_potential[primal.reduced_electrode[~free]]
    u = primal.prolongation @ reduced
    return float(u @ (primal.copy_matrix @ u)), u


def test_q1_initial_guess_is_the_coarser_solution_on_the_finer_tree(tmp_path):
    # nested spaces: the coarser Q1 potential is a function of the finer space, with the same
    # energy (no GB resistors: no lumped interface terms that finer segments integrate better)
    case, micro, props = polycrystal(tmp_path, gb=False)
    tree = refine(root_tree(micro.conducting),
                  np.arange(int(micro.conducting.sum())) % 4 == 0)
    primal, p_sol, _, _ = tree_solutions(case, micro, props, tree)
    corner = primal.copy_potential(p_sol)[primal.leaf_copies]
    finer = refine(tree, np.random.default_rng(2).random(tree.n_leaves) < 0.4)
    material = tree_material(finer, micro, props)
    fine_primal = build_tree_q1(case, micro, finer, material, segments(finer))
    guess = fine_primal.initial_guess(tree, corner)
    energy, u = _energy_of_guess(fine_primal, guess, p_sol.electrode_potential)
    assert energy == pytest.approx(primal.energy(p_sol), rel=1e-12)
    # ... and it is the finer tree's solution's starting point: the solution has less energy
    fine_solution = solve_network(fine_primal, case.electrodes, case.solver)
    assert fine_primal.energy(fine_solution) <= energy * (1 + 1e-12)
    # at the corners the two trees share, the values are the coarser solution's
    shared = np.isin(finer.key, tree.key)
    old_of_key = dict(zip(tree.key.tolist(), range(tree.n_leaves)))
    old = np.array([old_of_key[k] for k in finer.key[shared]])
    assert np.allclose(u[fine_primal.leaf_copies[shared]], corner[old], rtol=0, atol=1e-14)


def test_mixed_initial_guess_is_exact_on_a_uniform_slab(tmp_path):
    # a uniform isotropic slab: Q1 is exact (linear potential), so is the mixed method, and the
    # Q1 trace on every segment is the mixed face potential
    data = base_case((8, 6))
    data["solver"] = {"method": "direct", "discretization": "mixed", "bounds": False}
    case = netsolve.case_from_dict(data, base_dir=tmp_path)
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    tree = refine(root_tree(micro.conducting), np.arange(48) % 5 == 0)
    primal, p_sol, dual, d_sol = tree_solutions(case, micro, props, tree)
    guess = dual.initial_guess(primal, p_sol)
    solved = d_sol.node_potential
    assert np.abs(guess - solved).max() <= 1e-12


def test_a_step_over_the_budget_is_cut_to_fit_it(tmp_path):
    case, micro, props = polycrystal(tmp_path)
    tree = root_tree(micro.conducting)
    eta = np.random.default_rng(4).random(tree.n_leaves)
    unlimited, _ = next_tree(tree, eta, 10**9)
    budget = (tree.n_leaves + unlimited.n_leaves) // 2
    capped, reason = next_tree(tree, eta, budget)
    assert reason is None and tree.n_leaves < capped.n_leaves <= budget
    _assert_balanced(capped)
    assert next_tree(capped, np.ones(capped.n_leaves), capped.n_leaves)[1] == "refine_max_cells"


def test_refinement_loop_keeps_both_bounds_monotone(tmp_path):
    # the loop's own marking and budget rule: the meshes are nested, so the upper bound never
    # rises and the lower bound never falls
    case, micro, props = polycrystal(tmp_path)
    tree = root_tree(micro.conducting)
    out = solve_tree(case, micro, props, tree, with_fields=False)
    uppers = [out["certificate"].power_W.upper]
    lowers = [out["certificate"].power_W.lower]
    for budget in (300, 600, 900):
        previous = tree
        tree, reason = next_tree(tree, out["eta"], budget)
        assert reason is None and tree.n_leaves <= budget
        out = solve_tree(case, micro, props, tree, with_fields=False,
                         guess=(previous, out["corner_potential"]))
        uppers.append(out["certificate"].power_W.upper)
        lowers.append(out["certificate"].power_W.lower)
    assert all(a >= b for a, b in zip(uppers, uppers[1:]))
    assert all(a <= b for a, b in zip(lowers, lowers[1:]))
    assert max(lowers) <= min(uppers)


def test_a_dominant_leaf_is_split_several_levels_in_one_step(tmp_path):
    case, micro, props = polycrystal(tmp_path)
    tree = root_tree(micro.conducting)
    eta = np.ones(tree.n_leaves)
    eta[10] = 1000.0  # over 8^2 times the smallest marked one: split max_depth = 3 levels
    finer, reason = next_tree(tree, eta, 10**9, max_depth=3)
    assert reason is None and finer.level.max() == 3
    _assert_balanced(finer)
    inside = (finer.root_voxel == tree.root_voxel[10])
    assert inside.sum() == 64 and np.all(finer.level[inside] == 3)
    # the other marked leaves (the minimum fraction, indicator 1 = the threshold): one level
    assert np.all(finer.level[~inside] <= 2)
    one, _ = next_tree(tree, eta, 10**9, max_depth=1)
    assert one.level.max() == 1 and one.n_leaves < finer.n_leaves

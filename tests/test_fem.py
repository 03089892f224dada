"""The finite-element (full-tensor) discretization: exact results, balances, the GB interface
elements, the operator contract shared with the two-point scheme, and `netsolve compare`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netsolve
from netsolve.cli import main
from netsolve.errors import CaseError
from netsolve.discretization.q1 import build_fem_operator, compute_fem_fields, reference_stiffness
from netsolve.microstructure import build_microstructure
from netsolve.properties import compute_properties
from netsolve.solve import solve_network
from conftest import H, base_case, with_labels

SIGMA = 2.0


def fem(data: dict) -> dict:
    data = dict(data)
    data["solver"] = {**data.get("solver", {}), "discretization": "fem"}
    return data


def rotated_slab(nx, ny, angle_deg, ratio) -> dict:
    """A single grain whose c-axis lies in the plane at angle_deg from x (S2 oblique)."""
    data = base_case((nx, ny), model="tensor", ratio_ip_op=ratio)
    a = np.radians(angle_deg)
    data["grains"] = [{"id": 1, "c_axis": [float(np.cos(a)), float(np.sin(a)), 0.0]}]
    return data


def fem_solve(data: dict, periodic_axes=()):
    case = netsolve.case_from_dict(data)
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    op = build_fem_operator(case, micro, props, periodic_axes=periodic_axes)
    solution = solve_network(op, case.electrodes, case.solver)
    return op, solution, props


def test_reference_stiffness_is_the_exact_q1_matrix():
    m = reference_stiffness(2)
    # Known Q1 Laplacian on the unit square, corners (0,0), (0,1), (1,0), (1,1).
    laplace = np.array([[4, -1, -1, -2], [-1, 4, -2, -1], [-1, -2, 4, -1], [-2, -1, -1, 4]]) / 6
    assert np.allclose(m[0, 0] + m[1, 1], laplace, atol=1e-15)
    assert np.allclose(m[0, 1], m[1, 0].T) and np.allclose(m.sum(axis=3), 0, atol=1e-15)
    assert np.allclose(reference_stiffness(3).sum(axis=(2, 3)), 0, atol=1e-15)


@pytest.mark.parametrize("angle, ratio", [(45.0, 1000.0), (30.0, 10.0), (0.0, 1000.0)])
def test_rotated_slab_with_periodic_walls_is_exact(angle, ratio):
    # Periodic in y: I = K_xx W V / L exactly (the linear potential is in the Q1 space).
    op, solution, props = fem_solve(rotated_slab(24, 8, angle, ratio), periodic_axes=(1,))
    k = props.grain_tensor[0]
    exact = k[0, 0] * (8 * H * H) / (24 * H)
    assert solution.electrode_current[0] == pytest.approx(exact, rel=1e-9)
    assert solution.electrode_current.sum() == pytest.approx(0, abs=1e-9 * exact)


def test_rotated_slab_with_insulating_walls_has_the_exact_bulk_conductivity():
    # Insulating y-walls: far from the electrodes K_eff = 1 / (K^-1)_xx. The end corrections
    # are the same for both lengths, so the difference of 1/I isolates the bulk exactly.
    def inverse_current(nx, discretization):
        data = rotated_slab(nx, 4, 30.0, 10.0)
        data["solver"]["discretization"] = discretization
        return 1.0 / netsolve.solve(netsolve.case_from_dict(data)).total_current_A

    k = netsolve.solve(netsolve.case_from_dict(rotated_slab(4, 4, 30.0, 10.0))).properties
    k = k.grain_tensor[0]
    exact = 1.0 / np.linalg.inv(k)[0, 0]
    area = 4 * H * H

    def slope_conductivity(d):
        return 40 * H / (area * (inverse_current(120, d) - inverse_current(80, d)))

    assert slope_conductivity("fem") == pytest.approx(exact, rel=1e-7)
    # The two-point stencil sees K_xx instead (here 2x too conductive).
    assert slope_conductivity("tpfa") == pytest.approx(k[0, 0], rel=1e-7)
    assert k[0, 0] / exact > 1.9


def test_insulating_slab_converges_under_refinement():
    # Same slab geometry at three resolutions: the differences shrink (observed order > 1).
    currents = []
    for n in (2, 4, 8):
        data = rotated_slab(6 * n, n, 30.0, 10.0)
        data["grid"]["voxel_size_nm"] = 10.0 * 4 / n
        currents.append(netsolve.solve(netsolve.case_from_dict(fem(data))).total_current_A)
    d1, d2 = currents[1] - currents[0], currents[2] - currents[1]
    assert abs(d2) < abs(d1) / 2


@pytest.mark.parametrize("asr, link", [(0.0, "half_voxel"), (3e-9, "half_voxel"),
                                       (0.0, "full_voxel")])
def test_bicrystal_series_resistance_with_gb_and_contacts(tmp_path, asr, link):
    # Grain 1 conducts sigma_ip along x, grain 2 sigma_op (c along x): exact series sum.
    labels = np.repeat([1, 2], [6, 6])[:, None].repeat(4, axis=1)
    grains = [{"id": 1, "c_axis": [0, 0, 1]}, {"id": 2, "c_axis": [1, 0, 0]}]
    data = with_labels(base_case((12, 4), model="tensor", ratio_ip_op=10.0, ratio_ip_gb=20.0,
                                 gb_thickness_nm=1.0, asr_ct_ohm_m2=asr, electrode_link=link),
                       labels, tmp_path, grains=grains)
    result = netsolve.solve(netsolve.case_from_dict(fem(data), base_dir=tmp_path))
    area = 4 * H * H
    extra = 0.0 if link == "half_voxel" else 0.5 * H
    r_gb = 1e-9 / (SIGMA / 20 * area)
    exact = (6 * H / (SIGMA * area) + 6 * H / (SIGMA / 10 * area) + r_gb
             + 2 * asr / area + extra / (SIGMA * area) + extra / (SIGMA / 10 * area))
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-9)
    assert result.summary()["discretization"] == "fem"
    fields = result.fields
    lower = np.ravel_multi_index((np.full(4, 5), np.arange(4)), (12, 4))
    assert np.array_equal(fields.gb_face_voxels, np.column_stack([lower, lower + 4]))
    assert fields.gb_face_current.sum() == pytest.approx(result.total_current_A, rel=1e-9)
    assert np.allclose(fields.gb_face_jump, result.total_current_A * r_gb, rtol=1e-9)
    # E and J are uniform per grain and J = S E.
    j = fields.current_density[..., 0]
    assert np.allclose(j, result.total_current_A / area, rtol=1e-9)
    assert np.allclose(fields.electric_field[6:, :, 0], j[6:] / (SIGMA / 10), rtol=1e-9)
    assert result.power_balance_rel < 1e-9


def polycrystal(shape=(30, 24), n_grains=10, **materials) -> dict:
    materials = {"ratio_ip_op": 1000.0, "ratio_ip_gb": 20.0, "gb_thickness_nm": 1.0, **materials}
    data = base_case(shape, model="tensor", **materials)
    data["microstructure"] = {"source": "voronoi", "n_grains": n_grains, "seed": 3,
                              "zro2_fraction": 0.05, "zro2_radius_nm": 20.0}
    data["electrodes"] = [{"name": "na", "region": "top", "potential_V": 1.0},
                          {"name": "au", "region": "right", "potential_V": 0.0}]
    return fem(data)


@pytest.mark.parametrize("materials", [{}, {"gb_thickness_nm": 0.0},
                                       {"asr_ct_ohm_m2": 1e-8}])
def test_kirchhoff_tellegen_and_node_balance_on_a_polycrystal(materials):
    op, solution, _ = fem_solve(polycrystal(**materials))
    result = netsolve.solve(netsolve.case_from_dict(polycrystal(**materials)))
    assert result.current_balance_rel < 1e-9
    assert result.power_balance_rel < 1e-9
    # The matrix is the operator contract: zero row sums apart from the electrode links.
    row = np.asarray(op.matrix.sum(axis=1)).ravel()
    links = np.bincount(op.electrode_link_node, op.electrode_link_conductance, op.n_nodes)
    assert np.allclose(row, links, atol=1e-9 * np.abs(op.matrix.diagonal()).max())


def test_three_dimensional_polycrystal_with_backbone_and_current_control(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(1, 7, size=(10, 8, 6))
    labels[rng.random(labels.shape) < 0.15] = -1  # backbone voxels, also at triple junctions
    grains = [{"id": g, "c_axis": rng.normal(size=3).tolist()} for g in range(1, 7)]
    data = with_labels(base_case((10, 8, 6), model="tensor", ratio_ip_op=100.0,
                                 ratio_ip_gb=20.0, gb_thickness_nm=1.0), labels, tmp_path,
                       phases={"backbone": -1}, grains=grains)
    data["electrodes"] = [{"name": "a", "region": "front", "current_A": 2e-9},
                          {"name": "b", "region": "back", "potential_V": 0.0}]
    result = netsolve.solve(netsolve.case_from_dict(fem(data), base_dir=tmp_path))
    assert result.solution.electrode_current[0] == pytest.approx(2e-9, rel=1e-9)
    assert result.current_balance_rel < 1e-9 and result.power_balance_rel < 1e-9
    assert result.network.n_gb_links > 0


def test_triple_junction_corners_carry_one_node_per_grain(tmp_path):
    labels = np.array([[1, 2, 2], [3, 3, 2], [3, 3, 3]], dtype=np.int32)
    grains = [{"id": g, "c_axis": [0, 0, 1]} for g in (1, 2, 3)]
    data = with_labels(base_case((3, 3), model="tensor", gb_thickness_nm=1.0), labels, tmp_path,
                       grains=grains)
    case = netsolve.case_from_dict(data, base_dir=tmp_path)
    micro = build_microstructure(case)
    op = build_fem_operator(case, micro, compute_properties(micro, case.materials))
    expected = 0  # count distinct grains around every corner, by brute force
    for i in range(4):
        for j in range(4):
            around = {int(labels[x, y]) for x in (i - 1, i) for y in (j - 1, j)
                      if 0 <= x < 3 and 0 <= y < 3}
            expected += len(around)
    assert len(op.copy_unknown) == expected
    # Each element's corners are distinct nodes; copies of one corner belong to one grain each.
    assert all(len(set(row)) == 4 for row in op.element_nodes.tolist())


def test_zero_gb_thickness_gives_continuous_nodes_and_no_jump(tmp_path):
    labels = np.repeat([1, 2], [5, 5])[:, None].repeat(3, axis=1)
    data = with_labels(base_case((10, 3), gb_thickness_nm=0.0), labels, tmp_path)
    result = netsolve.solve(netsolve.case_from_dict(fem(data), base_dir=tmp_path))
    assert len(result.network.copy_unknown) == 11 * 4
    assert result.effective_resistance_ohm == pytest.approx(10 * H / (SIGMA * 3 * H * H),
                                                            rel=1e-9)
    assert np.all(result.fields.gb_face_jump == 0)
    assert result.fields.gb_face_current.sum() == pytest.approx(result.total_current_A, rel=1e-9)


def test_grain_next_to_backbone_has_no_interface(tmp_path):
    # Grain | backbone | grain in series: only the backbone's resistance, no GB resistors.
    labels = np.repeat([1, -2, 2], [4, 2, 4])[:, None].repeat(3, axis=1)
    data = with_labels(base_case((10, 3), ratio_ip_backbone=4.0, gb_thickness_nm=5.0), labels,
                       tmp_path, phases={"backbone": -2})
    result = netsolve.solve(netsolve.case_from_dict(fem(data), base_dir=tmp_path))
    area = 3 * H * H
    exact = 8 * H / (SIGMA * area) + 2 * H / (SIGMA / 4 * area)
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-9)
    assert result.network.n_gb_links == 0


def test_floating_cluster_matches_the_two_point_report(tmp_path):
    labels = np.ones((20, 12), dtype=np.int32)
    labels[5:12, 3:10] = -1
    labels[6:11, 4:9] = 1
    data = with_labels(base_case((20, 12)), labels, tmp_path, phases={"zro2": -1})
    result = netsolve.solve(netsolve.case_from_dict(fem(data), base_dir=tmp_path))
    assert result.n_floating_voxels == 25
    assert np.isnan(result.fields.potential[6:11, 4:9]).all()
    assert np.isfinite(result.fields.potential[labels > 0]).sum() == (labels > 0).sum() - 25
    assert result.power_balance_rel < 1e-9


def test_box_electrode_is_dirichlet_on_its_contact_nodes():
    data = fem(base_case((11, 4)))
    data["electrodes"][0]["region"] = {"box": [[0, 1], [0, 4]]}
    result = netsolve.solve(netsolve.case_from_dict(data))
    assert result.effective_resistance_ohm == pytest.approx(10 * H / (SIGMA * 4 * H * H),
                                                            rel=1e-9)
    assert np.all(result.fields.potential[0] == 1.0)


def test_grid_aligned_tensors_converge_to_the_same_answer(tmp_path):
    # Aligned grains (c along x, y or z): both schemes are consistent, so their difference
    # shrinks when the same map is refined.
    rng = np.random.default_rng(5)
    coarse = rng.integers(1, 4, size=(6, 5))
    grains = [{"id": 1, "c_axis": [1, 0, 0]}, {"id": 2, "c_axis": [0, 1, 0]},
              {"id": 3, "c_axis": [0, 0, 1]}]
    gaps = []
    for k in (2, 4):
        labels = np.kron(coarse, np.ones((k, k), dtype=int))
        data = with_labels(base_case(labels.shape, model="tensor", ratio_ip_op=10.0,
                                     gb_thickness_nm=0.0), labels, tmp_path, grains=grains)
        data["grid"]["voxel_size_nm"] = 40.0 / k
        case = netsolve.case_from_dict(data, base_dir=tmp_path)
        currents = [netsolve.solve(case, discretization=d).total_current_A
                    for d in ("tpfa", "fem")]
        gaps.append(abs(currents[1] - currents[0]) / currents[0])
    assert gaps[1] < 0.7 * gaps[0]


@given(st.integers(0, 10_000))
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_voigt_reuss_bounds_on_random_polycrystals(seed):
    # Wiener bounds of an anisotropic polycrystal between insulating walls (no GB resistance):
    # A/L / <(K^-1)_xx> <= G <= <K_xx> A/L; the FEM upper bound is exact (linear trial field).
    data = base_case((16, 12), model="tensor", ratio_ip_op=100.0, gb_thickness_nm=0.0)
    data["microstructure"] = {"source": "voronoi", "n_grains": 6, "seed": seed}
    result = netsolve.solve(netsolve.case_from_dict(fem(data)))
    props, micro = result.properties, result.microstructure
    per_voxel = props.grain_tensor[micro.grain_index.ravel()]
    geometry = 12 * H * H / (16 * H)
    upper = per_voxel[:, 0, 0].mean() * geometry
    lower = geometry / np.linalg.inv(per_voxel)[:, 0, 0].mean()
    conductance = 1 / result.effective_resistance_ohm
    assert lower * (1 - 1e-9) <= conductance <= upper * (1 + 1e-9)


def test_fields_of_the_fem_solution_are_on_the_voxel_grid():
    op, solution, props = fem_solve(polycrystal())
    fields = compute_fem_fields(op, solution)
    assert fields.current_density.shape == (30, 24, 2)
    j = fields.current_density.reshape(-1, 2)[op.element_voxel]
    e = fields.electric_field.reshape(-1, 2)[op.element_voxel]
    tensors = op.tensor_table[op.element_tensor_index]
    assert np.allclose(j, np.einsum("eab,eb->ea", tensors, e), equal_nan=True)
    assert np.isfinite(j).sum() > 0.9 * j.size
    order = np.lexsort((fields.gb_face_voxels[:, 0], fields.gb_face_axis))
    assert np.array_equal(order, np.arange(len(order)))


def test_discretization_key_is_checked():
    data = base_case()
    data["solver"]["discretization"] = "mpfa"
    with pytest.raises(CaseError, match="solver.discretization.*'tpfa', 'fem'"):
        netsolve.case_from_dict(data)


def write_case(tmp_path, shape, microstructure: str, faces=("left", "right"), tail="") -> str:
    """A case file with two electrodes (1 V, 0 V) on the given grid faces."""
    electrodes = "".join(
        f'[[electrodes]]\nname = "{name}"\nregion = "{face}"\npotential_V = {v}\n'
        for name, face, v in zip(("a", "b"), faces, (1.0, 0.0)))
    text = (f"[grid]\nshape = {list(shape)}\nvoxel_size_nm = 10.0\n[microstructure]\n"
            f"{microstructure}\n{electrodes}{tail}")
    path = tmp_path / "case.toml"
    path.write_text(text)
    return str(path)


def test_compare_command_writes_tables(tmp_path, capsys):
    case = write_case(tmp_path, (24, 18), 'source = "voronoi"\nn_grains = 6\nseed = 2',
                      ("top", "right"), '[solver]\nmethod = "direct"\n')
    assert main(["compare", str(case), "--discretizations", "tpfa,fem", "-o",
                 str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "Spearman" in out and "G1/" in out
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    assert -1 <= summary["spearman"]["fem"]["gb_abs_current"] <= 1
    tpfa = netsolve.solve(case, discretization="tpfa")
    assert summary["total_current_A"]["tpfa"] == pytest.approx(tpfa.total_current_A, rel=1e-12)
    rows = (tmp_path / "cmp" / "gb_comparison.csv").read_text().splitlines()
    assert len(rows) - 1 == tpfa.graph.number_of_edges()
    assert main(["compare", str(tmp_path / "missing.toml")]) == 2


def test_one_voxel_slab_couples_the_electrodes_directly():
    # Every node is a Dirichlet node: the current flows through the electrode coupling.
    result = netsolve.solve(netsolve.case_from_dict(fem(base_case((1, 3)))))
    assert result.network.n_nodes == 0
    assert result.effective_resistance_ohm == pytest.approx(H / (SIGMA * 3 * H * H), rel=1e-9)
    assert result.power_balance_rel < 1e-9


def test_amg_on_the_fem_matrix_agrees_with_the_direct_solver():
    data = polycrystal()
    direct = netsolve.solve(netsolve.case_from_dict(data))
    data["solver"].update(method="amg", rtol=1e-12)
    amg = netsolve.solve(netsolve.case_from_dict(data))
    assert amg.solution.stats.method == "amg" and amg.solution.stats.iterations > 0
    assert amg.total_current_A == pytest.approx(direct.total_current_A, rel=1e-8)
    assert np.nanmax(np.abs(amg.fields.potential - direct.fields.potential)) < 1e-8


def test_run_and_check_commands_with_fem(tmp_path, capsys):
    labels = np.ones((20, 12), dtype=np.int32)
    labels[5:12, 3:10] = -1
    labels[6:11, 4:9] = 1  # a sealed, floating pocket
    np.save(tmp_path / "labels.npy", labels)
    case = write_case(tmp_path, (20, 12), 'source = "labels"\npath = "labels.npy"\n'
                      'phases = { zro2 = -1 }\n[materials]\nconductivity_model = "isotropic"',
                      tail='[solver]\ndiscretization = "fem"\n[output]\nfigures = false\n')
    assert main(["check", str(case)]) == 0
    out = capsys.readouterr().out
    assert "discretization fem" in out and "25 floating voxels" in out
    assert main(["run", str(case), "-q", "-o", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["discretization"] == "fem" and summary["n_floating_voxels"] == 25
    with np.load(tmp_path / "out" / "fields.npz", allow_pickle=False) as npz:
        assert npz["floating"].sum() == 25 and npz["floating"][6:11, 4:9].all()


@pytest.mark.parametrize("gb_thickness_nm", [0.0, 1.0])
def test_point_contacts_carry_no_current(tmp_path, gb_thickness_nm):
    # Two blocks of one grain that touch only at a corner (2D) or along an edge (3D), with
    # ZrO2 around: no conducting path under either discretization (a point/line contact has
    # zero area), instead of current through a shared finite-element node.
    for shape, block in (((8, 6), lambda a: (a[:4, :3], a[4:, 3:])),
                         ((8, 6, 4), lambda a: (a[:4, :3, :], a[4:, 3:, :]))):
        labels = np.full(shape, -1, dtype=np.int32)
        left, right = block(labels)
        left[...] = 1
        right[...] = 1
        data = with_labels(base_case(shape, model="tensor", ratio_ip_op=10.0,
                                     gb_thickness_nm=gb_thickness_nm), labels, tmp_path,
                           phases={"zro2": -1}, grains=[{"id": 1, "c_axis": [0.3, 0.2, 1.0]}])
        for discretization in ("tpfa", "fem"):
            data["solver"] = {"method": "direct", "discretization": discretization}
            with pytest.raises(netsolve.errors.NoConductingPathError,
                               match="no conducting path connects electrode 'source'"):
                netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp_path))


def test_diagonal_voxels_of_one_grain_joined_through_a_third_share_the_corner_node(tmp_path):
    # 2x2 voxels, grain 1 in an L around the centre corner, grain 2 in the fourth voxel: the
    # two diagonal grain-1 voxels are joined through the third, so all three share the centre
    # node; grain 2 has its own copy there (GB interface).
    labels = np.array([[1, 1], [1, 2]], dtype=np.int32)
    grains = [{"id": 1, "c_axis": [1.0, 0.0, 0.3]}, {"id": 2, "c_axis": [0.0, 1.0, 0.2]}]
    data = with_labels(base_case((2, 2), model="tensor", ratio_ip_op=100.0, ratio_ip_gb=5.0,
                                 gb_thickness_nm=1.0), labels, tmp_path, grains=grains)
    data["solver"] = {"method": "direct", "discretization": "fem"}
    op = netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp_path)).network
    offsets = [tuple(o) for o in np.array(list(np.ndindex(2, 2)))]
    centre = {}
    for e, voxel in enumerate(op.element_voxel):
        x, y = np.unravel_index(voxel, (2, 2))
        centre[(x, y)] = op.element_nodes[e, offsets.index((1 - x, 1 - y))]
    assert centre[(0, 0)] == centre[(0, 1)] == centre[(1, 0)] != centre[(1, 1)]

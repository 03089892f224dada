"""The mixed (hybridized RT0) discretization and the certified bounds: exact answers, local
conservation, brackets that contain exact values, the hypercircle identity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

import netsolve
from netsolve.certify import certified_solve
from netsolve.discretization.mixed import element_matrices, reference_mass_factors
from netsolve.microstructure import build_microstructure
from netsolve.properties import compute_properties

from conftest import H, base_case, with_labels

SIGMA = 2.0


def solve(data, tmp_path):
    return netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp_path))


def certified(data, tmp_path):
    case = netsolve.case_from_dict(data, base_dir=tmp_path)
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    return certified_solve(case, micro, props)


@pytest.mark.parametrize("shape", [(12, 6), (6, 5, 4)])
def test_homogeneous_slab_is_exact(tmp_path, shape):
    data = base_case(shape)
    data["solver"] = {"method": "direct", "discretization": "mixed"}
    result = solve(data, tmp_path)
    grid = result.case.grid
    area = np.prod(shape[1:]) * H * (H if len(shape) == 3 else grid.thickness_m)
    assert result.effective_resistance_ohm == pytest.approx(shape[0] * H / (SIGMA * area),
                                                            rel=1e-12)
    j = result.fields.current_density[..., 0]
    assert np.allclose(j, result.total_current_A / area, rtol=1e-10)
    # the potential of every voxel is the exact linear potential at its centre
    x = (np.arange(shape[0]) + 0.5) / shape[0]
    expected = np.broadcast_to((1 - x).reshape((-1,) + (1,) * (len(shape) - 1)), shape)
    assert np.allclose(result.fields.potential, expected, atol=1e-12)
    bounds = result.summary()["bounds"]  # mixed runs certify by default: the bracket collapses
    assert bounds["relative_gap"] < 1e-10 and bounds["certified"]


def test_series_grains_with_gb_resistors_are_exact(tmp_path):
    # Three grains in series, c-axes along z (sigma_ip along x) and along x (sigma_op):
    # R = sum L_k / (s_k A) + 2 R_GB exactly, with the jump = I R_GB at each GB face.
    labels = np.ones((18, 5), dtype=np.int32)
    labels[6:12] = 2
    labels[12:] = 3
    grains = [{"id": 1, "c_axis": [0, 0, 1]}, {"id": 2, "c_axis": [1, 0, 0]},
              {"id": 3, "c_axis": [0, 0, 1]}]
    data = with_labels(base_case((18, 5), model="tensor", ratio_ip_op=10.0, ratio_ip_gb=20.0,
                                 gb_thickness_nm=1.0), labels, tmp_path, grains=grains)
    data["solver"] = {"method": "direct", "discretization": "mixed"}
    result = solve(data, tmp_path)
    area = 5 * H * result.case.grid.thickness_m
    r_gb = 1e-9 / (SIGMA / 20 * area)
    exact = 12 * H / (SIGMA * area) + 6 * H / (SIGMA / 10 * area) + 2 * r_gb
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-12)
    fields = result.fields
    assert np.allclose(fields.gb_face_jump, result.total_current_A * r_gb, rtol=1e-10)
    assert np.allclose(fields.gb_face_current, result.total_current_A / 5, rtol=1e-10)
    assert result.summary()["bounds"]["relative_gap"] < 1e-10


def voronoi_labels(n: int, n_grains: int, seed: int) -> np.ndarray:
    """A 2D Voronoi map of n x n voxels."""
    rng = np.random.default_rng(seed)
    centres = rng.random((n_grains, 2)) * n
    x = np.arange(n) + 0.5
    grid = np.stack(np.meshgrid(x, x, indexing="ij"), axis=-1).reshape(-1, 2)
    return (cKDTree(centres).query(grid)[1] + 1).reshape(n, n).astype(np.int32)


def in_plane_polycrystal(tmp_path, labels, ratio, axis, seed=1, **extra):
    """Grains with random in-plane c-axes, t_GB = 0, electrodes on the faces normal to axis."""
    n_grains = int(labels.max())
    angles = np.random.default_rng(seed).random(n_grains) * np.pi
    grains = [{"id": g + 1, "c_axis": [float(np.cos(a)), float(np.sin(a)), 0.0]}
              for g, a in enumerate(angles)]
    data = with_labels(base_case(labels.shape, model="tensor", ratio_ip_op=ratio,
                                 gb_thickness_nm=0.0, **extra), labels, tmp_path, grains=grains)
    data["grid"]["voxel_size_nm"] = 10.0 * labels.shape[0] / 24  # a fixed physical square
    data["grid"]["thickness_nm"] = 100.0
    if axis == 1:
        data["electrodes"][0]["region"], data["electrodes"][1]["region"] = "bottom", "top"
    data["solver"] = {"method": "direct", "discretization": "mixed", "refine": False}
    return data


@pytest.mark.parametrize("ratio", [10.0, 100.0, 1000.0])
def test_keller_duality_value_lies_inside_every_bracket(tmp_path, ratio):
    # Keller/Mendelson: for uniaxial in-plane grains on a square with electrodes on opposite
    # faces and insulating walls, G_x G_y = (t sigma_ip)(t sigma_op) exactly, for every map and
    # every voxelization. The product of the brackets must contain it (a bracket that misses it
    # is a bug, not a tolerance), and so must each bracket combined with the other's.
    labels = voronoi_labels(24, 12, seed=4)
    brackets = []
    for axis in (0, 1):
        *_, certificate = certified(in_plane_polycrystal(tmp_path, labels, ratio, axis),
                                    tmp_path)
        brackets.append(certificate.conductance_S)
    thickness = 100e-9
    exact_product = thickness**2 * SIGMA * SIGMA / ratio
    gx, gy = brackets
    assert gx.lower * gy.lower <= exact_product <= gx.upper * gy.upper
    assert gx.lower <= exact_product / gy.lower and exact_product / gy.upper <= gx.upper
    assert gx.relative_gap > 0  # oblique grains: both discretizations are inexact here


def test_finer_voxelization_of_the_same_map_narrows_a_bracket_that_overlaps(tmp_path):
    # The same geometry at two resolutions has one exact answer: the brackets must overlap,
    # and the finer one is narrower. Random orientations (out of plane too), a GB resistor
    # and a contact resistance.
    coarse = voronoi_labels(12, 6, seed=2)
    fine = np.kron(coarse, np.ones((2, 2), dtype=coarse.dtype))  # each voxel as 2 x 2
    rng = np.random.default_rng(3)
    grains = [{"id": g, "c_axis": rng.normal(size=3).tolist()} for g in range(1, 7)]
    results = []
    for labels in (coarse, fine):
        data = with_labels(base_case(labels.shape, model="tensor", ratio_ip_op=100.0,
                                     ratio_ip_gb=20.0, gb_thickness_nm=1.0,
                                     asr_ct_ohm_m2=1e-9), labels, tmp_path, grains=grains)
        data["grid"]["voxel_size_nm"] = 10.0 * 12 / labels.shape[0]
        data["grid"]["thickness_nm"] = 100.0
        data["solver"] = {"method": "direct", "discretization": "mixed", "refine": False}
        results.append(certified(data, tmp_path)[3].resistance_ohm)
    (lo_c, up_c), (lo_f, up_f) = [(b.lower, b.upper) for b in results]
    assert max(lo_c, lo_f) <= min(up_c, up_f)
    assert results[1].relative_gap < results[0].relative_gap


def test_hypercircle_identity_without_interface_terms(tmp_path):
    # t_GB = 0, Dirichlet contacts: the indicator sums to exactly E(u_h) - (2 V.I - W).
    labels = voronoi_labels(16, 6, seed=5)
    data = in_plane_polycrystal(tmp_path, labels, 100.0, axis=0)
    _, solution, _, certificate = certified(data, tmp_path)
    v, i = solution.electrode_potential, solution.electrode_current
    dual = 2 * float(v @ i) - certificate.dual_power_W
    assert certificate.indicator_total_W == pytest.approx(certificate.primal_power_W - dual,
                                                          rel=1e-9)
    assert np.all(certificate.indicator_W[np.isfinite(certificate.indicator_W)] >= 0)


def test_indicator_with_lumped_interfaces_never_exceeds_the_gap(tmp_path):
    labels = voronoi_labels(16, 6, seed=5)
    data = in_plane_polycrystal(tmp_path, labels, 100.0, axis=0)
    data["materials"].update(gb_thickness_nm=1.0, ratio_ip_gb=20.0, asr_ct_ohm_m2=1e-9)
    _, solution, _, certificate = certified(data, tmp_path)
    v, i = solution.electrode_potential, solution.electrode_current
    gap = certificate.primal_power_W - (2 * float(v @ i) - certificate.dual_power_W)
    assert 0 < certificate.indicator_total_W <= gap * (1 + 1e-9)


@pytest.mark.parametrize("ndim", [2, 3])
def test_fluxes_are_conserved_per_voxel_and_per_grain(tmp_path, ndim):
    shape = (14, 12) if ndim == 2 else (8, 7, 6)
    rng = np.random.default_rng(7)
    labels = rng.integers(1, 6, size=shape).astype(np.int32)
    labels[rng.random(shape) < 0.1] = -1  # ZrO2
    grains = [{"id": g, "c_axis": rng.normal(size=3).tolist()} for g in range(1, 6)]
    data = with_labels(base_case(shape, model="tensor", ratio_ip_op=1000.0, ratio_ip_gb=20.0,
                                 gb_thickness_nm=1.0), labels, tmp_path,
                       phases={"zro2": -1}, grains=grains)
    data["solver"] = {"method": "direct", "discretization": "mixed", "rtol": 1e-12,
                      "bounds": False}
    result = solve(data, tmp_path)
    op, solution = result.network, result.solution
    flux = op.cell_fluxes(solution)
    ok = np.isfinite(flux).all(axis=1)
    throughput = result.total_current_A
    # per voxel: exact by construction
    assert np.abs(flux[ok].sum(axis=1)).max() <= 1e-12 * throughput
    # per face: the two sides' fluxes cancel, insulating faces carry nothing (to the residual)
    dof_flux = np.zeros(len(op.dof_unknown))
    np.add.at(dof_flux, op.cell_dofs[ok], flux[ok])
    gb = op.gb_face_dofs
    resistive = gb[:, 0] != gb[:, 1]
    pair_sum = dof_flux[gb[resistive, 0]] + dof_flux[gb[resistive, 1]]
    free = op.dof_unknown >= 0
    free[gb[resistive].ravel()] = False  # GB dofs: their pair sums above
    free[op.robin_dof] = False
    assert np.abs(dof_flux[free]).max() <= 1e-9 * throughput
    assert np.abs(pair_sum).max() <= 1e-9 * throughput
    # per grain: the current leaving through its GB faces equals what the electrodes feed in
    labels = result.microstructure.labels.ravel()
    fields = result.fields
    lower, upper = labels[fields.gb_face_voxels[:, 0]], labels[fields.gb_face_voxels[:, 1]]
    cell_label = labels[op.cell_voxel]
    dirichlet = op.dof_electrode >= 0
    fed = np.zeros(6)
    for local in range(2 * ndim):  # inflow through Dirichlet contact faces, per grain
        on_contact = dirichlet[op.cell_dofs[:, local]] & ok
        np.add.at(fed, cell_label[on_contact], -flux[on_contact, local])
    for grain in range(1, 6):
        leaving = (fields.gb_face_current[lower == grain].sum()
                   - fields.gb_face_current[upper == grain].sum())
        assert leaving == pytest.approx(fed[grain], abs=1e-9 * throughput)
    assert result.current_balance_rel < 1e-10


def test_reference_mass_matrix_is_the_exact_integral():
    # m[i, j] = int phi_i . e_a e_b^T phi_j over the unit square, by 20-point Gauss per axis.
    points, weights = np.polynomial.legendre.leggauss(20)
    points, weights = 0.5 * (points + 1), 0.5 * weights
    x, y = np.meshgrid(points, points, indexing="ij")
    w = np.outer(weights, weights)
    profiles = [-(1 - x), x, -(1 - y), y]  # outward unit flux through x-, x+, y-, y+
    axes = [0, 0, 1, 1]
    m = reference_mass_factors(2)
    for i in range(4):
        for j in range(4):
            integral = float(np.sum(w * profiles[i] * profiles[j]))
            assert m[i, j] == pytest.approx(integral, abs=1e-14), (i, j, axes[i], axes[j])


def test_element_matrix_reproduces_constant_fields():
    # A_K maps the face potentials of a linear potential to the exact outward fluxes of its
    # constant current, for a full (oblique, anisotropic) tensor; its rows sum to zero.
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 3))
    tensor = a @ a.T + 0.1 * np.eye(3)
    h, area = 1e-8, 1e-16
    _, local, weights = element_matrices(tensor[None], h, area)
    grad = rng.normal(size=3)
    centres = np.array([[0, .5, .5], [1, .5, .5], [.5, 0, .5], [.5, 1, .5], [.5, .5, 0],
                        [.5, .5, 1]]) * h
    lam = centres @ grad
    outward = np.array([-1, 1, -1, 1, -1, 1]) * np.repeat(-(tensor @ grad), 2) * area
    assert np.allclose(-local[0] @ lam, outward, rtol=1e-10, atol=1e-14 * np.abs(outward).max())
    assert np.allclose(local[0].sum(axis=1), 0, atol=1e-12 * np.abs(local).max())
    assert weights[0] @ lam == pytest.approx(grad @ np.full(3, 0.5 * h), rel=1e-12)


@pytest.mark.parametrize("value", [0.0, -0.1, 1.0, 2.0])
def test_bound_tol_outside_0_1_is_refused(tmp_path, value):
    data = base_case((6, 4))
    data["solver"] = {"discretization": "mixed", "bound_tol": value}
    with pytest.raises(netsolve.errors.CaseError, match="solver.bound_tol"):
        netsolve.case_from_dict(data, base_dir=tmp_path)


def test_three_dimensional_bounds_hypercircle_and_overlap_under_refinement(tmp_path):
    # 3D: no refinement, but the bracket, the indicator identity (t_GB = 0) and the overlap
    # of the brackets of one geometry at two resolutions.
    rng = np.random.default_rng(11)
    coarse = rng.integers(1, 5, size=(5, 4, 4)).astype(np.int32)
    grains = [{"id": g, "c_axis": rng.normal(size=3).tolist()} for g in range(1, 5)]
    brackets = []
    for factor in (1, 2):
        labels = np.kron(coarse, np.ones((factor,) * 3, dtype=np.int32))
        data = with_labels(base_case(labels.shape, model="tensor", ratio_ip_op=100.0,
                                     gb_thickness_nm=0.0), labels, tmp_path, grains=grains)
        data["grid"]["voxel_size_nm"] = 10.0 / factor
        data["solver"] = {"method": "direct", "discretization": "mixed"}
        result = solve(data, tmp_path)
        certificate = result.certificate
        assert certificate.refinement is None  # 3D: bounds and indicator only
        v, i = result.solution.electrode_potential, result.solution.electrode_current
        dual = 2 * float(v @ i) - certificate.dual_power_W
        assert certificate.indicator_total_W == pytest.approx(
            certificate.primal_power_W - dual, rel=1e-9)
        brackets.append(certificate.resistance_ohm)
    (lo_c, up_c), (lo_f, up_f) = [(b.lower, b.upper) for b in brackets]
    assert max(lo_c, lo_f) <= min(up_c, up_f)
    assert brackets[1].relative_gap < brackets[0].relative_gap


def test_electrodes_at_two_potentials_are_bracketed_like_two_electrodes(tmp_path):
    # The last column as one 0 V electrode, or as two 0 V electrodes: the same problem, the
    # same brackets (three electrodes at two potentials act as two).
    labels = voronoi_labels(12, 5, seed=8)
    data = in_plane_polycrystal(tmp_path, labels, 100.0, axis=0)
    data["electrodes"][1] = {"name": "sink", "region": {"box": [[11, 12], [0, 12]]},
                             "potential_V": 0.0}
    one = certified(data, tmp_path)[3]
    data["electrodes"][1:] = [
        {"name": "low", "region": {"box": [[11, 12], [0, 6]]}, "potential_V": 0.0},
        {"name": "high", "region": {"box": [[11, 12], [6, 12]]}, "potential_V": 0.0}]
    split = certified(data, tmp_path)[3]
    for a, b in ((one.conductance_S, split.conductance_S),
                 (one.resistance_ohm, split.resistance_ohm)):
        assert a.reason is None and b.reason is None
        assert (b.lower, b.upper) == pytest.approx((a.lower, a.upper), rel=1e-9)


def test_electrodes_touching_at_a_corner_at_different_potentials_have_no_bracket(tmp_path):
    labels = voronoi_labels(12, 5, seed=8)
    data = in_plane_polycrystal(tmp_path, labels, 100.0, axis=0)
    data["electrodes"][1]["region"] = "bottom"  # meets 'left' at the grid corner
    certificate = certified(data, tmp_path)[3]
    for bracket in (certificate.power_W, certificate.conductance_S, certificate.resistance_ohm):
        assert "touch at a voxel corner at different potentials" in bracket.reason
    assert np.isnan(certificate.relative_gap)


@pytest.mark.case_default
@pytest.mark.parametrize("model, expected", [("tensor", "mixed"), ("isotropic", "mixed"),
                                             ("ding2023", "tpfa")])
def test_case_file_default_discretization_follows_the_model(tmp_path, model, expected):
    data = base_case((8, 6), model=model)
    data["solver"] = {"method": "direct"}
    if model != "isotropic":
        data["grains"] = [{"id": 1, "c_axis": [1.0, 0.0, 0.0]}]
        data["microstructure"] = {"source": "uniform"}
    case = netsolve.case_from_dict(data, base_dir=tmp_path)
    assert case.solver.discretization == expected
    assert case.solver.bounds == (expected == "mixed") and case.solver.refine

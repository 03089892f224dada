"""The reconstructed bounds of a certified 2D solve (netsolve.certify.reconstruct: a Q2
potential from the Q1 solution; netsolve.certify.equilibrate: the RT0 flux plus the curl of a
Q2 stream function): exact values stay inside, the brackets narrow, the starting points
reproduce the plain bounds' energies."""

from __future__ import annotations

import numpy as np
import pytest

import netsolve
from netsolve.certify.equilibrate import stream_form
from netsolve.certify.reconstruct import embed_q1, potential_form
from netsolve.discretization import build_operator
from netsolve.microstructure import build_microstructure
from netsolve.properties import compute_properties
from netsolve.solve import solve_network

from conftest import base_case, with_labels
from test_mixed import SIGMA, certified, in_plane_polycrystal, voronoi_labels


def operators(data, tmp_path):
    case = netsolve.case_from_dict(data, base_dir=tmp_path)
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    out = []
    for kind in ("fem", "mixed"):
        op = build_operator(case, micro, props, kind)
        solution = solve_network(op, case.electrodes, case.solver)
        out.append((op, solution, op.fields(solution).joule_power_W))
    return case, out


@pytest.mark.parametrize("resistors", [False, True])
def test_starting_points_carry_the_plain_bounds_energies(tmp_path, resistors):
    # The Q1 solution embedded in Q2 has the Q1 energy (its GB and contact terms integrated
    # exactly: at most the lumped ones); the stream-function form at psi = 0 is the mixed
    # flux's dissipation, GB resistors and contact resistances included.
    labels = voronoi_labels(14, 6, seed=3)
    extra = {"gb_thickness_nm": 1.0, "ratio_ip_gb": 50.0} if resistors else {}
    data = in_plane_polycrystal(tmp_path, labels, 100.0, 0)
    data["materials"].update(extra)
    if resistors:
        data["electrodes"][0]["asr_ohm_m2"] = 1e-12
    case, ((q, q_sol, q_power), (m, m_sol, m_power)) = operators(data, tmp_path)
    potentials = q_sol.electrode_potential
    form, electrode = potential_form(q, m, potentials)
    energy = form.value(embed_q1(form, q, q_sol, electrode, potentials))
    if resistors:
        assert len(m.robin_dof) and np.isfinite(m.gb_face_conductance).any()
        assert energy < q_power
    else:
        assert energy == pytest.approx(q_power, rel=1e-12)
    psi_form = stream_form(m, m_sol, case.grid.thickness_m)
    assert psi_form.value(np.zeros(psi_form.n_dofs)) == pytest.approx(m_power, rel=1e-12)


@pytest.mark.parametrize("ratio", [100.0, 1000.0])
def test_reconstructed_keller_brackets_contain_the_exact_value_and_narrow(tmp_path, ratio):
    # G_x G_y = (t sigma_ip)(t sigma_op) exactly for every map of in-plane grains: the
    # reconstructed brackets must contain it (a miss is a bug), and be narrower than Q1 / RT0.
    labels = voronoi_labels(32, 8, seed=5)
    exact_product = (100e-9) ** 2 * SIGMA * SIGMA / ratio
    for controlled in (False, True):
        brackets = []
        for axis in (0, 1):
            data = in_plane_polycrystal(tmp_path, labels, ratio, axis)
            if controlled:  # a current drives electrode 0: I^2 / W and E / dV(v)^2
                del data["electrodes"][0]["potential_V"]
                data["electrodes"][0]["current_A"] = 1e-9
            certificate = certified(data, tmp_path)[3]
            assert certificate.upper_from == "q2" and certificate.lower_from == "rt0+curl"
            assert certificate.relative_gap < 0.75 * certificate.plain_gap
            brackets.append(certificate.conductance_S)
        gx, gy = brackets
        assert gx.lower * gy.lower <= exact_product <= gx.upper * gy.upper
        assert gx.lower <= exact_product / gy.lower and exact_product / gy.upper <= gx.upper


def test_bicrystal_with_gb_resistor_stays_exact(tmp_path):
    # Aligned grains in series with a GB resistor: the exact potential is piecewise linear,
    # so Q1 already has it; the reconstruction must not move either bound off it.
    labels = np.ones((30, 8), dtype=np.int32)
    labels[15:] = 2
    data = with_labels(base_case((30, 8), model="tensor", ratio_ip_op=1000.0,
                                 ratio_ip_gb=20.0, gb_thickness_nm=1.0), labels, tmp_path,
                       grains=[{"id": 1, "c_axis": [0, 0, 1]}, {"id": 2, "c_axis": [0, 1, 0]}])
    data["grid"].update(voxel_size_nm=10.0, thickness_nm=100.0)
    data["solver"] = {"method": "direct", "discretization": "mixed"}
    resistance = certified(data, tmp_path)[3].resistance_ohm
    area = 8 * 10e-9 * 100e-9
    exact = 300e-9 / (SIGMA * area) + 1e-9 / (SIGMA / 20 * area)
    assert resistance.lower * (1 - 1e-10) <= exact <= resistance.upper * (1 + 1e-10)
    assert resistance.relative_gap < 1e-9


def test_rotated_slab_brackets_overlap_across_voxelizations(tmp_path):
    # One homogeneous oblique slab at two resolutions has one exact conductance: the
    # reconstructed bracket of the coarse grid must overlap the plain one of a 4x finer grid
    # (a bound on the wrong side would separate them), and be narrower than its own plain one.
    out = []
    for factor in (1, 4):
        shape = (10 * factor, 5 * factor)
        data = with_labels(base_case(shape, model="tensor", ratio_ip_op=100.0,
                                     gb_thickness_nm=0.0), np.ones(shape, dtype=np.int32),
                           tmp_path, grains=[{"id": 1, "c_axis": [1.0, 0.7, 0.0]}])
        data["grid"].update(voxel_size_nm=10.0 / factor, thickness_nm=100.0)
        data["solver"] = {"method": "direct", "discretization": "mixed", "refine": False}
        out.append(certified(data, tmp_path)[3])
    coarse, fine = out[0], out[1]
    assert coarse.relative_gap < coarse.plain_gap
    assert coarse.conductance_S.lower <= fine.conductance_S.upper
    assert fine.conductance_S.lower <= coarse.conductance_S.upper


def test_three_dimensional_maps_keep_the_plain_bounds(tmp_path):
    data = base_case((6, 5, 4))
    data["solver"] = {"method": "direct", "discretization": "mixed"}
    certificate = certified(data, tmp_path)[3]
    assert (certificate.upper_from, certificate.lower_from) == ("q1", "rt0")
    assert certificate.relative_gap == pytest.approx(certificate.plain_gap, abs=1e-12)


def test_summary_says_which_potential_and_flux_gave_the_bounds(tmp_path):
    labels = voronoi_labels(16, 5, seed=2)
    data = in_plane_polycrystal(tmp_path, labels, 1000.0, 0)
    result = netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp_path))
    bounds = result.summary()["bounds"]
    assert (bounds["upper_from"], bounds["lower_from"]) == ("q2", "rt0+curl")
    assert bounds["plain_gap"] > bounds["relative_gap"] > 0
    # the run's R_eff is the mixed solution's: the lower bound of G, so above the bracket of R
    resistance = bounds["resistance_ohm"]
    assert result.effective_resistance_ohm > resistance["upper"]
    assert not resistance["this_result_inside"]
    assert resistance["lower"] < resistance["estimate"] < resistance["upper"]
    assert resistance["estimate"] == pytest.approx(0.5 * (resistance["lower"]
                                                          + resistance["upper"]), rel=1e-15)
    from netsolve.run_report import bounds_lines

    half = 0.5 * (resistance["upper"] - resistance["lower"]) / resistance["estimate"]
    assert (f"quote R_eff = {resistance['estimate']:.6g} ohm +- {half:.2%}"
            in "\n".join(bounds_lines(bounds)))


def test_compiled_cell_products_equal_the_element_matrices():
    # A_K v_K of the kernel against the assembled 9 x 9 element matrices
    # sum_c coefficient_c basis_c, cell by cell, for random tensors and values
    from netsolve.certify.kernels import cell_apply
    from netsolve.certify.reconstruct import stiffness_basis

    rng = np.random.default_rng(3)
    n = 57
    coefficients = rng.normal(size=(3, n))
    local = rng.normal(size=(9, n))
    out = np.empty((9, n))
    cell_apply(stiffness_basis(), coefficients, local, out)
    matrices = np.einsum("ck,cij->kij", coefficients, stiffness_basis())
    expected = np.einsum("kij,jk->ik", matrices, local)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13 * np.abs(expected).max())
    local[4, 7] = np.nan  # a NaN reaches every value of its cell, none of the others
    cell_apply(stiffness_basis(), coefficients, local, out)
    assert np.isnan(out[:, 7]).all() and np.isfinite(np.delete(out, 7, axis=1)).all()

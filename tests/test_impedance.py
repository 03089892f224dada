"""Impedance spectra (netsolve.impedance): exact RC results of the two-point network, the
DC limit, Tellegen shares, the solvers, the Lin-KK check and the DRT."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.constants import epsilon_0

import netsolve
from conftest import H, base_case, with_labels
from netsolve.impedance import compute_impedance
from netsolve.impedance.admittance import build_admittance
from netsolve.impedance.options import default_options
from netsolve.impedance.response import build_owners, compute_response
from netsolve.impedance.spectrum import compute_drt, lin_kk
from netsolve.impedance.system import build_terminal_system
from netsolve.microstructure import build_microstructure
from netsolve.discretization.tpfa import build_network
from netsolve.properties import compute_properties

SIGMA = 2.0  # base_case's sigma_ip (S/m)


def rc(resistance, tau, f):
    return resistance / (1 + 2j * np.pi * f * tau)


def spectrum_case(data, f_min=1e6, f_max=1e13, ppd=5, **impedance):
    data = copy.deepcopy(data)
    data["impedance"] = {"f_min_Hz": f_min, "f_max_Hz": f_max, "points_per_decade": ppd,
                         **impedance}
    return data


def impedance_of(data, tmp_path):
    return compute_impedance(netsolve.case_from_dict(data, base_dir=tmp_path))


@pytest.mark.parametrize("shape", [(20, 6), (7, 3, 4)])
def test_homogeneous_slab_is_one_rc_at_every_frequency(tmp_path, shape):
    data = spectrum_case(base_case(shape, eps_r_bulk=12.0))
    result = impedance_of(data, tmp_path)
    area = np.prod(shape[1:]) * H * H
    length = shape[0] * H
    resistance = length / (SIGMA * area)
    capacitance = epsilon_0 * 12.0 * area / length
    exact = rc(resistance, resistance * capacitance, result.frequency_Hz)
    np.testing.assert_allclose(result.impedance_ohm, exact, rtol=1e-11)
    assert result.frequency_Hz[0] == 1e6 and result.frequency_Hz[-1] == pytest.approx(1e13)
    assert len(result.frequency_Hz) == 36
    # all of it is bulk: the shares add up to Z
    np.testing.assert_allclose(result.response.bulk_ohm, exact, rtol=1e-11)
    assert np.all(result.response.gb_ohm == 0)


def bicrystal(tmp_path, nx=20, ny=4, ratio_ip_gb=2000.0, eps_gb=10.0):
    labels = np.where(np.arange(nx)[:, None] < nx // 2, 1, 2) * np.ones((nx, ny), int)
    data = base_case((nx, ny), ratio_ip_gb=ratio_ip_gb, gb_thickness_nm=1.0, eps_r_bulk=10.0,
                     eps_r_gb=eps_gb)
    return with_labels(data, labels, tmp_path)


def test_bicrystal_two_arcs_with_exact_summit_frequencies(tmp_path):
    nx, ny = 20, 4
    data = spectrum_case(bicrystal(tmp_path, nx, ny), f_min=1e5, f_max=1e12, ppd=10)
    area = ny * H * H
    r_bulk, tau_bulk = nx * H / (SIGMA * area), epsilon_0 * 10.0 / SIGMA
    sigma_gb = SIGMA / 2000.0
    r_gb, tau_gb = 1e-9 / (sigma_gb * area), epsilon_0 * 10.0 / sigma_gb
    result = impedance_of(data, tmp_path)
    f = result.frequency_Hz
    np.testing.assert_allclose(result.impedance_ohm, rc(r_bulk, tau_bulk, f) + rc(r_gb, tau_gb, f),
                               rtol=1e-11)
    # each part's arc has its summit exactly at 1/(2 pi R C): its share there is R (1 - i)/2
    at = np.array([1 / (2 * np.pi * tau_bulk), 1 / (2 * np.pi * tau_gb)])
    data["impedance"]["contribution_frequency_Hz"] = at.tolist()
    shares = impedance_of(data, tmp_path).contributions
    np.testing.assert_allclose(shares.frequency_Hz, at)
    np.testing.assert_allclose(shares.bulk_ohm[0], r_bulk * (1 - 1j) / 2, rtol=1e-11)
    np.testing.assert_allclose(shares.gb_ohm[1], r_gb * (1 - 1j) / 2, rtol=1e-11)
    assert shares.owners.gb_pair.tolist() == [[1, 2]]
    # two arcs in the spectrum, each summit on the grid point next to 1/(2 pi tau)
    summits = sorted(a["frequency_Hz"] for a in result.arcs)
    assert len(summits) == 2
    step = 10 ** (1 / 10)
    for found, exact in zip(summits, sorted(at)):
        assert exact / step < found < exact * step
    # the DRT finds both relaxations and their resistances
    peaks = sorted(result.drt.peaks(), key=lambda p: p["tau_s"])
    assert len(peaks) == 2
    for peak, tau, resistance in zip(peaks, (tau_bulk, tau_gb), (r_bulk, r_gb)):
        assert tau / 10 ** (1 / 20) < peak["tau_s"] < tau * 10 ** (1 / 20)
        assert peak["resistance_ohm"] == pytest.approx(resistance, rel=0.02)
    assert result.kk.passed and result.kk.max_residual < 1e-6
    # default shares: at the arc summits and the grid points nearest the DRT peaks
    nearest = [f[np.argmin(np.abs(np.log(f * 2 * np.pi * p["tau_s"])))] for p in peaks]
    assert result.contributions.frequency_Hz.tolist() == sorted(set(summits) | set(nearest))


def test_parallel_layers_admittances_add(tmp_path):
    nx, ny = 12, 6
    labels = np.where(np.arange(ny)[None, :] < 2, 1, -2) * np.ones((nx, ny), int)
    data = base_case((nx, ny), ratio_ip_backbone=50.0, eps_r_bulk=10.0, eps_r_backbone=40.0)
    data = spectrum_case(with_labels(data, labels, tmp_path, phases={"backbone": -2}))
    result = impedance_of(data, tmp_path)
    omega = 2 * np.pi * result.frequency_Hz
    geometry = H * H / (nx * H)  # (width of one row x thickness) / length
    admittance = (2 * (SIGMA + 1j * omega * epsilon_0 * 10.0)
                  + 4 * (SIGMA / 50.0 + 1j * omega * epsilon_0 * 40.0)) * geometry
    np.testing.assert_allclose(result.impedance_ohm, 1 / admittance, rtol=1e-11)


@pytest.mark.parametrize("brick, bricks", [((4, 3), (5, 2)), ((3, 2, 2), (4, 2, 2))])
def test_regular_brick_array_is_the_series_brick_layer_model(tmp_path, brick, bricks):
    shape = tuple(b * n for b, n in zip(brick, bricks))
    index = np.indices(shape)
    labels = 1 + sum((index[k] // brick[k]) * int(np.prod(bricks[:k])) for k in range(len(shape)))
    data = base_case(shape, ratio_ip_gb=500.0, gb_thickness_nm=2.0, eps_r_bulk=10.0,
                     eps_r_gb=25.0)
    result = impedance_of(spectrum_case(with_labels(data, labels, tmp_path)), tmp_path)
    area = np.prod(shape[1:]) * H * H
    sigma_gb = SIGMA / 500.0
    r_bulk, tau_bulk = shape[0] * H / (SIGMA * area), epsilon_0 * 10.0 / SIGMA
    r_gb_plane, tau_gb = 2e-9 / (sigma_gb * area), epsilon_0 * 25.0 / sigma_gb
    f = result.frequency_Hz
    exact = rc(r_bulk, tau_bulk, f) + (bricks[0] - 1) * rc(r_gb_plane, tau_gb, f)
    np.testing.assert_allclose(result.impedance_ohm, exact, rtol=1e-10)
    # GB faces parallel to the current carry none (to rounding): the planes across it, between
    # neighbours along x (labels differing by 1), hold the whole GB share
    pairs = result.response.owners.gb_pair
    across = pairs[:, 1] - pairs[:, 0] == 1
    shares = result.response.gb_share
    assert np.abs(shares[:, ~across]).max() < 1e-12 * np.abs(result.impedance_ohm).min()
    np.testing.assert_allclose(shares[:, across].sum(axis=1),
                               (bricks[0] - 1) * rc(r_gb_plane, tau_gb, f), rtol=1e-10)


def test_oblique_grain_in_a_lamella_follows_the_complex_schur_complement(tmp_path):
    data = base_case((10, 3), model="tensor", ratio_ip_op=100.0, eps_r_bulk=10.0)
    data["grains"] = [{"id": 1, "c_axis": [1.0, 0.0, 1.0]}]  # 45 degrees in the xz plane
    result = impedance_of(spectrum_case(data, f_min=1e3, f_max=1e12), tmp_path)
    c = np.array([1.0, 0.0, 1.0]) / np.sqrt(2)
    s3 = SIGMA * (np.eye(3) - np.outer(c, c)) + SIGMA / 100.0 * np.outer(c, c)
    length, area = 10 * H, 3 * H * H
    for f, z in zip(result.frequency_Hz, result.impedance_ohm):
        full = s3 + 2j * np.pi * f * epsilon_0 * 10.0 * np.eye(3)
        film_xx = full[0, 0] - full[0, 2] * full[2, 0] / full[2, 2]
        assert z == pytest.approx(length / (area * film_xx), rel=1e-11)
    # DC limit: the Schur complement of the real tensor, as the DC network uses
    assert result.impedance_ohm[0].real == pytest.approx(
        length / (area * (s3[0, 0] - s3[0, 2] ** 2 / s3[2, 2])), rel=1e-5)


def test_electrode_double_layer_in_parallel_with_charge_transfer(tmp_path):
    nx, ny = 10, 4
    data = base_case((nx, ny), eps_r_bulk=10.0, asr_ct_ohm_m2=1e-9,
                     double_layer_F_per_m2=0.1)
    data["electrodes"][1]["double_layer_F_per_m2"] = 0.3  # per-electrode value wins
    result = impedance_of(spectrum_case(data, f_min=1e2, f_max=1e12), tmp_path)
    area = ny * H * H
    f = result.frequency_Hz
    r_ct = 1e-9 / area
    exact = (rc(nx * H / (SIGMA * area), epsilon_0 * 10.0 / SIGMA, f)
             + rc(r_ct, r_ct * 0.1 * area, f) + rc(r_ct, r_ct * 0.3 * area, f))
    np.testing.assert_allclose(result.impedance_ohm, exact, rtol=1e-11)
    np.testing.assert_allclose(result.response.contact_share[:, 0], rc(r_ct, r_ct * 0.1 * area, f),
                               rtol=1e-11)


def voronoi_case(shape=(40, 30), method="direct"):
    return {
        "grid": {"shape": list(shape), "voxel_size_nm": 10.0, "thickness_nm": 170.0},
        "microstructure": {"source": "voronoi", "n_grains": 12, "seed": 3,
                           "zro2_fraction": 0.03, "zro2_radius_nm": 30.0},
        "materials": {"ratio_ip_op": 1000.0, "ratio_ip_gb": 20.0, "gb_thickness_nm": 1.0,
                      "asr_ct_ohm_m2": 1e-10, "double_layer_F_per_m2": 0.05},
        "electrodes": [{"name": "source", "region": "left", "potential_V": 1.0},
                       {"name": "sink", "region": "right", "potential_V": 0.0},
                       {"name": "probe", "region": {"box": [[18, 22], [29, 30]]},
                        "potential_V": 0.5}],
        "solver": {"method": "direct"},
        "impedance": {"terminals": ["source", "sink"], "method": method, "f_min_Hz": 1e4,
                      "f_max_Hz": 1e12, "points_per_decade": 5},
    }


def stages(case):
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    network = build_network(case, micro, props)
    return micro, network, build_admittance(case, micro, props, network)


def test_zero_frequency_is_the_dc_network(tmp_path):
    data = voronoi_case()
    del data["electrodes"][2]  # two electrodes: the DC effective resistance is 1 V / I
    case = netsolve.case_from_dict(data)
    micro, network, model = stages(case)
    z_lower, z_upper, z_gb = model.link_parts(0.0)
    np.testing.assert_allclose(1 / (z_lower + z_upper + z_gb), network.link_conductance,
                               rtol=1e-13)
    z_bulk, z_contact = model.electrode_parts(0.0)
    np.testing.assert_allclose(1 / (z_bulk + z_contact), network.electrode_link_conductance,
                               rtol=1e-13)
    options = default_options(case)
    system = build_terminal_system(network, ("source", "sink"), options.terminals, "t")
    response = compute_response(model, system, build_owners(micro, model), np.array([0.0]),
                                options, "t")
    assert response.impedance_ohm[0].imag == 0
    assert response.impedance_ohm[0].real == pytest.approx(
        netsolve.solve(case).effective_resistance_ohm, rel=1e-10)


def test_shares_add_up_with_a_floating_electrode_and_amg_agrees_with_direct(tmp_path):
    direct = impedance_of(voronoi_case(method="direct"), tmp_path)
    response = direct.response
    # Tellegen: the shares of grains, GBs and contacts add up to Z; the terminal currents balance
    assert response.share_balance_rel.max() < 1e-11
    assert response.current_balance_rel.max() < 1e-11
    assert np.abs(response.gb_ohm).min() > 0 and np.abs(response.contact_ohm).min() > 0
    # the floating probe carries no net current, yet current passes under it: a share
    assert np.abs(response.contact_share[:, 2]).max() > 0
    amg = impedance_of(voronoi_case(method="amg"), tmp_path)
    assert amg.method == "amg" and min(s.iterations for s in amg.response.stats) > 0
    np.testing.assert_allclose(amg.impedance_ohm, direct.impedance_ohm, rtol=1e-6)
    assert amg.kk.passed and direct.kk.passed


def test_lin_kk_passes_rc_spectra_and_flags_inconsistent_ones():
    f = np.logspace(6, 12, 61)
    z = rc(1.0, 5.3e-11, f) + rc(3.0, 1.1e-9, f) + 0.2
    good = lin_kk(f, z, 1e-3)
    assert good.passed and good.max_residual < 1e-6 and good.n_elements == 60
    bad = lin_kk(f, z.real + 1.3j * z.imag, 1e-3)
    assert not bad.passed and bad.max_residual > 0.03


def test_drt_of_two_rc_elements():
    f = np.logspace(6, 12, 61)
    z = rc(1.0, 5.3e-11, f) + rc(3.0, 1.1e-9, f) + 0.2
    drt = compute_drt(f, z, 1e-3)
    assert drt.residual_rms <= 1e-3 and drt.lambda_ > 1e-12
    peaks = sorted(drt.peaks(), key=lambda p: p["tau_s"])
    assert [round(p["resistance_ohm"], 2) for p in peaks] == [1.0, 3.0]
    for peak, tau in zip(peaks, (5.3e-11, 1.1e-9)):
        assert tau / 10 ** (1 / 20) < peak["tau_s"] < tau * 10 ** (1 / 20)
    assert drt.r_inf_ohm == pytest.approx(0.2, abs=0.01)
    fixed = compute_drt(f, z, 1e-3, lambda_=1.0)
    assert fixed.lambda_ == 1.0 and fixed.residual_rms > drt.residual_rms


def test_default_terminals_group_electrodes_by_potential():
    data = voronoi_case()
    del data["impedance"]
    case = netsolve.case_from_dict(data)
    data["electrodes"][2]["potential_V"] = 1.0
    assert default_options(netsolve.case_from_dict(data)).terminals == (
        ("source", "probe"), ("sink",))
    with pytest.raises(netsolve.CaseError, match="'impedance.terminals' is needed"):
        default_options(case)

"""Conservation laws, connectivity and solver agreement on heterogeneous samples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netsolve
from netsolve.errors import NoConductingPathError
from conftest import base_case, with_labels


def polycrystal(shape=(40, 30), n_grains=12, method="direct", model="tensor", **extra) -> dict:
    data = base_case(shape, model=model)
    data["microstructure"] = {"source": "voronoi", "n_grains": n_grains, "seed": 7,
                              "zro2_fraction": 0.05, "zro2_radius_nm": 25.0}
    data["electrodes"] = [{"name": "na", "region": "top", "potential_V": 1.0},
                          {"name": "au", "region": "right", "potential_V": 0.0}]
    data["solver"] = {"method": method, "rtol": 1e-12}
    data.update(extra)
    return data


def cross_section_current(result, axis: int, index: int) -> float:
    """Current through the plane between voxel layers index and index + 1 normal to axis."""
    net = result.network
    voxel = net.node_voxel[net.link_nodes[:, 0]]
    coord = np.unravel_index(voxel, net.shape)[axis]
    on_plane = (net.link_axis == axis) & (coord == index)
    return float(result.fields.link_current[on_plane].sum())


@pytest.mark.parametrize("model", ["tensor", "ding2023", "isotropic"])
def test_kirchhoff_and_joule_balance(solve, model):
    result = solve(polycrystal(model=model))
    assert result.current_balance_rel < 1e-9
    assert result.power_balance_rel < 1e-9
    # Node balance: the net link current out of every voxel is zero.
    net = result.network
    net_out = (np.bincount(net.link_nodes[:, 0], result.fields.link_current, net.n_nodes)
               - np.bincount(net.link_nodes[:, 1], result.fields.link_current, net.n_nodes)
               - np.bincount(net.electrode_link_node, result.fields.electrode_link_current,
                             net.n_nodes))
    assert np.abs(net_out).max() < 1e-9 * result.total_current_A


def test_current_through_every_cross_section_is_conserved(solve, tmp_path):
    # Left-right drive with a partial ZrO2 wall: every x-plane carries the full current.
    labels = np.ones((20, 10), dtype=np.int32)
    labels[10, 3:] = -1
    data = with_labels(base_case((20, 10)), labels, tmp_path, phases={"zro2": -1})
    result = solve(data)
    currents = [cross_section_current(result, 0, i) for i in range(19)]
    assert np.allclose(currents, result.total_current_A, rtol=1e-9)
    # The wall only removes conductance: the current drops below the wall-free slab's.
    open_slab = solve(base_case((20, 10)))
    assert 0 < result.total_current_A < open_slab.total_current_A
    # All current through the wall plane passes the 3-voxel gap.
    gap = result.fields.current_density[10, :3, 0].sum() * result.network.face_area_m2
    assert gap == pytest.approx(result.total_current_A, rel=1e-9)


def test_zro2_wall_cutting_all_paths_is_a_clear_error(solve, tmp_path):
    labels = np.ones((20, 10), dtype=np.int32)
    labels[10, :] = -1
    data = with_labels(base_case((20, 10)), labels, tmp_path, phases={"zro2": -1})
    with pytest.raises(NoConductingPathError, match="'source'.*'sink'"):
        solve(data)


def test_floating_cluster_is_removed_and_reported(solve, tmp_path):
    labels = np.ones((20, 12), dtype=np.int32)
    labels[5:12, 3:10] = -1  # a ZrO2 ring ...
    labels[6:11, 4:9] = 1  # ... sealing 5 x 5 conducting voxels
    data = with_labels(base_case((20, 12)), labels, tmp_path, phases={"zro2": -1})
    result = solve(data)
    assert result.n_floating_voxels == 25
    assert result.floating_fraction == pytest.approx(25 / (labels > 0).sum())
    assert result.solution.n_unknowns == (labels > 0).sum() - 25
    assert np.isnan(result.fields.potential[6:11, 4:9]).all()
    assert np.isnan(result.fields.current_density[6:11, 4:9]).all()
    assert np.isfinite(result.fields.potential[labels > 0]).sum() == (labels > 0).sum() - 25
    # the floating cluster's links carry no current and no power (not NaN)
    current = result.fields.link_current
    touching = result.solution.floating[result.network.link_nodes].any(axis=1)
    assert touching.sum() > 0 and np.isfinite(current).all()
    assert np.all(current[touching] == 0.0)
    # the power dissipated equals what the electrodes deliver (sum of V_k I_k)
    delivered = sum(result.electrode_potentials_V[name] * i
                    for name, i in result.electrode_currents_A.items())
    assert result.fields.joule_power_W == pytest.approx(delivered, rel=1e-9)


def test_solvers_agree(solve):
    results = {m: solve(polycrystal(method=m)) for m in ("direct", "amg", "cg")}
    reference = results["direct"].fields.potential
    for method in ("amg", "cg"):
        r = results[method]
        assert r.solution.stats.method == method
        assert r.solution.stats.iterations > 0
        assert r.solution.stats.residual_rel < 1e-10
        assert np.nanmax(np.abs(r.fields.potential - reference)) < 1e-8
        assert r.total_current_A == pytest.approx(results["direct"].total_current_A, rel=1e-8)


def test_auto_picks_direct_for_small_and_amg_above_threshold(solve):
    small = solve(polycrystal(method="auto"))
    assert small.solution.stats.method == "direct"
    data = polycrystal()
    data["solver"] = {"method": "auto", "direct_max_unknowns": 100}
    assert solve(data).solution.stats.method == "amg"


def test_potential_bounded_by_electrodes(solve):
    # Maximum principle: no voxel is outside the range of the electrode potentials.
    result = solve(polycrystal())
    finite = result.fields.potential[np.isfinite(result.fields.potential)]
    assert finite.min() >= -1e-12 and finite.max() <= 1 + 1e-12


def test_electric_field_excludes_gb_jump(solve):
    # E = J / sigma componentwise in every solved voxel (bulk gradient only).
    result = solve(polycrystal())
    sigma = result.properties.voxel_axis_sigma
    ok = np.isfinite(result.fields.electric_field)
    assert np.allclose(result.fields.electric_field[ok],
                       (result.fields.current_density / sigma)[ok], rtol=1e-12)


def test_three_dimensional_polycrystal(solve):
    data = polycrystal(shape=(14, 12, 10), n_grains=8)
    data["electrodes"] = [{"name": "a", "region": "front", "potential_V": 0.5},
                          {"name": "b", "region": "back", "potential_V": -0.5}]
    result = solve(data)
    assert result.current_balance_rel < 1e-9 and result.power_balance_rel < 1e-9
    assert result.fields.current_density.shape == (14, 12, 10, 3)


@given(st.integers(0, 10_000), st.floats(1.0, 1e4), st.sampled_from(["tpfa", "fem"]))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_wiener_bounds_on_random_two_phase_maps(tmp_path, seed, ratio, discretization):
    # Any two-phase mixture lies between the harmonic and arithmetic mean conductivities.
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random((16, 16)) < 0.5, 1, -2).astype(np.int32)
    labels[0, 0], labels[1, 0] = 1, -2  # both phases present
    data = with_labels(base_case((16, 16), ratio_ip_backbone=ratio), labels, tmp_path,
                       phases={"backbone": -2})
    case = netsolve.case_from_dict(data, base_dir=tmp_path)
    result = netsolve.solve(case, discretization=discretization)
    h = case.grid.voxel_size_m
    sigma_eff = 16 * h / (result.effective_resistance_ohm * 16 * h * h)
    f = (labels == 1).mean()
    s1, s2 = 2.0, 2.0 / ratio
    harmonic = 1 / (f / s1 + (1 - f) / s2)
    arithmetic = f * s1 + (1 - f) * s2
    assert harmonic * (1 - 1e-9) <= sigma_eff <= arithmetic * (1 + 1e-9)


def test_voronoi_zro2_settings_do_not_change_the_grains(tmp_path):
    def micro(fraction):
        data = polycrystal()
        data["microstructure"]["zro2_fraction"] = fraction
        data["microstructure"]["phases"] = {"backbone": -1}
        case = netsolve.case_from_dict(data, base_dir=tmp_path)
        from netsolve.microstructure import build_microstructure
        return build_microstructure(case)

    a, b = micro(0.0), micro(0.1)
    assert np.array_equal(a.orientations.c_axis, b.orientations.c_axis)
    grains_b = b.labels > 0
    assert np.array_equal(a.labels[grains_b], b.labels[grains_b])
    # Generated particles take a label no declared phase uses: they are ZrO2, not backbone.
    assert (b.phase == 2).mean() == pytest.approx(0.1, abs=0.04) and not (b.phase == 1).any()


def test_gb_links_counted_even_without_gb_resistance(solve):
    result = solve(polycrystal(materials={"sigma_ip_S_per_m": 1.0, "gb_thickness_nm": 0.0}))
    assert result.network.link_crosses_gb.sum() > 0
    assert not result.network.link_gb_resistance.any()


def test_amg_preconditioner_is_symmetric(solve):
    # CG needs a symmetric preconditioner: x . M y == y . M x (to float32 level precision).
    from netsolve.solve import network_matrix
    from netsolve.solvers import RugeStubenPreconditioner

    result = solve(polycrystal())
    matrix = network_matrix(result.network)
    precond = RugeStubenPreconditioner(matrix)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, matrix.shape[0]))
    assert x @ precond(y) == pytest.approx(y @ precond(x), rel=1e-5)
    assert x @ precond(x) > 0


def test_current_controlled_electrode_with_amg_matches_direct(solve):
    def run(method):
        data = polycrystal(method=method)
        data["electrodes"][0] = {"name": "na", "region": "top", "current_A": 1e-8}
        return solve(data)

    direct, amg = run("direct"), run("amg")
    assert amg.solution.stats.n_rhs == 2
    assert amg.electrode_potentials_V["na"] == pytest.approx(
        direct.electrode_potentials_V["na"], rel=1e-8)
    assert amg.electrode_currents_A["na"] == pytest.approx(1e-8, rel=1e-9)


def test_fields_do_not_depend_on_the_order_of_the_links(solve):
    """The current density sums each node's face currents per axis: from axis blocks when the
    links come in axis order (as built), from index arrays otherwise; the same fields."""
    from dataclasses import replace

    from netsolve.discretization.tpfa import compute_fields

    result = solve(polycrystal(shape=(20, 16, 6), n_grains=10))
    net = result.network
    assert np.all(np.diff(net.link_axis) >= 0)  # the built order: the slice path
    order = np.random.default_rng(5).permutation(len(net.link_axis))
    shuffled = replace(net, link_nodes=net.link_nodes[order], link_axis=net.link_axis[order],
                       link_conductance=net.link_conductance[order],
                       link_crosses_gb=net.link_crosses_gb[order],
                       link_gb_resistance=net.link_gb_resistance[order])
    expected = result.fields
    got = compute_fields(shuffled, result.solution, result.properties,
                         result.microstructure.electrode_index)
    scale = np.nanmax(np.abs(expected.current_density))
    for name in ("potential", "current_density", "electric_field"):
        a, b = getattr(got, name), getattr(expected, name)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.nanmax(np.abs(b)))
    np.testing.assert_allclose(got.link_current, expected.link_current[order], rtol=1e-13,
                               atol=1e-13 * np.abs(expected.link_current).max())
    # and the sums themselves: the current density along x of an inner voxel is the mean of
    # its two x-face currents over the face area
    net_j = expected.current_density.reshape(-1, 3)
    a, b = net.link_nodes[:, 0], net.link_nodes[:, 1]
    x_links = net.link_axis == 0
    sums = (np.bincount(a[x_links], expected.link_current[x_links], net.n_nodes)
            + np.bincount(b[x_links], expected.link_current[x_links], net.n_nodes))
    inner = np.flatnonzero(~result.solution.floating)
    e_nodes = np.unique(net.electrode_link_node[net.electrode_link_axis == 0])
    inner = np.setdiff1d(inner, e_nodes)
    np.testing.assert_allclose(net_j[net.node_voxel[inner], 0],
                               sums[inner] / (2.0 * net.face_area_m2), rtol=1e-12,
                               atol=1e-12 * scale)

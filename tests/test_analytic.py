"""Exact results of model.md section 4: slabs, series and parallel layers, bicrystals."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import H, base_case, with_labels

SIGMA = 2.0


def slab_resistance(length_vox, width_vox, sigma, thickness=H, extra_len_vox=0.0):
    area = width_vox * H * thickness
    return (length_vox + extra_len_vox) * H / (sigma * area)


@pytest.mark.parametrize("shape", [(12, 6), (1, 1), (30, 2)])
def test_homogeneous_slab_2d(solve, shape):
    result = solve(base_case(shape))
    assert result.effective_resistance_ohm == pytest.approx(
        slab_resistance(shape[0], shape[1], SIGMA), rel=1e-9)


def test_homogeneous_slab_2d_with_thickness(solve):
    data = base_case((10, 4))
    data["grid"]["thickness_nm"] = 170.0
    result = solve(data)
    assert result.effective_resistance_ohm == pytest.approx(
        slab_resistance(10, 4, SIGMA, thickness=170e-9), rel=1e-9)


@pytest.mark.parametrize("method", ["direct", "amg", "cg"])
def test_homogeneous_slab_3d(solve, method):
    data = base_case((9, 5, 4))
    data["solver"] = {"method": method, "rtol": 1e-12}
    result = solve(data)
    exact = 9 * H / (SIGMA * 5 * 4 * H * H)
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-9)
    # A slab conducts uniformly: J = I / A in every voxel, along x only.
    j = result.fields.current_density
    assert np.allclose(j[..., 0], result.total_current_A / (5 * 4 * H * H), rtol=1e-9)
    assert np.allclose(j[..., 1:], 0.0, atol=1e-9 * np.abs(j[..., 0]).max())


def test_full_voxel_electrode_link_adds_half_voxel_per_electrode(solve):
    half = solve(base_case((10, 3)))
    full = solve(base_case((10, 3), electrode_link="full_voxel"))
    assert half.effective_resistance_ohm == pytest.approx(slab_resistance(10, 3, SIGMA), rel=1e-9)
    assert full.effective_resistance_ohm == pytest.approx(
        slab_resistance(10, 3, SIGMA, extra_len_vox=1.0), rel=1e-9)


def test_charge_transfer_resistance_in_series(solve):
    asr = 3e-9  # ohm m^2
    result = solve(base_case((10, 3), asr_ct_ohm_m2=asr))
    area = 3 * H * H
    assert result.effective_resistance_ohm == pytest.approx(
        slab_resistance(10, 3, SIGMA) + 2 * asr / area, rel=1e-9)


def series_layers(tmp_path, widths=(4, 7, 5), height=3) -> tuple[dict, float]:
    """Three layers along x: c along x (slow, sigma_op), c along z (sigma_ip), c along x again,
    with two GB resistors: the case and its exact resistance (ohm)."""
    labels = np.repeat([1, 2, 3], widths)[:, None].repeat(height, axis=1)
    grains = [{"id": 1, "c_axis": [1, 0, 0]}, {"id": 2, "c_axis": [0, 0, 1]},
              {"id": 3, "c_axis": [1.0, 0, 0]}]
    data = with_labels(base_case((sum(widths), height), model="tensor", ratio_ip_op=10.0,
                                 ratio_ip_gb=4.0, gb_thickness_nm=2.0), labels, tmp_path,
                       grains=grains)
    area = height * H * H
    sig = [SIGMA / 10, SIGMA, SIGMA / 10]
    exact = sum(w * H / (s * area) for w, s in zip(widths, sig)) + 2 * 2e-9 / (SIGMA / 4 * area)
    return data, exact


def test_series_layers_with_grain_boundaries(solve, tmp_path):
    data, exact = series_layers(tmp_path)
    result = solve(data)
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-9)
    assert result.network.link_crosses_gb.sum() == 2 * 3


def test_parallel_stripes(solve, tmp_path):
    # Stripes along x stacked in y: grain 1 (sigma_ip along x), grain 2 (backbone, sigma_ip/250).
    heights = [3, 5]
    labels = np.repeat([1, -2], heights)[None, :].repeat(12, axis=0)
    data = with_labels(base_case((12, 8), model="tensor", ratio_ip_backbone=250.0), labels,
                       tmp_path, phases={"backbone": -2}, grains=[{"id": 1, "c_axis": [0, 1, 0]}])
    result = solve(data)
    conductance = (SIGMA * 3 + SIGMA / 250 * 5) * H * H / (12 * H)
    assert 1 / result.effective_resistance_ohm == pytest.approx(conductance, rel=1e-9)


def test_bicrystal_grain_boundary_resistance(solve, tmp_path):
    labels = np.repeat([1, 2], [6, 6])[:, None].repeat(4, axis=1)
    data = with_labels(base_case((12, 4), ratio_ip_gb=20.0, gb_thickness_nm=1.0), labels,
                       tmp_path)
    result = solve(data)
    area = 4 * H * H
    exact = 12 * H / (SIGMA * area) + 1e-9 / (SIGMA / 20 * area)
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-9)
    # The GB potential jump is I * R_GB per face, and E excludes it.
    jumps = result.fields.gb_potential_jump[result.network.link_crosses_gb]
    assert np.allclose(jumps, result.total_current_A * 1e-9 / (SIGMA / 20 * area), rtol=1e-9)
    e = result.fields.electric_field[..., 0]
    assert np.allclose(e, result.total_current_A / area / SIGMA, rtol=1e-9)
    # The discretization-neutral GB faces: the 4 faces between x = 5 and x = 6, in y order.
    fields = result.fields
    lower = np.ravel_multi_index((np.full(4, 5), np.arange(4)), (12, 4))
    assert np.array_equal(fields.gb_face_voxels, np.column_stack([lower, lower + 4]))
    assert np.array_equal(fields.gb_face_axis, np.zeros(4))
    assert fields.gb_face_current.sum() == pytest.approx(result.total_current_A, rel=1e-9)
    assert np.allclose(fields.gb_face_jump, fields.gb_face_current * 1e-9 / (SIGMA / 20 * H * H),
                       rtol=1e-9)


def test_zero_gb_thickness_removes_gb_resistance(solve, tmp_path):
    labels = np.repeat([1, 2], [5, 5])[:, None].repeat(2, axis=1)
    data = with_labels(base_case((10, 2), gb_thickness_nm=0.0), labels, tmp_path)
    assert solve(data).effective_resistance_ohm == pytest.approx(
        slab_resistance(10, 2, SIGMA), rel=1e-9)


def test_box_electrode_equals_edge_electrode_on_shorter_grid(solve):
    # An electrode occupying column 0 is a perfect conductor: the rest is a slab of nx - 1.
    data = base_case((11, 4))
    data["electrodes"][0]["region"] = {"box": [[0, 1], [0, 4]]}
    result = solve(data)
    assert result.effective_resistance_ohm == pytest.approx(slab_resistance(10, 4, SIGMA), rel=1e-9)
    assert np.all(result.fields.potential[0] == 1.0)
    assert np.all(np.isnan(result.fields.current_density[0]))


def test_mask_electrode(solve, tmp_path):
    mask = np.zeros((11, 4), dtype=bool)
    mask[-1] = True
    np.save(tmp_path / "sink.npy", mask)
    data = base_case((11, 4))
    data["electrodes"][1]["region"] = {"mask": "sink.npy"}
    assert solve(data).effective_resistance_ohm == pytest.approx(
        slab_resistance(10, 4, SIGMA), rel=1e-9)


def test_current_controlled_electrode(solve):
    data = base_case((10, 5))
    data["electrodes"][0] = {"name": "source", "region": "left", "current_A": 2e-9}
    result = solve(data)
    exact = slab_resistance(10, 5, SIGMA)
    assert result.electrode_potentials_V["source"] == pytest.approx(2e-9 * exact, rel=1e-9)
    assert result.electrode_currents_A["source"] == pytest.approx(2e-9, rel=1e-12)
    assert result.electrode_currents_A["sink"] == pytest.approx(-2e-9, rel=1e-9)


def test_three_electrodes_superposition(solve):
    # A current-controlled third electrode: solution is linear in the prescribed current.
    def case(current):
        data = base_case((10, 6))
        data["electrodes"].append({"name": "probe", "region": "top", "current_A": current})
        return solve(data)

    r0, r1, r2 = case(0.0), case(1e-9), case(2e-9)
    v0, v1, v2 = (r.electrode_potentials_V["probe"] for r in (r0, r1, r2))
    assert v2 - v1 == pytest.approx(v1 - v0, rel=1e-9)
    for r in (r0, r1, r2):
        assert r.current_balance_rel < 1e-9
    # A probe drawing no current sits at the mean potential of the voxels it touches.
    assert r0.electrode_currents_A["probe"] == pytest.approx(0.0, abs=1e-20)
    assert v0 == pytest.approx(r0.fields.potential[:, -1].mean(), rel=1e-9)

"""Per-voxel orientations (``source = "ebsd"``, ``orientation = "voxel"``): per-voxel tensors in
both discretizations, exact against per-grain tensors and against series/parallel formulas."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import netsolve
from netsolve.discretization import build_operator
from netsolve.microstructure import build_microstructure
from netsolve.properties import compute_properties
from netsolve.solve import solve_network
from netsolve.sources.ebsd import write_ang
from conftest import H, H_NM, base_case

IP, RATIO = 2.0, 10.0  # sigma_ip (S/m) and sigma_ip / sigma_op of the helpers' materials
C_ALONG_X = np.radians([90.0, 90.0, 0.0])  # Bunge angles whose c-axis is x (sigma_xx = sigma_op)
C_ALONG_Z = np.radians([30.0, 0.0, 0.0])  # c = z: isotropic sigma_ip in the lamella plane


@pytest.fixture
def orix():
    return pytest.importorskip("orix")


def total_current(case, micro) -> float:
    props = compute_properties(micro, case.materials)
    operator = build_operator(case, micro, props)
    solution = solve_network(operator, case.electrodes, case.solver, case.label)
    return float(abs(solution.electrode_current[0]))


def with_grain_c_per_voxel(micro):
    """The same microstructure with every grain voxel carrying its grain's c-axis."""
    voxel_c = np.full(micro.grid.shape + (3,), np.nan)
    grains = micro.grain_index >= 0
    voxel_c[grains] = micro.orientations.c_axis[micro.grain_index[grains]]
    return replace(micro, voxel_c_axis=voxel_c)


@pytest.mark.parametrize("model", ["tensor", "ding2023"])
def test_grain_orientation_per_voxel_equals_per_grain_exactly(model):
    data = base_case((18, 14), model=model, ratio_ip_op=RATIO)
    data["microstructure"] = {"source": "voronoi", "n_grains": 7, "seed": 3,
                              "zro2_fraction": 0.05, "zro2_radius_nm": 15.0}
    case = netsolve.case_from_dict(data)
    micro = build_microstructure(case)
    per_voxel = with_grain_c_per_voxel(micro)
    a, b = compute_properties(micro, case.materials), compute_properties(per_voxel, case.materials)
    assert not a.has_voxel_tensors and b.has_voxel_tensors
    grains = micro.grain_index >= 0
    assert len(b.tensor_table) == len(a.grain_tensor) + grains.sum()
    np.testing.assert_array_equal(b.tensor_table[b.tensor_index[grains]],
                                  a.grain_tensor[micro.grain_index[grains]])
    np.testing.assert_array_equal(a.voxel_axis_sigma, b.voxel_axis_sigma)
    assert total_current(case, per_voxel) == total_current(case, micro)  # two-point: bitwise


def test_grain_orientation_per_voxel_equals_per_grain_with_fem():
    data = base_case((16, 12), model="tensor", ratio_ip_op=RATIO)
    data["microstructure"] = {"source": "voronoi", "n_grains": 6, "seed": 8}
    data["solver"]["discretization"] = "fem"
    case = netsolve.case_from_dict(data)
    micro = build_microstructure(case)
    per_grain = total_current(case, micro)
    assert total_current(case, with_grain_c_per_voxel(micro)) == pytest.approx(per_grain,
                                                                             rel=1e-12)


# --- through an .ang file -----------------------------------------------------------------------

def write_map(path, euler_grid: np.ndarray):
    """Grid-order [x, y] Euler angles -> .ang (image order, row 0 at the top)."""
    write_ang(path, np.swapaxes(euler_grid[:, ::-1], 0, 1), H_NM)
    return path


def ebsd_case(path, shape, discretization="tpfa", **micro) -> netsolve.Case:
    data = base_case(shape, model="tensor", ratio_ip_op=RATIO)
    data["microstructure"] = {"source": "ebsd", "path": str(path), **micro}
    data["solver"]["discretization"] = discretization
    return netsolve.case_from_dict(data)


@pytest.mark.parametrize("discretization", ["tpfa", "fem"])
def test_constant_orientation_per_grain_from_an_ang_file(orix, tmp_path, discretization):
    shape = (16, 10)
    euler = np.zeros(shape + (3,))
    euler[:, :] = np.radians([10.0, 50.0, 20.0])
    euler[6:, 4:] = np.radians([100.0, 80.0, 0.0])
    euler[11:, :3] = np.radians([200.0, 30.0, 60.0])
    path = write_map(tmp_path / "grains.ang", euler)
    mean = ebsd_case(path, shape, discretization)
    voxel = ebsd_case(path, shape, discretization, orientation="voxel")
    micro_mean, micro_voxel = build_microstructure(mean), build_microstructure(voxel)
    np.testing.assert_array_equal(micro_mean.labels, micro_voxel.labels)
    assert micro_voxel.voxel_oriented.all() and micro_mean.voxel_c_axis is None
    # The graph keeps the mean orientations: the same table either way.
    np.testing.assert_array_equal(micro_mean.orientations.c_axis, micro_voxel.orientations.c_axis)
    assert total_current(voxel, micro_voxel) == pytest.approx(
        total_current(mean, micro_mean), rel=1e-9)


def bar_with_gradient(tmp_path, shape, split_axis):
    """One grain whose c-axis is x in the lower half along ``split_axis`` and z in the upper."""
    euler = np.empty(shape + (3,))
    euler[:] = C_ALONG_Z
    lower = [slice(None)] * 2
    lower[split_axis] = slice(0, shape[split_axis] // 2)
    euler[tuple(lower)] = C_ALONG_X
    return write_map(tmp_path / f"bar{split_axis}.ang", euler)


@pytest.mark.parametrize("discretization", ["tpfa", "fem"])
def test_orientation_switch_along_the_current_is_in_series(orix, tmp_path, discretization):
    nx, ny = 12, 5
    path = bar_with_gradient(tmp_path, (nx, ny), split_axis=0)
    # threshold 120 degrees: the two halves (90 degrees apart) stay one grain, no GB resistor
    case = ebsd_case(path, (nx, ny), discretization, orientation="voxel", threshold_deg=120.0)
    micro = build_microstructure(case)
    assert np.unique(micro.labels).tolist() == [1]
    area = H * H  # face area of a cubic voxel layer
    column_resistance = H / area * (nx // 2 / (IP / RATIO) + nx // 2 / IP)
    expected = ny / column_resistance  # ny rows in parallel, 1 V
    assert total_current(case, micro) == pytest.approx(expected, rel=1e-9)
    mean = ebsd_case(path, (nx, ny), discretization, threshold_deg=120.0)
    assert total_current(mean, build_microstructure(mean)) != pytest.approx(expected, rel=1e-2)


@pytest.mark.parametrize("discretization", ["tpfa", "fem"])
def test_orientation_switch_across_the_current_is_in_parallel(orix, tmp_path, discretization):
    nx, ny = 9, 8
    path = bar_with_gradient(tmp_path, (nx, ny), split_axis=1)
    case = ebsd_case(path, (nx, ny), discretization, orientation="voxel", threshold_deg=120.0)
    area = H * H
    expected = (ny // 2) * (IP / RATIO) * area / (nx * H) + (ny // 2) * IP * area / (nx * H)
    assert total_current(case, build_microstructure(case)) == pytest.approx(expected, rel=1e-9)


def test_grains_entry_overrides_the_voxel_orientations(orix, tmp_path):
    nx, ny = 12, 5
    path = bar_with_gradient(tmp_path, (nx, ny), split_axis=0)
    data = base_case((nx, ny), model="tensor", ratio_ip_op=RATIO)
    data["microstructure"] = {"source": "ebsd", "path": str(path), "orientation": "voxel",
                              "threshold_deg": 120.0}
    data["grains"] = [{"id": 1, "c_axis": [0.0, 0.0, 1.0]}]
    case = netsolve.case_from_dict(data)
    micro = build_microstructure(case)
    assert not micro.voxel_oriented.any()
    assert total_current(case, micro) == pytest.approx(ny * IP * H * H / (nx * H), rel=1e-9)


def test_bad_pixels_take_their_grains_orientation(orix, tmp_path):
    shape = (10, 6)
    euler = np.empty(shape + (3,))
    euler[:] = C_ALONG_Z
    ci = np.ones(shape)
    ci[4, 2] = -1.0  # not indexed: merged into the grain, orientation from the grain
    path = tmp_path / "bad.ang"
    write_ang(path, np.swapaxes(euler[:, ::-1], 0, 1), H_NM, ci=np.swapaxes(ci[:, ::-1], 0, 1))
    micro = build_microstructure(ebsd_case(path, shape, orientation="voxel"))
    assert (micro.phase == 0).all()
    assert not micro.voxel_oriented[4, 2] and micro.voxel_oriented.sum() == ci.size - 1
    np.testing.assert_allclose(micro.voxel_c_axis[micro.voxel_oriented], [[0, 0, 1]] * 59,
                               atol=1e-12)


def test_result_directory_keeps_the_per_voxel_tensors(orix, tmp_path):
    from netsolve.export import read_result_dir
    from netsolve.export.result_dir import write_result

    nx, ny = 12, 5
    path = bar_with_gradient(tmp_path, (nx, ny), split_axis=0)
    result = netsolve.solve(ebsd_case(path, (nx, ny), orientation="voxel", threshold_deg=120.0))
    write_result(result, tmp_path / "out", figures=False)
    saved = read_result_dir(tmp_path / "out")
    tensor = saved.voxel_tensor()
    # The two halves of the one grain: sigma_xx = sigma_op (c along x) and sigma_ip (c along z).
    np.testing.assert_allclose(tensor[: nx // 2, :, 0, 0], IP / RATIO, rtol=1e-9)
    np.testing.assert_allclose(tensor[nx // 2:, :, 0, 0], IP, rtol=1e-9)
    np.testing.assert_array_equal(np.diagonal(tensor, axis1=-2, axis2=-1),
                                  result.properties.voxel_axis_sigma)

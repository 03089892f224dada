"""Export formats read back (VTK ImageData, meshio .vtu/.xdmf, GB network, CSV, GraphML) and
compared with the Result; result directories round-trip; exact GB currents on a bicrystal."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import meshio
import networkx as nx
import numpy as np
import pytest

from conftest import H, base_case, solve_dict, with_labels
from netsolve.errors import CaseError
from netsolve.export import (EXPORT_FILES, export_formats, read_result_dir, result_data,
                             write_result)
from netsolve.analysis.behaviour_map import BEHAVIOUR_CODES
from netsolve.analysis.report import table_columns
from netsolve.export.gbnet import gb_faces
from netsolve.export.vti import read_vti, write_vti
from netsolve.plot import boundary_segments, boundary_voxels

GRAINS = [{"id": 1, "euler_deg": [10.0, 60.0, 0.0]}, {"id": 2, "theta_deg": 30.0,
                                                       "alpha_deg": 60.0},
          {"id": 3, "c_axis": [0.0, 0.0, 1.0]}]


def _polycrystal(tmp_path, shape=(14, 9)):
    """Three grains, a ZrO2 voxel and a floating island of grains 1 and 3 walled in by ZrO2."""
    labels = np.ones(shape, dtype=np.int32)
    labels[shape[0] // 2:] = 2
    labels[:, shape[1] * 2 // 3:] = 3
    labels[3, 2] = -1
    if len(shape) == 2:
        labels[8:13, 0:4] = -1
        labels[9:12, 0:3] = 3
        labels[9:12, 0] = 1
    data = with_labels(base_case(shape, "tensor", ratio_ip_op=100.0, ratio_ip_gb=20.0,
                                 gb_thickness_nm=1.0), labels, tmp_path,
                       phases={"zro2": -1}, grains=GRAINS)
    return solve_dict(data, tmp_path)


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    result = _polycrystal(tmp)
    formats = tuple(f for f in EXPORT_FILES if f != "xdmf" or _has_h5py())
    out = write_result(result, tmp / "result", figures=False, formats=formats)
    return result, out


def _has_h5py() -> bool:
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


def _flat_vtk(array: np.ndarray, ndim: int) -> np.ndarray:
    """A grid array in VTK cell order (x fastest)."""
    if array.ndim == ndim:
        return array.ravel(order="F")
    return np.stack([array[..., k].ravel(order="F") for k in range(array.shape[-1])], axis=1)


def test_result_directory_round_trips(solved):
    result, out = solved
    saved = read_result_dir(out)
    mem = result_data(result)
    for name in ("potential", "current_density", "electric_field", "floating", "grain_tensor",
                 "gb_face_voxels", "gb_face_current", "gb_face_jump"):
        np.testing.assert_array_equal(getattr(saved, name), getattr(mem, name))
    assert saved.electrode_names == ("source", "sink")
    assert saved.electrode_edges == ("left", "right")
    np.testing.assert_array_equal(saved.microstructure.grain_index,
                                  result.microstructure.grain_index)
    # The floating mask (derived from the fields) is the solver's floating set.
    expected = np.zeros(result.microstructure.labels.size, dtype=bool)
    expected[result.network.node_voxel[result.solution.floating]] = True
    assert expected.any()
    np.testing.assert_array_equal(saved.floating.ravel(), expected)
    # Per-voxel tensor: its diagonal is what the two-point links used.
    tensor = saved.voxel_tensor()
    np.testing.assert_allclose(np.diagonal(tensor, axis1=-2, axis2=-1),
                               result.properties.voxel_axis_sigma)


@pytest.mark.parametrize("compress", [True, False])
def test_vti_reads_back_with_the_result_values(solved, tmp_path, compress):
    result, out = solved
    data = read_result_dir(out)
    path = write_vti(data, tmp_path / "f.vti", compress=compress,
                     extra={"behaviour": np.arange(data.labels.size).reshape(data.grid.shape)})
    raw = path.read_bytes()
    root = ET.fromstring(raw[:raw.index(b"_", raw.index(b"<AppendedData")) ] .rstrip()
                         + b"</AppendedData></VTKFile>")
    assert root.get("type") == "ImageData" and root.get("header_type") == "UInt64"
    assert (root.get("compressor") == "vtkZLibDataCompressor") == compress
    image, arrays = read_vti(path)
    nx_, ny = data.grid.shape
    # One cell thick (point extent 0..1 in z: VTK reads nx x ny voxels of the lamella's
    # thickness, a slab ParaView draws; 0..0 was a flat sheet).
    assert image["WholeExtent"] == f"0 {nx_} 0 {ny} 0 1"
    spacing = [float(s) for s in image["Spacing"].split()]
    assert spacing == pytest.approx([H, H, data.grid.thickness_m])
    n = data.labels.size
    assert all(a.shape[0] == n for a in arrays.values())
    np.testing.assert_array_equal(arrays["potential_V"], _flat_vtk(data.potential, 2))
    j = arrays["current_density_A_per_m2"]
    assert j.shape == (n, 3) and not j[:, 2].any()
    np.testing.assert_array_equal(j[:, :2], _flat_vtk(data.current_density, 2))
    np.testing.assert_array_equal(arrays["electric_field_V_per_m"][:, :2],
                                  _flat_vtk(data.electric_field, 2))
    grain_id = np.where(data.phase == 0, data.labels, 0)
    np.testing.assert_array_equal(arrays["grain_id"], _flat_vtk(grain_id, 2))
    np.testing.assert_array_equal(arrays["floating"], _flat_vtk(data.floating, 2))
    np.testing.assert_array_equal(arrays["sigma_xx_S_per_m"],
                                  _flat_vtk(result.properties.voxel_axis_sigma[..., 0], 2))
    np.testing.assert_array_equal(arrays["sigma_xy_S_per_m"],
                                  _flat_vtk(data.voxel_tensor()[..., 0, 1], 2))
    np.testing.assert_array_equal(arrays["behaviour"], np.arange(n).reshape(nx_, ny).ravel("F"))
    if not compress:  # raw layout: [UInt64 byte count][data] at the first offset
        start = raw.index(b"_", raw.index(b"<AppendedData")) + 1
        assert int(np.frombuffer(raw, "<u8", 1, start)[0]) == 8 * n


def test_vti_3d_extent_and_order(tmp_path):
    labels = np.ones((4, 3, 5), dtype=np.int32)
    labels[2:] = 2
    data = with_labels(base_case((4, 3, 5), "isotropic", gb_thickness_nm=1.0), labels, tmp_path)
    res = result_data(solve_dict(data, tmp_path))
    image, arrays = read_vti(write_vti(res, tmp_path / "f.vti"))
    assert image["WholeExtent"] == "0 4 0 3 0 5"
    np.testing.assert_array_equal(arrays["potential_V"], res.potential.ravel(order="F"))
    assert "sigma_yz_S_per_m" in arrays and "sigma_zz_S_per_m" in arrays


def test_vtu_and_xdmf_read_back_with_meshio(solved):
    _, out = solved
    data = read_result_dir(out)
    n = data.labels.size
    for name in ("fields.vtu", "fields.xdmf") if _has_h5py() else ("fields.vtu",):
        mesh = meshio.read(out / name)
        assert sum(len(c.data) for c in mesh.cells) == n
        assert mesh.cells[0].type == "quad"
        np.testing.assert_array_equal(mesh.cell_data["potential_V"][0].ravel(),
                                      data.potential.ravel())
        np.testing.assert_array_equal(mesh.cell_data["current_density_A_per_m2"][0][:, :2],
                                      data.current_density.reshape(n, 2))
        # Cell k's corners enclose voxel k (C order): its centre is the voxel centre.
        centres = mesh.points[mesh.cells[0].data].mean(axis=1)[:, :2]
        i, j = np.unravel_index(np.arange(n), data.grid.shape)
        np.testing.assert_allclose(centres, np.stack([i + 0.5, j + 0.5], 1) * H)
    assert (out / "fields.h5").is_file() == _has_h5py()


def test_gb_network_cells_carry_the_gb_table(solved):
    result, out = solved
    mesh = meshio.read(out / "gb_network.vtu")
    cells = mesh.cells[0]
    assert cells.type == "line"
    table = result.gb_table
    columns = table_columns(table)
    graph = result.graph
    assert len(cells.data) == sum(d["n_faces"] for _, _, d in graph.edges(data=True))
    cd = {k: v[0] for k, v in mesh.cell_data.items()}
    assert (cd["grain_a"] < cd["grain_b"]).all()
    # Every segment has length h and lies on a face between its two grains.
    length = np.linalg.norm(mesh.points[cells.data[:, 1]] - mesh.points[cells.data[:, 0]], axis=1)
    np.testing.assert_allclose(length, H)
    # Each face carries the gb_table.csv row of its segment, and gb_row is its whole GB.
    row, whole = cd["table_row"], cd["gb_row"]
    for name in ("segment", "n_faces", "psi_deg", "risk_score", "current_A", "jump_V",
                 "misorientation_deg", "path_misorientation_deg", "length_m"):
        np.testing.assert_array_equal(cd[name], columns[name][row].astype(float))
    np.testing.assert_array_equal(table.grain_a[row], cd["grain_a"])
    np.testing.assert_array_equal(table.grain_b[whole], cd["grain_b"])
    assert (table.segment[whole] == -1).all()
    codes = np.array([BEHAVIOUR_CODES[str(b)] for b in table.behaviour[row]])
    np.testing.assert_array_equal(cd["behaviour_code"], codes)
    blocking = np.asarray(table.blocking)[row]
    np.testing.assert_array_equal(cd["blocking"].astype(bool), blocking)
    # Per-GB sums are the sums of the face values.
    for gb in np.unique(whole):
        faces = whole == gb
        assert np.nansum(cd["face_current_A"][faces]) == pytest.approx(
            table.current_A[gb], rel=1e-12, abs=1e-30)
        assert np.nansum(np.abs(cd["face_current_A"][faces])) == pytest.approx(
            table.abs_current_A[gb], rel=1e-12, abs=1e-30)
        assert np.isfinite(cd["face_current_A"][faces]).sum() == table.n_solved_faces[gb]
    # GB (1, 3): solved in the sample, unsolved (NaN) in the floating island.
    pair = (cd["grain_a"] == 1) & (cd["grain_b"] == 3)
    assert np.isnan(cd["face_current_A"][pair]).sum() == 3
    assert np.isfinite(cd["face_current_A"][pair]).sum() == 7


def test_bicrystal_gb_current_and_jump_are_exact(tmp_path):
    """All current crosses the single GB: net GB current = I; each face's drop = I_face / (G A)."""
    labels = np.ones((10, 4), dtype=np.int32)
    labels[5:] = 2
    data = with_labels(base_case((10, 4), "isotropic", ratio_ip_gb=20.0, gb_thickness_nm=1.0),
                       labels, tmp_path)
    result = solve_dict(data, tmp_path)
    res = result_data(result)
    table = res.gb_table
    row = table.row(1, 2)
    assert table.current_A[row] == pytest.approx(result.total_current_A, rel=1e-12)
    assert table.abs_current_A[row] == pytest.approx(result.total_current_A, rel=1e-12)
    faces = gb_faces(res)
    g_gb = (2.0 / 20.0) / 1e-9  # sigma_GB / t_GB, S/m^2
    np.testing.assert_allclose(faces.jump_V, faces.current_A / (g_gb * H * H), rtol=1e-12)
    assert table.gb_field_V_m[row] == pytest.approx(faces.jump_V.mean() / 1e-9, rel=1e-12)


def test_tables_round_trip_through_the_result_directory(solved):
    """grain_table.csv / gb_table.csv read back equal the Result's tables (10 digits)."""
    result, out = solved
    saved = read_result_dir(out)
    for mem, back in ((result.grain_table, saved.grain_table), (result.gb_table, saved.gb_table)):
        expected, got = table_columns(mem), table_columns(back)
        assert list(got) == list(expected)
        for name, column in expected.items():
            if column.dtype.kind in "fc":
                np.testing.assert_allclose(got[name], column, rtol=1e-9, equal_nan=True,
                                           err_msg=name)
            else:
                assert got[name].tolist() == column.tolist(), name
    for name in ("face_lower_voxel", "face_axis", "face_segment_row"):
        np.testing.assert_array_equal(getattr(saved.gb_table, name),
                                      getattr(result.gb_table, name))


def test_vti_gb_behaviour_is_the_most_severe_touching_face(solved):
    result, out = solved
    _, arrays = read_vti(out / "fields.vti")
    table = result.gb_table
    shape = result.microstructure.grid.shape
    expected = np.full(shape, -1)
    for lower, axis, row in zip(table.face_lower_voxel, table.face_axis,
                                table.face_segment_row):  # per face: a small map
        i = np.array(np.unravel_index(lower, shape))
        j = i.copy()
        j[axis] += 1
        code = BEHAVIOUR_CODES[str(table.behaviour[row])]
        for voxel in (tuple(i), tuple(j)):
            expected[voxel] = max(expected[voxel], code)
    assert (expected >= 0).any()
    np.testing.assert_array_equal(arrays["gb_behaviour"], _flat_vtk(expected, 2))


def test_csv_and_graphml_match_the_result(solved):
    result, out = solved
    data = read_result_dir(out)
    assert not (out / "grains.csv").exists() and not (out / "grain_boundaries.csv").exists()
    with open(out / "grain_table.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["grain_id"]) for r in rows] == [1, 2, 3]
    j = np.linalg.norm(data.current_density, axis=-1)
    for r in rows:
        mask = (data.labels == int(r["grain_id"])) & np.isfinite(data.potential)
        assert float(r["mean_potential_V"]) == pytest.approx(data.potential[mask].mean(),
                                                             rel=1e-9)
        assert float(r["mean_abs_j_A_m2"]) == pytest.approx(j[mask].mean(), rel=1e-9)
        assert int(r["n_voxels"]) == int((data.labels == int(r["grain_id"])).sum())
    with open(out / "gb_table.csv", newline="") as f:
        gb_rows = [r for r in csv.DictReader(f) if r["segment"] == "-1" and r["grain_b"] != "-1"]
    assert len(gb_rows) == result.graph.number_of_edges()
    graph = nx.read_graphml(out / "grains.graphml")
    assert graph.number_of_nodes() == 3 and graph.number_of_edges() == len(gb_rows)
    for r in gb_rows:
        edge = graph.edges[r["grain_a"], r["grain_b"]]
        assert edge["current_A"] == pytest.approx(float(r["current_A"]), rel=1e-9, abs=1e-30)
        assert edge["behaviour"] == r["behaviour"] and edge["subtype"] == r["subtype"]
        assert edge["n_faces"] == int(r["n_faces"])
    for r in rows:
        node = graph.nodes[r["grain_id"]]
        assert node["mean_potential_V"] == pytest.approx(float(r["mean_potential_V"]), rel=1e-9)


def test_boundary_segments_cover_every_face_once():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, size=(30, 20))
    segments = boundary_segments(labels)
    n_faces = int((labels[1:] != labels[:-1]).sum() + (labels[:, 1:] != labels[:, :-1]).sum())
    lengths = np.abs(segments[:, 1] - segments[:, 0]).sum(axis=1)
    assert lengths.sum() == n_faces
    # Merged runs: one segment per run, never two touching collinear segments.
    assert len(segments) < n_faces


def test_boundary_voxels_are_both_sides_of_every_face():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, size=(12, 9))
    expected = np.zeros(labels.shape, dtype=bool)
    for i in range(12):  # per voxel: a small map
        for j in range(9):
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                if 0 <= i + di < 12 and 0 <= j + dj < 9 and labels[i + di, j + dj] != labels[i, j]:
                    expected[i, j] = True
    np.testing.assert_array_equal(boundary_voxels(labels), expected)


def test_read_result_dir_errors(tmp_path, solved):
    with pytest.raises(CaseError, match="missing summary.json"):
        read_result_dir(tmp_path)
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(CaseError, match="missing fields.npz"):
        read_result_dir(tmp_path)
    np.savez(tmp_path / "fields.npz", potential=np.zeros(3))
    with pytest.raises(CaseError, match="fields.npz: missing array 'current_density'"):
        read_result_dir(tmp_path)


def test_a_damaged_table_is_one_clear_error(solved, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(solved[1], out)
    with open(out / "gb_table.csv", newline="") as f:
        rows = list(csv.reader(f))
    column = rows[0].index("risk_score")
    with open(out / "gb_table.csv", "w", newline="") as f:
        csv.writer(f).writerows([r[:column] + r[column + 1:] for r in rows])
    with pytest.raises(CaseError, match="gb_table.csv: missing column 'risk_score'"):
        read_result_dir(out)
    (out / "gb_table.csv").write_text("grain_a,grain_b\n1\n")
    with pytest.raises(CaseError, match="gb_table.csv: rows of different lengths"):
        read_result_dir(out)


def test_export_formats_rejects_unknown_names(solved, tmp_path):
    with pytest.raises(CaseError, match="unknown export format 'vtk'"):
        export_formats(read_result_dir(solved[1]), tmp_path, ["vtk"])

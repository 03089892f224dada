"""The faster writers of the default outputs give the files of the writers they replaced:
gb_network.vtu (own VTK XML writer instead of meshio), fields.vti (one copy per array, tensor
components gathered per component), the CSV tables (formatted per column), GraphML (written
directly instead of networkx's writer) read back equal to what the old writers wrote."""

from __future__ import annotations

import csv
import io
import json

import meshio
import networkx as nx
import numpy as np
import pytest

from conftest import base_case, solve_dict, with_labels
from netsolve.export import read_result_dir, result_data, write_result
from netsolve.export.gbnet import face_cells, gb_cell_data, gb_faces, write_gb_network
from netsolve.export.vti import read_vti, voxel_arrays, write_vti

GRAINS = [{"id": 1, "euler_deg": [10.0, 60.0, 0.0]}, {"id": 2, "theta_deg": 30.0,
                                                       "alpha_deg": 60.0},
          {"id": 3, "c_axis": [0.0, 0.0, 1.0]}, {"id": 4, "euler_deg": [70.0, 20.0, 5.0]}]


def _solved(tmp_path, shape):
    """Four grains, ZrO2 voxels, a backbone voxel and a floating island (2D or 3D)."""
    labels = np.ones(shape, dtype=np.int32)
    labels[shape[0] // 2:] = 2
    labels[:, shape[1] * 2 // 3:] = 3
    labels[: shape[0] // 3, : shape[1] // 3] = 4
    labels[3, 2] = -1
    labels[5, 1] = -2
    if len(shape) == 2:
        labels[8:13, 0:4] = -1
        labels[9:12, 0:3] = 3
    data = with_labels(base_case(shape, "tensor", ratio_ip_op=100.0, ratio_ip_gb=20.0,
                                 gb_thickness_nm=1.0), labels, tmp_path,
                       phases={"zro2": -1, "backbone": -2}, grains=GRAINS)
    result = solve_dict(data, tmp_path)
    out = write_result(result, tmp_path / "result", figures=False, formats=("csv",))
    return result, read_result_dir(out)


@pytest.fixture(scope="module", params=[(14, 9), (8, 6, 5)], ids=["2d", "3d"])
def solved(request, tmp_path_factory):
    return _solved(tmp_path_factory.mktemp("writers"), request.param)


def _meshio_gb_network(data, path):
    """The GB network as netsolve wrote it before (meshio's .vtu writer)."""
    faces = gb_faces(data)
    points, cells = face_cells(faces.lower, faces.axis, data.grid.shape, data.grid.voxel_size_m)
    kind = "line" if data.grid.ndim == 2 else "quad"
    mesh = meshio.Mesh(points, [(kind, cells)],
                       cell_data={k: [v] for k, v in gb_cell_data(data, faces).items()})
    meshio.write(path, mesh, file_format="vtu")


def test_gb_network_equals_the_meshio_file(solved, tmp_path):
    _, data = solved
    _meshio_gb_network(data, tmp_path / "old.vtu")
    old = meshio.read(tmp_path / "old.vtu")
    new = meshio.read(write_gb_network(data, tmp_path / "new.vtu"))
    assert [c.type for c in new.cells] == [c.type for c in old.cells]
    assert len(new.cells[0].data) > 0
    np.testing.assert_array_equal(new.points, old.points)
    np.testing.assert_array_equal(new.cells[0].data, old.cells[0].data)
    assert sorted(new.cell_data) == sorted(old.cell_data)
    for name, (values,) in old.cell_data.items():
        assert new.cell_data[name][0].dtype == values.dtype, name
        np.testing.assert_array_equal(new.cell_data[name][0], values, err_msg=name)
    raw = (tmp_path / "new.vtu").read_bytes()
    assert raw.startswith(b'<?xml version="1.0"?>\n<VTKFile type="UnstructuredGrid"')
    assert b'header_type="UInt64" compressor="vtkZLibDataCompressor"' in raw


def test_gb_network_cells_are_grouped_by_table_row(solved):
    """Faces of one GB-table row are contiguous (rows in table order), (axis, lower voxel)
    inside a row, and they are all the grain|grain faces the fields carry, once each."""
    _, data = solved
    faces = gb_faces(data)
    rows = gb_cell_data(data, faces)["table_row"]
    assert len(rows) > 3 and (np.diff(rows) >= 0).all() and len(np.unique(rows)) > 1
    n_vox = data.labels.size
    keys = faces.axis.astype(np.int64) * n_vox + faces.lower
    for row in np.unique(rows):  # loop over a handful of rows
        assert (np.diff(keys[rows == row]) > 0).all()
    solved_keys = data.gb_face_axis.astype(np.int64) * n_vox + data.gb_face_voxels[:, 0]
    np.testing.assert_array_equal(np.sort(keys), np.sort(solved_keys))


def test_summary_is_computed_once_and_handed_out_as_copies(solved):
    result, _ = solved
    first = result.summary()
    assert result.summary() == first
    first["grain_boundaries"] = "changed by a caller"
    first["electrode_currents_A"].clear()
    again = result.summary()
    assert again["grain_boundaries"] != "changed by a caller"
    assert len(again["electrode_currents_A"]) == len(result.case.electrodes)
    assert json.loads(json.dumps(again, allow_nan=False)) == again


def _old_vti_arrays(data) -> dict[str, np.ndarray]:
    """The .vti arrays as the writer before laid them out (full tensor, moveaxis + Fortran)."""
    ndim = data.grid.ndim
    out = {}
    arrays = voxel_arrays(data)
    tensor = data.voxel_tensor()
    for i in range(ndim):
        for j in range(i, ndim):
            arrays[f"sigma_{'xyz'[i]}{'xyz'[j]}_S_per_m"] = tensor[..., i, j]
    for name, array in arrays.items():
        if array.ndim > ndim and ndim == 2:
            array = np.concatenate([array, np.zeros(array.shape[:-1] + (1,))], axis=-1)
        comps = array.shape[ndim:]
        n_comp = int(np.prod(comps)) if comps else 1
        flat = np.moveaxis(array.reshape(data.grid.shape + (n_comp,)), -1, 0)
        flat = flat.reshape(n_comp, -1, order="F").T
        out[name] = flat[:, 0] if n_comp == 1 else flat
    return out


@pytest.mark.parametrize("compress", [True, False])
def test_vti_equals_the_former_layout(solved, tmp_path, compress):
    _, data = solved
    _, arrays = read_vti(write_vti(data, tmp_path / "f.vti", compress=compress))
    old = _old_vti_arrays(data)
    assert list(arrays) == list(old)
    for name, values in old.items():
        np.testing.assert_array_equal(arrays[name], values.astype(arrays[name].dtype),
                                      err_msg=name)
    assert arrays["current_density_A_per_m2"].shape == (data.labels.size, 3)
    assert (arrays["sigma_xx_S_per_m"] > 0).any() and (arrays["sigma_xy_S_per_m"] != 0).any()


def test_tensor_components_are_the_voxel_tensor(solved):
    result, data = solved
    tensor = result_data(result).voxel_tensor()
    components = data.voxel_tensor_components()
    assert len(components) == (3 if data.grid.ndim == 2 else 6)
    for (i, j), values in components.items():
        np.testing.assert_array_equal(values, tensor[..., i, j])


def _old_csv(table) -> str:
    """The CSV text as the writer before produced it (csv.writer, one cell at a time)."""
    from netsolve.analysis.table_csv import _cell, table_columns

    columns = table_columns(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*[[_cell(v) for v in col.tolist()] for col in columns.values()]))
    return buffer.getvalue()


def test_csv_tables_equal_the_former_writer(solved, tmp_path):
    result, data = solved
    for table in (result.grain_table, data.gb_table):
        path = table.write_csv(tmp_path / "t.csv")
        assert path.read_bytes() == _old_csv(table).encode()
        assert len(path.read_text().splitlines()) == len(table) + 1


def test_csv_text_cells_are_quoted_as_csv_does(tmp_path):
    from dataclasses import dataclass

    from netsolve.analysis.table_csv import read_csv_table, write_csv

    @dataclass(frozen=True)
    class Table:
        name: np.ndarray
        value: np.ndarray
        flag: np.ndarray
        count: np.ndarray
        vector: np.ndarray

    text = ["plain", "a, b", 'say "x"', "two\nlines", "tab\there", "", " lead", "plain", "é"]
    n = len(text)
    table = Table(np.array(text, dtype=object),
                  np.array([np.nan, np.inf, -np.inf, -0.0, 1e-300, 123456789012.5, 1 / 3, 2.0,
                            -7.25]),
                  np.arange(n) % 2 == 0, np.arange(n, dtype=np.int64) - 3,
                  np.arange(2 * n, dtype=float).reshape(n, 2) / 7)
    path = write_csv(table, tmp_path / "t.csv")
    assert path.read_bytes() == _old_csv(table).encode()
    back = read_csv_table(Table, path)
    assert back.name.tolist() == text
    np.testing.assert_array_equal(back.flag, table.flag)
    np.testing.assert_array_equal(back.count, table.count)
    empty = Table(*(np.asarray(v)[:0] for v in (table.name, table.value, table.flag,
                                                 table.count, table.vector)))
    assert write_csv(empty, tmp_path / "e.csv").read_bytes() == _old_csv(empty).encode()


def test_csv_repeated_floats_and_text_columns_are_csvs_text(tmp_path, monkeypatch):
    """Floats are formatted once per distinct bit pattern (-0.0 keeps its sign next to 0.0),
    text of a str column unquoted unless csv would quote it (also a carriage return); rows
    written in slices (here of 7 rows: the last one partial)."""
    from dataclasses import dataclass

    from netsolve.analysis import table_csv
    from netsolve.analysis.table_csv import write_csv

    monkeypatch.setattr(table_csv, "ROWS_PER_WRITE", 7)

    @dataclass(frozen=True)
    class Table:
        value: np.ndarray
        small: np.ndarray
        name: np.ndarray

    base = np.array([0.0, -0.0, np.nan, 1 / 3, -1 / 3, 1e-320, np.inf, 2.5])
    values = np.tile(base, 5)[np.random.default_rng(3).permutation(40)]
    names = np.array(["a", "b,c", 'q"q', "cr\rhere", "lf\nhere", "", " x"] * 6 + ["z"] * 3 * 2)
    table = Table(values, values.astype(np.float32), names[:40])
    assert table.name.dtype.kind == "U"
    path = write_csv(table, tmp_path / "t.csv")
    assert path.read_bytes() == _old_csv(table).encode()
    assert "-0," in path.read_text() and "\n0," in path.read_text()


def test_field_colours_are_lognorm_colours():
    """The |J| / |E| maps are coloured by hand: LogNorm's colours, the bad colour where <= 0."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from netsolve.plot_base import log_colours as _log_colours

    values = np.array([[1e-3, 1e-2, 0.5, 1.0], [3.0, 10.0, 1e3, np.nan], [0.0, -1.0, 2e-2, 7.0]])
    norm = LogNorm(vmin=1e-2, vmax=10.0)
    cmap = plt.get_cmap("viridis").with_extremes(bad="#c8c8c8")
    expected = cmap(norm(np.ma.masked_invalid(np.where(values > 0, values, np.nan))),
                    bytes=True)
    got = _log_colours(values, norm, cmap)
    assert got.dtype == np.uint8 and got.shape == values.shape + (4,)
    np.testing.assert_array_equal(got, expected)
    bad = np.round(np.array([200, 200, 200]))
    np.testing.assert_array_equal(got[2, :2, :3], [bad, bad])  # 0 and negative: no current
    np.testing.assert_array_equal(got[1, 3, :3], bad)  # NaN
    assert (_log_colours(values, None, cmap)[..., :3] == 200).all()


def test_grain_colours_are_the_key_in_bytes(solved):
    from matplotlib.colors import to_rgb

    from netsolve.plot_base import PHASE_COLOURS
    from netsolve.plot_grains import grain_colours, orientation_rgb

    _, data = solved
    rgb = grain_colours(data)
    assert rgb.dtype == np.uint8 and rgb.shape == data.grid.shape + (3,)
    ori = data.microstructure.orientations
    gi = data.microstructure.grain_index
    key = np.round(orientation_rgb(ori.theta_rad, ori.alpha_rad) * 255)
    np.testing.assert_array_equal(rgb[gi >= 0], key[gi[gi >= 0]])
    for phase, (_, colour) in PHASE_COLOURS.items():
        np.testing.assert_array_equal(rgb[data.phase == phase].reshape(-1, 3),
                                      np.broadcast_to(np.round(np.array(to_rgb(colour)) * 255),
                                                      ((data.phase == phase).sum(), 3)))
    assert (data.phase == 2).any() and (data.phase == 1).any()  # ZrO2 and backbone voxels


def test_average_ranks_are_scipys_rankdata():
    from scipy.stats import rankdata

    from netsolve.analysis.metrics import average_ranks

    rng = np.random.default_rng(5)
    for values in (rng.integers(0, 7, 200).astype(float), rng.normal(size=50),
                   np.array([3.0]), np.array([2.0, 2.0, 2.0]), np.array([-0.0, 0.0, 1e-300]),
                   np.array([])):
        np.testing.assert_array_equal(average_ranks(values), rankdata(values))


def test_vector_magnitude_is_linalg_norm_bit_for_bit():
    from netsolve.export.data import vector_magnitude

    rng = np.random.default_rng(2)
    for shape in ((31, 17, 2), (9, 8, 7, 3)):
        v = rng.normal(size=shape) * 10.0 ** rng.integers(-20, 20, size=shape)
        v[0, 0] = np.nan
        expected = np.linalg.norm(v, axis=-1)
        got = vector_magnitude(v)
        assert got.shape == shape[:-1] and np.isnan(got[0, 0]).all()
        np.testing.assert_array_equal(got, expected)


def test_pale_grains_colour_every_label_by_its_value(solved):
    import matplotlib.pyplot as plt

    from netsolve.plot_gb import PHASE_GREYS, pale_grains

    _, data = solved
    colours = np.array(plt.get_cmap("Pastel2").colors[:7])
    shade = (data.labels.astype(np.int64) * 0.618034) % 1.0
    expected = np.round(colours[(shade * 7).astype(np.int64)] * 255).astype(np.uint8)
    for phase, grey in PHASE_GREYS.items():
        expected[data.phase == phase] = round(grey * 255)
    np.testing.assert_array_equal(pale_grains(data), expected)


def _same(a, b) -> bool:
    """Equal values of the same type, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    return a == b or (isinstance(a, float) and a != a and b != b)


def _assert_same_graph(new, old):
    assert new.graph == old.graph or all(_same(new.graph[k], v) for k, v in old.graph.items())
    assert list(new.nodes) == list(old.nodes) and sorted(new.edges) == sorted(old.edges)
    for n, attrs in old.nodes(data=True):
        assert set(new.nodes[n]) == set(attrs)
        assert all(_same(new.nodes[n][k], v) for k, v in attrs.items()), [
            (k, v, new.nodes[n][k]) for k, v in attrs.items() if not _same(new.nodes[n][k], v)]
    for a, b, attrs in old.edges(data=True):
        assert set(new.edges[a, b]) == set(attrs)
        assert all(_same(new.edges[a, b][k], v) for k, v in attrs.items()), (a, b)


def test_graphml_reads_back_as_networkx_wrote_it(solved, tmp_path):
    """The result's GraphML (grain table on nodes, GB table on edges, NaN Euler angles, text
    with '>' and '->') read back by networkx equals what networkx's own writer gave."""
    from netsolve.export.grain_tables import write_result_graphml
    from netsolve.graph import _flatten, _scalar

    result, data = solved
    path = write_result_graphml(data, tmp_path / "new.graphml")
    graph = read_result = nx.read_graphml(path, node_type=int)
    # The same graph through networkx's writer (what write_graphml did before).
    from netsolve.export import grain_tables

    captured = {}
    original = grain_tables.write_graphml
    grain_tables.write_graphml = lambda g, p: captured.setdefault("g", g) and p
    try:
        write_result_graphml(data, tmp_path / "unused.graphml")
    finally:
        grain_tables.write_graphml = original
    g = captured["g"]
    flat = nx.Graph(**{k: _scalar(v) for k, v in g.graph.items()})
    flat.add_nodes_from((n, _flatten(d)) for n, d in g.nodes(data=True))
    flat.add_edges_from((a, b, _flatten(d)) for a, b, d in g.edges(data=True))
    nx.write_graphml(flat, tmp_path / "old.graphml")
    old = nx.read_graphml(tmp_path / "old.graphml", node_type=int)
    assert old.number_of_edges() > 0 and any(
        isinstance(v, float) and v != v for _, d in old.nodes(data=True) for v in d.values())
    assert any(">" in str(d.get("reason", "")) for _, _, d in old.edges(data=True))
    _assert_same_graph(read_result, old)
    assert graph.number_of_nodes() == len(result.grain_table)


def test_graphml_escapes_text_and_keeps_types(tmp_path):
    from netsolve.graph import graphml_bytes

    g = nx.Graph(ndim=2, note='a & b < c > "d"')
    g.add_node(1, name="x\ny & <z>", flag=True, count=3, value=float("nan"))
    g.add_node(2, name="plain", flag=False, count=-1, value=2.5e-300)
    g.add_edge(1, 2, reason="'quoted' & \"double\"", n=7, w=float("inf"))
    (tmp_path / "new.graphml").write_bytes(graphml_bytes(g))
    nx.write_graphml(g, tmp_path / "old.graphml")
    new = nx.read_graphml(tmp_path / "new.graphml", node_type=int)
    old = nx.read_graphml(tmp_path / "old.graphml", node_type=int)
    _assert_same_graph(new, old)
    assert new.nodes[1]["name"] == "x\ny & <z>" and new.nodes[1]["flag"] is True
    assert new.edges[1, 2]["w"] == float("inf") and new.graph["note"] == 'a & b < c > "d"'
    with pytest.raises(TypeError):
        graphml_bytes(nx.Graph(bad=[1, 2]))


def test_grown_marks_equal_a_whole_map_maximum_filter():
    from scipy.ndimage import maximum_filter

    from netsolve.plot_raster import grown as _grown

    rng = np.random.default_rng(4)
    for marks in (3, 40, 0):
        raster = np.full((60, 45), -np.inf)
        at = rng.integers(0, 45, size=(marks, 2))
        raster[at[:, 0], at[:, 1]] = rng.normal(size=marks)
        raster[0, 0] = 5.0 if marks == 40 else raster[0, 0]  # a mark at the map's corner
        for reach in (1, 2, 4):
            np.testing.assert_array_equal(
                _grown(raster, reach, np.isfinite(raster)),
                maximum_filter(raster, size=2 * reach + 1))
        mask = np.isfinite(raster)
        np.testing.assert_array_equal(_grown(mask.view(np.uint8), 2, mask),
                                      maximum_filter(mask.view(np.uint8), size=5))


@pytest.mark.parametrize("given", [None, ["j", "grains", "gb"]])
def test_default_figures_leave_out_the_grain_maps_of_a_map_without_grain_boundaries(
        tmp_path, given):
    # one grain: no GB face, so the default figures are the |J| and |E| maps only; an
    # explicit [output] figures draws what it names
    import netsolve

    data = base_case(shape=(8, 6))
    if given is not None:
        data["output"] = {"figures": given}
    result = netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp_path))
    assert len(result.fields.gb_face_axis) == 0
    out = write_result(result, tmp_path / "res", formats=())
    drawn = sorted(p.name for p in out.glob("*.png"))
    expected = (["current_density.png", "electric_field.png"] if given is None else
                ["current_density.png", "gb_map.png", "grain_map.png"])
    assert drawn == expected


def test_default_figures_keep_the_grain_maps_of_a_bicrystal(tmp_path):
    import netsolve

    labels = np.ones((8, 6), dtype=np.int32)
    labels[4:] = 2
    data = with_labels(base_case(shape=(8, 6)), labels, tmp_path)
    result = netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp_path))
    assert len(result.fields.gb_face_axis) > 0
    out = write_result(result, tmp_path / "res", formats=())
    assert sorted(p.name for p in out.glob("*.png")) == [
        "current_density.png", "electric_field.png", "gb_map.png", "grain_map.png"]


def test_uniform_field_figures_get_a_colour_scale_without_warnings(tmp_path):
    # a uniform slab: |J| and |E| take one value, the colour bars still need a range
    import warnings

    import netsolve

    result = netsolve.solve(netsolve.case_from_dict(base_case(shape=(8, 6)), base_dir=tmp_path))
    magnitude = np.linalg.norm(result.fields.current_density, axis=-1)
    assert np.ptp(magnitude) <= 1e-9 * magnitude.max()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = write_result(result, tmp_path / "res", formats=())
    assert (out / "current_density.png").stat().st_size > 0

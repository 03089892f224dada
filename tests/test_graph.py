"""The grain graph: exact geometry of known maps, orientations, GraphML round trip, the CLI."""

from __future__ import annotations

import math
import textwrap

import networkx as nx
import numpy as np
import pytest

import netsolve
from netsolve import cli
from netsolve.graph import build_grain_graph, path_misorientation_deg, write_graphml
from netsolve.microstructure import build_microstructure
from conftest import H, base_case, with_labels


def graph_of(data: dict, tmp_path) -> nx.Graph:
    return build_grain_graph(build_microstructure(netsolve.case_from_dict(data, base_dir=tmp_path)))


def labelled(labels, tmp_path, shape=None, grains=None, phases=None, **grid) -> dict:
    data = with_labels(base_case(shape or labels.shape), labels, tmp_path, phases=phases,
                       grains=grains)
    data["grid"].update(grid)
    return data


def test_2d_bicrystal(tmp_path):
    labels = np.ones((12, 6), dtype=int)
    labels[5:] = 2
    g = graph_of(labelled(labels, tmp_path, thickness_nm=25.0), tmp_path)
    t = 25e-9
    assert g.graph == {"voxel_size_m": H, "thickness_m": pytest.approx(t), "ndim": 2}
    assert sorted(g.nodes) == [1, 2] and list(g.edges) == [(1, 2)]
    e = g.edges[1, 2]
    assert e["n_faces"] == 6
    assert e["length_m"] == 6 * H
    assert e["area_m2"] == pytest.approx(6 * H * t, rel=1e-15)
    assert e["normal"] == (1.0, 0.0)
    assert "volume_m3" not in g.nodes[1]
    assert g.nodes[1]["n_voxels"] == 30 and g.nodes[2]["n_voxels"] == 42
    assert g.nodes[1]["area_m2"] == pytest.approx(30 * H * H, rel=1e-15)
    assert g.nodes[2]["area_m2"] == pytest.approx(42 * H * H, rel=1e-15)
    assert g.nodes[1]["centroid_m"] == pytest.approx((2.5 * H, 3.0 * H), rel=1e-14)
    assert g.nodes[2]["centroid_m"] == pytest.approx((8.5 * H, 3.0 * H), rel=1e-14)


def test_normal_points_from_smaller_to_larger_id(tmp_path):
    labels = np.full((6, 4), 2)
    labels[3:] = 1
    g = graph_of(labelled(labels, tmp_path), tmp_path)
    assert list(g.edges) == [(1, 2)] and g.edges[1, 2]["normal"] == (-1.0, 0.0)


def test_3d_bicrystal(tmp_path):
    labels = np.ones((4, 3, 5), dtype=int)
    labels[2:] = 7
    g = graph_of(labelled(labels, tmp_path), tmp_path)
    assert g.graph["ndim"] == 3 and list(g.edges) == [(1, 7)]
    e = g.edges[1, 7]
    assert e["n_faces"] == 15 and "length_m" not in e
    assert e["area_m2"] == pytest.approx(3 * 5 * H * H, rel=1e-15)
    assert e["normal"] == (1.0, 0.0, 0.0)
    assert g.nodes[7]["volume_m3"] == pytest.approx(30 * H**3, rel=1e-15)
    assert "area_m2" not in g.nodes[7]
    assert g.nodes[7]["centroid_m"] == pytest.approx((3.0 * H, 1.5 * H, 2.5 * H), rel=1e-14)


def test_checkerboard_joins_only_face_neighbours(tmp_path):
    i, j = np.indices((4, 4))
    labels = 1 + i // 2 + 2 * (j // 2)  # 1 | 2 below, 3 | 4 above
    g = graph_of(labelled(labels, tmp_path), tmp_path)
    assert sorted(g.edges) == [(1, 2), (1, 3), (2, 4), (3, 4)]  # no corner contacts
    for (a, b), normal in {(1, 2): (1.0, 0.0), (3, 4): (1.0, 0.0),
                           (1, 3): (0.0, 1.0), (2, 4): (0.0, 1.0)}.items():
        assert g.edges[a, b]["n_faces"] == 2 and g.edges[a, b]["normal"] == normal
        assert g.edges[a, b]["length_m"] == 2 * H
    assert g.nodes[4]["centroid_m"] == pytest.approx((3 * H, 3 * H), rel=1e-14)


def test_l_shaped_grain(tmp_path):
    labels = np.full((3, 3), 2)
    labels[:2, :2] = 1  # grain 2 is an L around grain 1
    g = graph_of(labelled(labels, tmp_path), tmp_path)
    e = g.edges[1, 2]
    assert e["n_faces"] == 4 and e["length_m"] == 4 * H
    assert e["normal"] == pytest.approx((math.sqrt(0.5), math.sqrt(0.5)), rel=1e-15)
    assert g.nodes[2]["n_voxels"] == 5
    assert g.nodes[2]["centroid_m"] == pytest.approx((1.9 * H, 1.9 * H), rel=1e-14)
    assert g.nodes[1]["centroid_m"] == pytest.approx((H, H), rel=1e-14)


def test_enclosed_grain_has_no_mean_normal(tmp_path):
    labels = np.ones((3, 3), dtype=int)
    labels[1, 1] = 2
    g = graph_of(labelled(labels, tmp_path), tmp_path)
    assert g.edges[1, 2]["n_faces"] == 4
    assert all(math.isnan(v) for v in g.edges[1, 2]["normal"])


def test_faces_with_other_phases(tmp_path):
    labels = np.ones((6, 5), dtype=int)
    labels[3, 2] = -1  # ZrO2, 4 grain neighbours
    labels[2, 0] = -3  # backbone, 3 grain neighbours
    labels[5, 4] = -2  # void in a corner, 2 grain neighbours
    data = labelled(labels, tmp_path, phases={"zro2": -1, "void": -2, "backbone": -3})
    data["electrodes"][0]["region"] = {"box": [[0, 1], [0, 5]]}  # 5 faces with the grain
    g = graph_of(data, tmp_path)
    assert list(g.nodes) == [1] and g.number_of_edges() == 0
    node = g.nodes[1]
    assert node["n_voxels"] == 30 - 5 - 3
    assert (node["n_faces_zro2"], node["n_faces_backbone"], node["n_faces_void"],
            node["n_faces_electrode"]) == (4, 3, 2, 5)


def _stripes(ids_along_x, width=2, height=2):
    return np.repeat(np.asarray(ids_along_x), width)[:, None].repeat(height, axis=1)


def test_misorientation_from_euler_angles(tmp_path):
    grains = [{"id": 1, "euler_deg": [0.0, 0.0, 0.0]}, {"id": 2, "euler_deg": [0.0, 90.0, 0.0]},
              {"id": 3, "euler_deg": [120.0, 0.0, 0.0]}]
    g = graph_of(labelled(_stripes([2, 1, 3]), tmp_path, grains=grains), tmp_path)
    assert sorted(g.edges) == [(1, 2), (1, 3)]
    assert g.edges[1, 2]["normal"] == (-1.0, 0.0) and g.edges[1, 3]["normal"] == (1.0, 0.0)
    assert g.edges[1, 2]["misorientation_deg"] == pytest.approx(90.0, abs=1e-9)
    assert g.edges[1, 3]["misorientation_deg"] == pytest.approx(0.0, abs=1e-5)  # 120 about c
    assert g.edges[1, 2]["plane_angle_deg"] == pytest.approx(90.0, abs=1e-9)
    assert g.edges[1, 3]["plane_angle_deg"] == pytest.approx(0.0, abs=1e-5)
    assert g.nodes[2]["euler_deg"] == pytest.approx((0.0, 90.0, 0.0))
    assert g.nodes[2]["c_axis"] == pytest.approx((0.0, 1.0, 0.0), abs=1e-15)
    assert (g.nodes[2]["theta_deg"], g.nodes[2]["alpha_deg"]) == pytest.approx((0.0, 90.0))


def test_plane_angle_and_path_misorientation_from_c_axes(tmp_path):
    grains = [{"id": 1, "theta_deg": 10.0, "alpha_deg": 90.0},
              {"id": 2, "theta_deg": 170.0, "alpha_deg": 90.0},
              {"id": 3, "theta_deg": 100.0, "alpha_deg": 30.0},
              {"id": 4, "c_axis": [1.0, 0.0, 0.0]}]
    g = graph_of(labelled(_stripes([2, 1, 3, 4]), tmp_path, grains=grains), tmp_path)
    assert sorted(g.edges) == [(1, 2), (1, 3), (3, 4)]
    assert g.edges[1, 2]["path_misorientation_deg"] == pytest.approx(20.0, abs=1e-12)
    assert g.edges[1, 2]["plane_angle_deg"] == pytest.approx(20.0, abs=1e-9)
    assert g.edges[1, 3]["path_misorientation_deg"] == pytest.approx(90.0, abs=1e-12)
    assert g.edges[1, 3]["plane_angle_deg"] == pytest.approx(90.0, abs=1e-9)
    assert g.nodes[4]["theta_deg"] == pytest.approx(90.0) and g.nodes[4]["alpha_deg"] == 90.0
    assert g.edges[3, 4]["path_misorientation_deg"] == pytest.approx(10.0, abs=1e-12)
    # c = (1, 0, 0) against c = (sin30 sin100, -sin30 cos100, cos30)
    assert g.edges[3, 4]["plane_angle_deg"] == pytest.approx(
        math.degrees(math.acos(0.5 * math.sin(math.radians(100)))), abs=1e-9)
    for edge in g.edges.values():  # no Euler angles: no crystallographic misorientation
        assert math.isnan(edge["misorientation_deg"])
    assert all(math.isnan(v) for v in g.nodes[4]["euler_deg"])


def test_path_misorientation_can_exceed_misorientation(tmp_path):
    # Planes tilted 5 degrees from the surface, traces 90 degrees apart: a small rotation.
    grains = [{"id": 1, "euler_deg": [0.0, 5.0, 0.0]}, {"id": 2, "euler_deg": [90.0, 5.0, 0.0]}]
    e = graph_of(labelled(_stripes([1, 2]), tmp_path, grains=grains), tmp_path).edges[1, 2]
    assert e["path_misorientation_deg"] == pytest.approx(90.0)
    assert e["plane_angle_deg"] < e["misorientation_deg"] < e["path_misorientation_deg"]


@pytest.mark.parametrize("a,b,expected", [(0, 0, 0), (10, 170, 20), (0, 90, 90), (30, 150, 60),
                                          (179, 1, 2), (45, 134, 89)])
def test_path_misorientation_folding(a, b, expected):
    assert path_misorientation_deg(a, b) == pytest.approx(expected)
    assert path_misorientation_deg(b, a) == pytest.approx(expected)


def _same(x, y) -> bool:
    return (isinstance(x, float) and math.isnan(x) and math.isnan(y)) or x == y


def test_graphml_round_trip(tmp_path):
    labels = _stripes([2, 1, 3], height=3)
    labels[0, 0] = -1
    grains = [{"id": 1, "euler_deg": [10.0, 40.0, 70.0]}, {"id": 2, "c_axis": [1.0, 1.0, 0.0]},
              {"id": 3, "theta_deg": 30.0, "alpha_deg": 60.0}]
    g = graph_of(labelled(labels, tmp_path, grains=grains, phases={"zro2": -1}), tmp_path)
    path = write_graphml(g, tmp_path / "grains.graphml")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    back = nx.read_graphml(path, node_type=int)
    assert {k: v for k, v in back.graph.items() if not k.endswith("_default")} == g.graph
    assert sorted(back.nodes) == sorted(g.nodes) and sorted(back.edges) == sorted(g.edges)
    node = back.nodes[1]
    assert {k for k in node if "centroid" in k} == {"centroid_x_m", "centroid_y_m"}
    assert (node["euler_phi1_deg"], node["euler_Phi_deg"], node["euler_phi2_deg"]) == \
        g.nodes[1]["euler_deg"]
    assert node["c_axis_z"] == g.nodes[1]["c_axis"][2] and node["n_faces_zro2"] == 0
    assert back.nodes[2]["n_faces_zro2"] == 2 and isinstance(back.nodes[2]["n_voxels"], int)
    assert math.isnan(back.nodes[2]["euler_Phi_deg"])
    assert back.edges[1, 2]["normal_x"] == -1.0 and back.edges[1, 3]["normal_y"] == 0.0
    components = {"centroid_m": ["centroid_x_m", "centroid_y_m"],
                  "c_axis": ["c_axis_x", "c_axis_y", "c_axis_z"],
                  "euler_deg": ["euler_phi1_deg", "euler_Phi_deg", "euler_phi2_deg"]}
    for n, attrs in g.nodes(data=True):
        assert len(back.nodes[n]) == len(attrs) + 5  # three vectors became eight scalars
        for key, value in attrs.items():
            names = components.get(key, [key])
            values = value if isinstance(value, tuple) else (value,)
            for name, v in zip(names, values, strict=True):
                assert _same(back.nodes[n][name], v), (n, name)
    for a, b, attrs in g.edges(data=True):
        for key, value in attrs.items():
            if key == "normal":
                assert (back.edges[a, b]["normal_x"], back.edges[a, b]["normal_y"]) == value
            else:
                assert _same(back.edges[a, b][key], value), (a, b, key)
    write_graphml(g, path)  # overwrites in place
    assert nx.read_graphml(path, node_type=int).number_of_edges() == 2


def test_result_carries_the_graph(solve, tmp_path):
    labels = _stripes([1, 2, 3], width=4, height=3)
    result = solve(with_labels(base_case((12, 3)), labels, tmp_path))
    assert result.graph is result.graph  # built once
    assert sorted(result.graph.edges) == [(1, 2), (2, 3)]
    assert result.graph.edges[1, 2]["n_faces"] == 3


CASE = """
[grid]
shape = [6, 4]
voxel_size_nm = 10.0

[microstructure]
source = "labels"
path = "grains.npy"

[[grains]]
id = 1
euler_deg = [0.0, 90.0, 0.0]

[[grains]]
id = 2
euler_deg = [0.0, 0.0, 0.0]

[materials]
sigma_ip_S_per_m = 1.0

[[electrodes]]
name = "source"
region = "left"
potential_V = 1.0

[[electrodes]]
name = "sink"
region = "right"
potential_V = 0.0
"""


def test_cli_graph(tmp_path, capsys, monkeypatch):
    labels = np.ones((6, 4), dtype=np.int32)
    labels[3:] = 2
    np.save(tmp_path / "grains.npy", labels)
    (tmp_path / "bicrystal.toml").write_text(textwrap.dedent(CASE))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["graph", "bicrystal.toml"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "2 grains" in out and "1 grain boundaries" in out
    assert "bicrystal.graphml" in out
    g = nx.read_graphml(tmp_path / "bicrystal.graphml", node_type=int)
    assert list(g.edges) == [(1, 2)] and g.edges[1, 2]["length_m"] == 4 * H
    assert g.edges[1, 2]["misorientation_deg"] == pytest.approx(90.0)
    assert cli.main(["graph", "bicrystal.toml", "-o", "sub.graphml"]) == 0
    assert (tmp_path / "sub.graphml").is_file()


def test_cli_graph_user_errors(tmp_path, capsys):
    assert cli.main(["graph", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("netsolve: error: ") and "nope.toml" in err
    np.save(tmp_path / "grains.npy", np.ones((6, 4), dtype=np.int32))
    (tmp_path / "case.toml").write_text(textwrap.dedent(CASE).replace("[6, 4]", "[6, 5]"))
    assert cli.main(["graph", str(tmp_path / "case.toml"), "-o", str(tmp_path / "g.graphml")]) == 2
    assert "shape" in capsys.readouterr().err and not (tmp_path / "g.graphml").exists()
    (tmp_path / "case.toml").write_text(textwrap.dedent(CASE))
    assert cli.main(["graph", str(tmp_path / "case.toml"), "-o",
                     str(tmp_path / "missing" / "g.graphml")]) == 2
    assert "existing folder" in capsys.readouterr().err

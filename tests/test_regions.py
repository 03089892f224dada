"""[[microstructure.regions]] phase overlays (box, mask, polygon, frame) and polygon electrodes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import netsolve
from conftest import H, base_case, with_labels
from netsolve import cli
from netsolve.errors import CaseError
from netsolve.microstructure import Phase, build_microstructure

SIGMA = 2.0


def with_regions(data: dict, *regions: dict) -> dict:
    data = copy.deepcopy(data)
    data["microstructure"]["regions"] = list(regions)
    return data


def micro(data: dict, tmp_path):
    return build_microstructure(netsolve.case_from_dict(data, base_dir=tmp_path))


def box_mask(shape, *ranges):
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(lo, hi) for lo, hi in ranges)] = True
    return mask


# --------------------------------------------------------------------------- voxel sets


def test_box_overlay(tmp_path):
    m = micro(with_regions(base_case((8, 6)), {"phase": "zro2", "box": [[1, 3], [2, 5]]}), tmp_path)
    expected = box_mask((8, 6), (1, 3), (2, 5))
    assert np.array_equal(m.phase == Phase.ZRO2, expected)
    assert np.array_equal(m.labels, np.where(expected, -1, 1))


def test_mask_overlay(tmp_path):
    mask = np.zeros((8, 6), dtype=bool)
    mask[[0, 3, 7], [5, 1, 0]] = True
    np.save(tmp_path / "pores.npy", mask)
    m = micro(with_regions(base_case((8, 6)), {"phase": "void", "mask": "pores.npy"}), tmp_path)
    assert np.array_equal(m.phase == Phase.VOID, mask)
    assert np.array_equal(m.phase == Phase.GRAIN, ~mask)


def test_polygon_overlay_takes_centres_inside_or_on_the_boundary(tmp_path):
    # Voxel centres are at 5, 15, 25, ... nm; this square passes through centres 5 and 25.
    square = "POLYGON ((5 5, 25 5, 25 25, 5 25, 5 5))"
    m = micro(with_regions(base_case((8, 6)), {"phase": "backbone", "polygon": square}), tmp_path)
    assert np.array_equal(m.phase == Phase.BACKBONE, box_mask((8, 6), (0, 3), (0, 3)))
    triangle = "POLYGON ((0 0, 80 0, 0 60, 0 0))"  # below the line y = 60 - 0.75 x
    m = micro(with_regions(base_case((8, 6)), {"phase": "zro2", "polygon": triangle}), tmp_path)
    x, y = np.meshgrid(np.arange(8) * 10 + 5.0, np.arange(6) * 10 + 5.0, indexing="ij")
    assert np.array_equal(m.phase == Phase.ZRO2, y <= 60 - 0.75 * x)


@pytest.mark.parametrize("width,layers", [(20.0, 2), (15.0, 2), (14.9, 1), (5.0, 1), (30.0, 3)])
def test_frame_overlay(tmp_path, width, layers):
    m = micro(with_regions(base_case((10, 8)), {"phase": "frame", "frame_width_nm": width}),
              tmp_path)
    inner = box_mask((10, 8), (layers, 10 - layers), (layers, 8 - layers))
    assert np.array_equal(m.phase == Phase.BACKBONE, ~inner)
    assert (m.phase == Phase.BACKBONE).sum() == 10 * 8 - (10 - 2 * layers) * (8 - 2 * layers)


def test_frame_sides_and_3d(tmp_path):
    region = {"phase": "backbone", "frame_width_nm": 20.0, "sides": ["left", "top"]}
    m = micro(with_regions(base_case((10, 8)), region), tmp_path)
    assert np.array_equal(m.phase == Phase.BACKBONE,
                          box_mask((10, 8), (0, 2), (0, 8)) | box_mask((10, 8), (0, 10), (6, 8)))
    # 3D: a frame in x and y only, through the whole thickness in z.
    m = micro(with_regions(base_case((6, 5, 4)), {"phase": "backbone", "frame_width_nm": 10.0}),
              tmp_path)
    assert np.array_equal(m.phase == Phase.BACKBONE, ~box_mask((6, 5, 4), (1, 5), (1, 4), (0, 4)))
    m = micro(with_regions(base_case((6, 5, 4)), {"phase": "void", "frame_width_nm": 10.0,
                                                  "sides": ["back"]}), tmp_path)
    assert np.array_equal(m.phase == Phase.VOID, box_mask((6, 5, 4), (0, 6), (0, 5), (3, 4)))


def test_regions_apply_in_file_order(tmp_path):
    data = with_regions(base_case((8, 6)), {"phase": "frame", "frame_width_nm": 10.0},
                        {"phase": "void", "box": [[0, 8], [0, 1]]},
                        {"phase": "zro2", "box": [[3, 5], [0, 6]]})
    m = micro(data, tmp_path)
    expected = np.full((8, 6), Phase.GRAIN)
    expected[~box_mask((8, 6), (1, 7), (1, 5))] = Phase.BACKBONE
    expected[:, 0] = Phase.VOID
    expected[3:5, :] = Phase.ZRO2
    assert np.array_equal(m.phase, expected)


def test_label_values_declared_source_or_fresh(tmp_path):
    data = base_case((8, 6))
    data["microstructure"]["phases"] = {"backbone": -5}
    m = micro(with_regions(data, {"phase": "frame", "box": [[0, 1], [0, 6]]},
                           {"phase": "void", "box": [[7, 8], [0, 6]]}), tmp_path)
    assert set(np.unique(m.labels[0])) == {-5} and set(np.unique(m.labels[7])) == {-6}
    # A phase the source introduced keeps the source's value; new ones go below it.
    data = {**base_case((20, 10)), "microstructure": {
        "source": "voronoi", "n_grains": 4, "zro2_fraction": 0.1, "zro2_radius_nm": 20.0}}
    m = micro(with_regions(data, {"phase": "zro2", "box": [[0, 1], [0, 10]]},
                           {"phase": "void", "box": [[19, 20], [0, 10]]}), tmp_path)
    assert set(np.unique(m.labels[m.phase == Phase.ZRO2])) == {-1}
    assert set(np.unique(m.labels[19])) == {-2}
    # Electrode label values are avoided.
    labels = np.ones((8, 6), dtype=np.int32)
    labels[0] = -1
    data = with_labels(base_case((8, 6)), labels, tmp_path)
    data["electrodes"][0]["region"] = {"label": -1}
    m = micro(with_regions(data, {"phase": "zro2", "box": [[4, 5], [0, 6]]}), tmp_path)
    assert set(np.unique(m.labels[4])) == {-2} and (m.phase[0] == Phase.ELECTRODE).all()


# --------------------------------------------------------------------------- exact resistances


def test_frame_stripes_along_the_current_in_parallel(solve):
    # Backbone rows (2 at the bottom, 2 at the top) along x next to 4 rows of grain.
    data = with_regions(base_case((12, 8)), {"phase": "backbone", "frame_width_nm": 20.0,
                                             "sides": ["bottom", "top"]})
    result = solve(data)
    conductance = (SIGMA * 4 + SIGMA / 250 * 4) * H * H / (12 * H)
    assert 1 / result.effective_resistance_ohm == pytest.approx(conductance, rel=1e-9)


def test_frame_layers_across_the_current_in_series(solve):
    data = with_regions(base_case((12, 8), ratio_ip_backbone=250.0),
                        {"phase": "frame", "frame_width_nm": 30.0, "sides": ["left", "right"]})
    result = solve(data)
    area = 8 * H * H
    exact = (6 * H / SIGMA + 6 * H / (SIGMA / 250)) / area
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-9)


def test_polygon_electrode_equals_box_electrode(solve, tmp_path):
    box = base_case((12, 6))
    box["electrodes"][0]["region"] = {"box": [[0, 2], [1, 5]]}
    poly = copy.deepcopy(box)
    poly["electrodes"][0]["region"] = {"polygon": "POLYGON ((0 10, 20 10, 20 50, 0 50, 0 10))"}
    m_box, m_poly = micro(box, tmp_path), micro(poly, tmp_path)
    assert np.array_equal(m_poly.electrode_index, m_box.electrode_index)
    assert (m_poly.electrode_index == 0).sum() == 2 * 4
    assert solve(poly).effective_resistance_ohm == solve(box).effective_resistance_ohm


# --------------------------------------------------------------------------- errors


BAD_REGIONS = [
    ({"phase": "zro2", "box": [[0, 9], [0, 2]]}, ["microstructure.regions[0].box", "outside"]),
    ({"phase": "zro2", "box": [[0, 2]]}, ["microstructure.regions[0].box", "2 pairs"]),
    ({"phase": "zro2", "mask": "wrong.npy"}, ["wrong.npy", "microstructure.regions[0]", "shape"]),
    ({"phase": "zro2", "mask": "missing.npy"}, ["missing.npy", "not found"]),
    ({"phase": "zro2", "polygon": "POLYGON ((0 0, 10 0"}, ["microstructure.regions[0].polygon",
                                                          "WKT"]),
    ({"phase": "zro2", "polygon": "POINT (1 1)"}, ["microstructure.regions[0].polygon", "Polygon"]),
    ({"phase": "zro2", "polygon": "POLYGON ((1 1, 2 1, 2 2, 1 2, 1 1))"},
     ["microstructure.regions[0].polygon", "no voxel centre"]),
    ({"phase": "grain", "box": [[0, 1], [0, 1]]}, ["microstructure.regions[0].phase", "zro2"]),
    ({"phase": "zro2", "box": [[0, 1], [0, 1]], "frame_width_nm": 10.0},
     ["microstructure.regions[0]", "exactly one geometry", "box, frame_width_nm"]),
    ({"phase": "zro2"}, ["microstructure.regions[0]", "exactly one geometry"]),
    ({"box": [[0, 1], [0, 1]]}, ["microstructure.regions[0].phase"]),
    ({"phase": "zro2", "frame_width_nm": 4.0}, ["microstructure.regions[0].frame_width_nm",
                                                "half a voxel"]),
    ({"phase": "zro2", "frame_width_nm": 10.0, "sides": ["lft"]},
     ["microstructure.regions[0].sides", "'lft'", "left"]),
    ({"phase": "zro2", "frame_width_nm": 10.0, "sides": ["front"]},
     ["microstructure.regions[0].sides", "front"]),
    ({"phase": "zro2", "box": [[0, 1], [0, 1]], "sides": ["left"]},
     ["microstructure.regions[0].sides", "frame"]),
    ({"phase": "zro2", "box": [[0, 1], [0, 1]], "colour": "red"},
     ["microstructure.regions[0].colour"]),
]


@pytest.mark.parametrize("region,words", BAD_REGIONS, ids=[w[0] for _, w in BAD_REGIONS])
def test_bad_regions(tmp_path, region, words):
    np.save(tmp_path / "wrong.npy", np.ones((8, 5), dtype=bool))
    with pytest.raises(CaseError) as err:
        micro(with_regions(base_case((8, 6)), region), tmp_path)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_polygons_need_a_2d_grid(tmp_path):
    square = "POLYGON ((0 0, 20 0, 20 20, 0 20, 0 0))"
    with pytest.raises(CaseError, match=r"microstructure.regions\[0\].polygon.*2D grid"):
        micro(with_regions(base_case((4, 4, 4)), {"phase": "void", "polygon": square}), tmp_path)
    data = base_case((4, 4, 4))
    data["electrodes"][0]["region"] = {"polygon": square}
    with pytest.raises(CaseError, match=r"electrodes.source.region.polygon.*2D grid"):
        micro(data, tmp_path)


def test_bad_polygon_electrodes(tmp_path):
    data = base_case((8, 6))
    data["electrodes"][0]["region"] = {"polygon": "POLYGON ((0 0, 1 1))"}
    with pytest.raises(CaseError, match=r"electrodes.source.region.polygon"):
        micro(data, tmp_path)
    data["electrodes"][0]["region"] = {"polygon": "POLYGON ((1 1, 2 1, 2 2, 1 2, 1 1))"}
    with pytest.raises(CaseError, match="electrode 'source': region.polygon contains no voxel"):
        micro(data, tmp_path)
    data["electrodes"][0]["region"] = {"polygon": "POLYGON ((0 0, 10 0, 10 10, 0 0))",
                                       "box": [[0, 1], [0, 1]]}
    with pytest.raises(CaseError, match="exactly one of"):
        micro(data, tmp_path)


CLI_CASE = """
[grid]
shape = [12, 6]
voxel_size_nm = 10.0

[microstructure]
source = "uniform"

[[microstructure.regions]]
phase = "frame"
frame_width_nm = 10.0

[[microstructure.regions]]
phase = "zro2"
polygon = "POLYGON ((30 10, 50 10, 50 30"

[materials]
conductivity_model = "isotropic"

[[electrodes]]
region = "left"
potential_V = 1.0

[[electrodes]]
region = "right"
potential_V = 0.0
"""


def test_cli_bad_region_exits_2(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text(CLI_CASE)
    status = cli.main(["run", str(tmp_path / "bad.toml"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("netsolve: error: ") and err.count("\n") == 1
    assert "bad.toml" in err and "microstructure.regions[1].polygon" in err
    assert not (tmp_path / "out").exists()
    (tmp_path / "good.toml").write_text(CLI_CASE.replace("50 30", "50 30, 30 30, 30 10))"))
    assert cli.main(["check", str(tmp_path / "good.toml")]) == 0

"""Figures have the requested size, are not blank and show the expected colours; `netsolve
export` / `netsolve plot` write the files and fail in one line on bad input; [output] keys."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from conftest import base_case, solve_dict, with_labels
from netsolve import case_from_dict, cli
from netsolve.errors import CaseError
from netsolve.export import read_result_dir, result_data, write_result
from netsolve.plot import (ELECTRODE_COLOURS, orientation_rgb, plot_current_density,
                           plot_electric_field, plot_gb_map, plot_grain_map)
from netsolve.plot_gb import BEHAVIOUR_COLOURS

GRAINS = [{"id": 1, "theta_deg": 0.0, "alpha_deg": 90.0},   # pure red in the key
          {"id": 2, "theta_deg": 60.0, "alpha_deg": 90.0}]  # pure green... hue 1/3


@pytest.fixture(scope="module")
def result2d(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plot")
    labels = np.ones((40, 30), dtype=np.int32)
    labels[20:] = 2
    labels[5:8, 5:8] = -1
    data = with_labels(base_case((40, 30), "tensor", gb_thickness_nm=1.0), labels, tmp,
                       phases={"zro2": -1}, grains=GRAINS)
    return solve_dict(data, tmp)


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _has_colour(pixels, rgb, tol=8) -> bool:
    target = np.round(np.asarray(rgb) * 255).astype(int)
    return bool((np.abs(pixels - target).max(axis=-1) <= tol).any())


@pytest.mark.parametrize("plot", [plot_current_density, plot_electric_field, plot_grain_map,
                                  plot_gb_map])
def test_figures_have_the_requested_size_and_content(result2d, tmp_path, plot):
    path = plot(result2d, tmp_path / "f.png", size_px=(900, 700), dpi=100)
    image = Image.open(path)
    assert image.size == (900, 700)
    pixels = _pixels(path)
    assert pixels.std() > 20  # not blank
    # Edge electrodes are drawn in their colours (source first, sink second).
    from matplotlib.colors import to_rgb
    assert _has_colour(pixels, to_rgb(ELECTRODE_COLOURS[0]))
    assert _has_colour(pixels, to_rgb(ELECTRODE_COLOURS[1]))


def test_grain_map_uses_the_documented_colour_key(result2d, tmp_path):
    from netsolve.plot_grains import KEY_SATURATION

    pixels = _pixels(plot_grain_map(result2d, tmp_path / "g.png", size_px=(900, 700), dpi=100))
    pastel = [1, 1 - KEY_SATURATION, 1 - KEY_SATURATION]  # hue 0 at the key's saturation
    np.testing.assert_allclose(orientation_rgb(0.0, np.pi / 2), pastel)
    np.testing.assert_allclose(orientation_rgb(0.0, 0.0), [1, 1, 1])  # planes in the surface
    np.testing.assert_allclose(orientation_rgb(np.pi, np.pi / 2), pastel)  # 180-periodic
    assert _has_colour(pixels, orientation_rgb(0.0, np.pi / 2))
    assert _has_colour(pixels, orientation_rgb(np.radians(60.0), np.pi / 2))
    assert _has_colour(pixels, (0x3a / 255,) * 3)  # the ZrO2 particle


def test_current_density_map_has_contours_and_streamlines(result2d, tmp_path):
    plain = _pixels(plot_current_density(result2d, tmp_path / "a.png", size_px=(600, 500),
                                         dpi=100))
    rich = _pixels(plot_current_density(result2d, tmp_path / "b.png", size_px=(600, 500),
                                        dpi=100, contours="potential", streamlines=True))
    assert (np.abs(plain - rich).max(axis=-1) > 40).sum() > 500
    # Equipotentials are black dashes on a white halo, never cyan (a GB behaviour colour).
    assert not _has_colour(rich, to_rgb(BEHAVIOUR_COLOURS["none"]), tol=40)
    assert not _has_colour(rich, (0x66 / 255, 1.0, 1.0), tol=40)


def test_3d_figures_show_three_mid_slices(tmp_path):
    labels = np.ones((8, 6, 5), dtype=np.int32)
    labels[4:] = 2
    data = with_labels(base_case((8, 6, 5), "tensor", gb_thickness_nm=1.0), labels, tmp_path,
                       grains=GRAINS)
    res = result_data(solve_dict(data, tmp_path))
    import matplotlib.pyplot as plt

    titles = []
    original = plt.Figure.savefig

    def spy(fig, *args, **kwargs):
        titles.extend(ax.get_title() for ax in fig.axes if ax.get_title())
        return original(fig, *args, **kwargs)

    plt.Figure.savefig = spy
    try:
        for plot in (plot_current_density, plot_electric_field, plot_grain_map, plot_gb_map):
            path = plot(res, tmp_path / "e.svg")
            assert path.read_text().lstrip().startswith("<?xml")
            slices = [t for t in titles if "plane" in t]
            # In µm like the axes: the centre of the cut voxel layer (10 nm voxels).
            assert slices == ["xy plane at z = 0.025 µm", "xz plane at y = 0.035 µm",
                              "yz plane at x = 0.045 µm"], plot
            titles.clear()
    finally:
        plt.Figure.savefig = original


def _result_dir(result, tmp_path):
    return write_result(result, tmp_path / "res", figures=False, formats=())


def run(argv, capsys):
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_export_and_plot_write_into_the_result(result2d, tmp_path, capsys):
    out = _result_dir(result2d, tmp_path)
    status, stdout, err = run(["export", out, "--format", "vti,graphml"], capsys)
    assert status == 0, err
    assert (out / "fields.vti").is_file() and (out / "grains.graphml").is_file()
    assert not (out / "fields.vtu").exists()
    status, _, err = run(["plot", out, "--what", "grains,j", "--format", "png,pdf"], capsys)
    assert status == 0, err
    for name in ("grain_map.png", "grain_map.pdf", "current_density.png", "current_density.pdf"):
        assert (out / name).stat().st_size > 1000
    assert (out / "grain_map.pdf").read_bytes()[:5] == b"%PDF-"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left over


@pytest.mark.parametrize("argv, words", [
    (["export", "{missing}"], ["not a result directory"]),
    (["export", "{empty}"], ["not a netsolve result directory", "missing summary.json"]),
    (["export", "{res}", "--format", "vti,vtk"], ["unknown export format 'vtk'", "vti"]),
    (["plot", "{res}", "--what", "grain"], ["unknown figure 'grain'", "grains"]),
    (["plot", "{res}", "--format", "jpg"], ["unknown figure format 'jpg'"]),
])
def test_cli_errors_are_one_line(result2d, tmp_path, capsys, argv, words):
    res = _result_dir(result2d, tmp_path)
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "res": res}
    status, _, err = run([a.format(**paths) for a in argv], capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("netsolve: error:")
    for word in words:
        assert word in err
    before = sorted(p.name for p in res.iterdir())
    assert sorted(p.name for p in res.iterdir()) == before


def test_output_table_selects_formats_and_figures(result2d, tmp_path):
    data = base_case()
    data["output"] = {"formats": ["csv"], "figures": ["grains"], "figure_formats": ["svg"]}
    case = case_from_dict(data, tmp_path)
    assert case.output.formats == ("csv",) and case.output.figures == ("grains",)
    result = solve_dict(data, tmp_path)
    out = write_result(result, tmp_path / "r")
    names = sorted(p.name for p in out.iterdir())
    # The analysis tables come with every result; grains without orientation (isotropic
    # model) make their GBs undetermined.
    assert names == ["fields.npz", "gb_table.csv", "grain_map.svg", "grain_table.csv",
                     "netsolve_manifest.json", "summary.json"]
    # the manifest lists every file netsolve wrote (all but itself)
    manifest = json.loads((out / "netsolve_manifest.json").read_text())
    assert manifest["files"] == [n for n in names if n != "netsolve_manifest.json"]
    table = read_result_dir(out).gb_table
    assert set(table.behaviour[table.grain_b > 0].tolist()) <= {"undetermined"}
    assert json.loads((out / "summary.json").read_text())["case"] == "case"
    read_result_dir(out)  # complete
    data["output"] = {"figures": False}
    assert case_from_dict(data, tmp_path).output.figures == ()


@pytest.mark.parametrize("output, words", [
    ({"formats": ["vti", "grapml"]}, ["output.formats", "'grapml'", "did you mean 'graphml'"]),
    ({"formats": "vti"}, ["output.formats", "list of strings"]),
    ({"figures": ["j", "j"]}, ["output.figures", "twice"]),
    ({"figure_formats": ["gif"]}, ["output.figure_formats", "'gif'"]),
    ({"contours": "iso"}, ["output.contours"]),
])
def test_output_table_errors(tmp_path, output, words):
    data = base_case()
    data["output"] = output
    with pytest.raises(CaseError) as err:
        case_from_dict(data, tmp_path)
    for word in words:
        assert word in str(err.value)


def _axes_cells(ax) -> tuple[int, int]:
    """The axes' size in whole pixels (rounded up): the display grid of a reduced map."""
    box = ax.get_window_extent()
    return math.ceil(box.width), math.ceil(box.height)


def test_gb_field_is_painted_on_maps_with_more_voxels_than_pixels(result2d):
    """Small figure, 40 x 30 map in axes of 31 x 30.8 pixels: the GB field is painted at the
    display grid (one cell per pixel), the faces x = 19 | 20 (except at ZrO2) in the cell of
    their lower voxel, 19: cell 15 (cell i starts at voxel floor(40 i / 31))."""
    import matplotlib.pyplot as plt

    from netsolve.plot import Plane, draw_gb_field, gb_field_norm

    data = result_data(result2d)
    fig, ax = plt.subplots(figsize=(1, 1), dpi=40)
    try:
        image = draw_gb_field(ax, data, Plane(0, 1), gb_field_norm(data))
        painted = np.isfinite(np.asarray(image.get_array(), dtype=float).T)
        cells = _axes_cells(ax)
    finally:
        plt.close(fig)
    assert cells == (31, 31) and painted.shape == (31, 30)  # at most one cell per voxel
    expected = np.zeros((31, 30), dtype=bool)
    expected[15, :] = True
    np.testing.assert_array_equal(painted, expected)


def test_gb_behaviour_raster_is_the_voxel_behaviour_map(result2d):
    """Axes with more pixels than voxels, the map still painted (voxels > half the figure's
    width): one cell per voxel, the codes of vti's gb_behaviour (both voxels of a face)."""
    import matplotlib.pyplot as plt

    from netsolve.analysis.behaviour_map import face_behaviour_codes, voxel_behaviour_codes
    from netsolve.plot import Plane, draw_face_values

    data = result_data(result2d)
    table = data.gb_table
    fig, ax = plt.subplots(figsize=(2, 1), dpi=40)  # 80 x 40 pixels, axes 62 x 30.8
    try:
        image = draw_face_values(ax, data, Plane(0, 1), table.face_lower_voxel,
                                 table.face_axis, face_behaviour_codes(table), {}, width=1.0)
        painted = np.asarray(image.get_array(), dtype=float).T
    finally:
        plt.close(fig)
    expected = voxel_behaviour_codes(table, data.grid.shape).astype(float)
    expected[expected < 0] = np.nan
    assert np.isfinite(expected[19:21]).all() and np.isfinite(expected).sum() == 2 * 30
    np.testing.assert_array_equal(painted, expected)


def test_min_px_widens_painted_faces_by_whole_cells(result2d):
    """min_px on a painted map: the marks (one cell wide at a reduced grid, the GB's cell 15)
    grow by ceil((min_px - 1) / 2) cells on each side (one cell per pixel), keeping their
    value."""
    import matplotlib.pyplot as plt

    from netsolve.analysis.behaviour_map import face_behaviour_codes
    from netsolve.plot import Plane, draw_face_values

    data = result_data(result2d)
    table = data.gb_table
    codes = face_behaviour_codes(table).astype(float)
    fig, ax = plt.subplots(figsize=(1, 1), dpi=40)  # 31 pixels for 40 voxels along x
    try:
        image = draw_face_values(ax, data, Plane(0, 1), table.face_lower_voxel,
                                 table.face_axis, codes, {}, width=1.0, min_px=4.0)
        painted = np.asarray(image.get_array(), dtype=float).T
    finally:
        plt.close(fig)
    columns = np.flatnonzero(np.isfinite(painted).any(axis=1))
    np.testing.assert_array_equal(columns, np.arange(13, 18))  # 15 widened by 2 each side
    assert np.isfinite(painted[13:18]).all()
    np.testing.assert_array_equal(np.unique(painted[13:18]), np.unique(codes))


def test_cli_plot_gb_needs_the_gb_table(result2d, tmp_path, capsys):
    out = _result_dir(result2d, tmp_path)
    status, _, err = run(["plot", out, "--what", "gb"], capsys)
    assert status == 0, err
    assert _pixels(out / "gb_map.png").std() > 20
    (out / "gb_table.csv").unlink()
    status, _, err = run(["plot", out, "--what", "gb", "-o", tmp_path / "figs"], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "no gb_table.csv" in err

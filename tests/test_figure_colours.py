"""One colour semantics across the figures (issue 16): red only for blocking GBs, GB lines with
a dark outline on every background, equipotentials in their own style, streamlines weighted by
|J|, conductivity glyphs that show every grain's anisotropy, negligible-current GBs not red."""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

import matplotlib
import matplotlib.figure
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from conftest import base_case, solve_dict, with_labels
from netsolve.analysis import gb_table
from netsolve.export import result_data
from netsolve.plot import (plot_current_density, plot_electric_field, plot_gb_map,
                           plot_grain_map)
from netsolve.plot_base import BLOCKING_RED, NO_CURRENT_COLOUR, OUTLINE, Plane
from netsolve.plot_grains import MIN_WIDTH, conductivity_ellipses, ellipse_width
from netsolve.plot_lines import STREAMLINE_MIN_J, draw_boundaries, streamline_widths

matplotlib.use("Agg")
X, Z = [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]


@pytest.fixture(scope="module")
def ii_b1(tmp_path_factory):
    """A II b1 bicrystal (grain 1 c = z left, grain 2 c = x right, field across): its GB is
    blocking, so the GB map has red; the other figures must not."""
    tmp = tmp_path_factory.mktemp("iib1")
    labels = np.ones((40, 30), np.int32)
    labels[20:] = 2
    labels[5:8, 5:8] = -1
    data = with_labels(base_case((40, 30), "tensor", gb_thickness_nm=1.0), labels, tmp,
                       phases={"zro2": -1},
                       grains=[{"id": 1, "c_axis": Z}, {"id": 2, "c_axis": X}])
    result = solve_dict(data, tmp)
    assert result.gb_table.subtype[result.gb_table.row(1, 2)] == "II b1"
    return result


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _map_pixels(monkeypatch, plot, *args, **kwargs) -> np.ndarray:
    """The pixels of the map panel of a figure (its axes, legend and colour bars left out)."""
    boxes = []
    original = matplotlib.figure.Figure.savefig

    def spy(fig, *a, **k):
        boxes.extend(ax.get_window_extent() for ax in fig.axes if ax.get_xlabel() == "x (µm)")
        return original(fig, *a, **k)

    with monkeypatch.context() as patch:
        patch.setattr(matplotlib.figure.Figure, "savefig", spy)
        pixels = _pixels(plot(*args, **kwargs))
    box = boxes[0]
    height = pixels.shape[0]
    return pixels[int(height - box.y1) + 2:int(height - box.y0) - 2,
                  int(box.x0) + 2:int(box.x1) - 2]


def _reddish(pixels: np.ndarray) -> np.ndarray:
    """Pixels a reader would call red (the blocking colour and its neighbours)."""
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return (r >= 170) & (g <= 90) & (b <= 90)


def test_red_means_blocking_and_nothing_else(ii_b1, tmp_path, monkeypatch):
    size = dict(size_px=(900, 700), dpi=100)
    gb_map = _map_pixels(monkeypatch, plot_gb_map, ii_b1, tmp_path / "gb.png", **size)
    assert _reddish(gb_map).sum() > 100  # the blocking GB, on the map itself
    assert (np.abs(gb_map - np.round(np.array(to_rgb(BLOCKING_RED)) * 255)).max(-1) <= 4).any()
    for plot in (plot_current_density, plot_electric_field, plot_grain_map):
        kwargs = dict(contours="potential", streamlines=True) if plot is not plot_grain_map \
            else {}
        pixels = _pixels(plot(ii_b1, tmp_path / "f.png", **size, **kwargs))  # whole figure
        assert _reddish(pixels).sum() == 0, plot.__name__


def _render(draw, shape=(40, 30), px=(400, 300)) -> tuple[np.ndarray, object]:
    """Draw into axes filling a figure of ``px`` pixels; the RGB pixels and the data-to-pixel
    transform."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(px[0] / 100, px[1] / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_axis_off()
    ax.set_xlim(0, shape[0] * 0.01)
    ax.set_ylim(0, shape[1] * 0.01)
    draw(ax)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    transform = ax.transData
    plt.close(fig)
    return pixels, transform


@pytest.mark.parametrize("background", ["#000000", "#ffffff", "#fde725", "#440154"])
@pytest.mark.parametrize("px", [(400, 300), (40, 30)])  # lines, and painted voxels
def test_gb_lines_have_a_dark_outline_on_any_background(background, px):
    """A white GB line with a dark outline: both show, whatever the map below (black, white,
    viridis' yellow and purple), drawn as lines or painted on maps with more voxels than
    pixels."""
    labels = np.ones((40, 30), np.int32)
    labels[20:] = 2  # one GB at x = 20 voxels = 0.2 µm
    data = SimpleNamespace(grid=SimpleNamespace(voxel_size_m=1e-8))

    def draw(ax):
        ax.imshow(np.ones((30, 40, 3)) * np.array(to_rgb(background)), origin="lower",
                  extent=[0, 0.4, 0, 0.3])
        draw_boundaries(ax, labels, data, colour="#ffffff", width=1.5)

    pixels, transform = _render(draw, px=px)
    x, y = transform.transform((0.2, 0.15))
    row = pixels[int(round(pixels.shape[0] - y)), :]
    near = row[max(0, int(x) - 6):int(x) + 7]
    dark = np.round(np.array(to_rgb(OUTLINE)) * 255)
    assert (np.abs(near - 255).max(-1) <= 30).any()  # the white core
    assert (np.abs(near - dark).max(-1) <= 40).any()  # the dark outline
    far = row[:max(1, int(x) - 8)]  # away from the line: only the background
    assert (np.abs(far - np.round(np.array(to_rgb(background)) * 255)).max(-1) <= 2).all()


def test_equipotentials_and_streamlines_have_their_own_legend_entries(ii_b1, monkeypatch,
                                                                       tmp_path):
    legends = []
    original = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        for legend in fig.legends:
            legends.append({t.get_text(): h for t, h in zip(legend.get_texts(),
                                                            legend.legend_handles)})
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    plot_current_density(ii_b1, tmp_path / "j.png", contours="potential", streamlines=True)
    [entries] = legends
    assert entries["equipotentials"].get_linestyle() == "--"
    assert entries["grain boundaries"].get_linestyle() == "-"
    assert entries["grain boundaries"].get_color() != entries["equipotentials"].get_color()
    assert "streamlines (width ∝ log magnitude)" in entries
    assert "no current (ZrO2, void, floating)" in entries


def test_streamline_widths_follow_log_magnitude():
    top = 1e5
    values = np.array([top, top * 10, top * STREAMLINE_MIN_J, top * STREAMLINE_MIN_J / 2,
                       top * math.sqrt(STREAMLINE_MIN_J), 0.0, np.nan])
    values = np.concatenate([values, np.full(200, top)])  # the 99th percentile is top
    widths = streamline_widths(values)[:7]
    np.testing.assert_allclose(widths, [2.0, 2.0, 0.3, 0.0, 1.15, 0.0, 0.0])


def test_no_streamlines_where_the_current_is_negligible():
    """Left half |J| = 1, right half 1e-5 of it: every streamline point lies in the left half,
    and the streamlines are drawn at full width there."""
    import matplotlib.pyplot as plt

    from netsolve.plot_lines import draw_streamlines

    vectors = np.zeros((40, 30, 2))
    vectors[:20, :, 1] = 1.0
    vectors[20:, :, 1] = 1e-5
    data = SimpleNamespace(grid=SimpleNamespace(voxel_size_m=1e-8))
    fig, ax = plt.subplots()
    try:
        draw_streamlines(ax, data, Plane(0, 1), vectors)
        [lines] = [c for c in ax.collections if len(c.get_segments())]
        points = np.concatenate(lines.get_segments())
        widths = np.asarray(lines.get_linewidths())
    finally:
        plt.close(fig)
    assert points[:, 0].max() <= 0.2 + 0.01  # x in µm: the left half ends at 0.2
    np.testing.assert_allclose(widths, 2.0)


def test_conductivity_ellipses_show_the_in_plane_anisotropy():
    c30, s30 = math.cos(math.radians(30)), math.sin(math.radians(30))
    rotation = np.array([[c30, -s30], [s30, c30]])
    tensors = np.array([np.eye(2), np.diag([1.0, 1e-3]),
                        rotation @ np.diag([2.0, 0.2]) @ rotation.T])
    angle, top, ratio = conductivity_ellipses(tensors)
    np.testing.assert_allclose(ratio, [1.0, 1e-3, 0.1])
    np.testing.assert_allclose(top, [1.0, 1.0, 2.0])
    np.testing.assert_allclose(angle[1:], [0.0, 30.0], atol=1e-9)
    floor = 1e-3
    np.testing.assert_allclose(ellipse_width(np.array([1.0, floor, 1e-6, math.sqrt(floor)]),
                                             floor), [1.0, MIN_WIDTH, MIN_WIDTH, 0.5])


def test_grain_map_draws_a_circle_for_planes_in_the_surface_and_a_needle_upright(
        tmp_path, monkeypatch):
    """Grain 1: c = z (conducts alike in the plane): a circle; grain 2: c = x (planes upright,
    1000:1 in the plane): a needle along y, the easy direction. Arrows scaled by cos alpha
    drew the needle grain as a dot."""
    labels = np.ones((40, 30), np.int32)
    labels[20:] = 2
    data = with_labels(base_case((40, 30), "tensor"), labels, tmp_path,
                       grains=[{"id": 1, "c_axis": Z}, {"id": 2, "c_axis": X}])
    result = solve_dict(data, tmp_path)
    drawn = []
    original = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        from matplotlib.collections import EllipseCollection

        for ax in fig.axes:
            drawn.extend(c for c in ax.collections if isinstance(c, EllipseCollection))
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    plot_grain_map(result, tmp_path / "g.png")
    [ellipses] = drawn
    widths, heights = ellipses._widths, ellipses._heights  # half axes, in data units
    np.testing.assert_allclose(heights / widths, [1.0, MIN_WIDTH])
    np.testing.assert_allclose(np.degrees(ellipses._angles) % 180, [90.0, 90.0])


def test_gb_map_draws_idle_blocking_gbs_grey_not_red(tmp_path, monkeypatch):
    """The pocket GB of test_gb_explain: II b1 but carrying ~0.2 % of the grains' median |J|.
    Red while it counts, the negligible-current grey once the threshold exceeds it."""
    from test_gb_explain import _pocket_case

    result = solve_dict(_pocket_case(tmp_path), tmp_path)
    data = result_data(result)
    k = data.gb_table.row(1, 2)
    band = max(data.gb_table.j_band_a_A_m2[k], data.gb_table.j_band_b_A_m2[k])
    j = np.linalg.norm(result.fields.current_density, axis=-1)
    median = np.median(j[(result.microstructure.phase == 0) & np.isfinite(j)])
    size = dict(size_px=(800, 700), dpi=100)
    counted = _map_pixels(monkeypatch, plot_gb_map, data, tmp_path / "a.png", **size)
    assert _reddish(counted).sum() > 50
    case = replace(result.case, analysis=replace(result.case.analysis,
                                                 negligible_current_rel=2 * band / median))
    idle = replace(data, gb_table=gb_table(case, result.microstructure, result.graph,
                                           result.fields, result.solution.electrode_potential))
    assert idle.gb_table.negligible_current[k] and idle.gb_table.subtype[k] == "II b1"
    pixels = _map_pixels(monkeypatch, plot_gb_map, idle, tmp_path / "b.png", **size)
    assert _reddish(pixels).sum() == 0
    grey = np.round(np.array(to_rgb(NO_CURRENT_COLOUR)) * 255)
    assert (np.abs(pixels - grey).max(-1) <= 1).sum() > 50  # drawn, in the idle grey

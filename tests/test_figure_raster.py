"""Map layers at the display grid (netsolve.plot_raster): exact cell reductions, never fewer
cells than the axes have pixels, colour limits from the whole field, the top colour where the
current is highest, one-voxel-wide blocking GBs kept after the reduction."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.axes
import matplotlib.figure
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from conftest import base_case, solve_dict, with_labels
from netsolve.plot import CURRENT_CMAP, plot_current_density, plot_gb_map
from netsolve.plot_base import BLOCKING_RED
from netsolve.plot_raster import DisplayGrid, display_grid

matplotlib.use("Agg")
X, Z = [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]


def _cells(grid: DisplayGrid, axis: int) -> list[range]:
    stops = list(grid.starts[axis][1:]) + [grid.shape[axis]]
    return [range(a, b) for a, b in zip(grid.starts[axis], stops)]


def test_display_cells_are_runs_of_voxels_and_never_more_than_the_voxels():
    grid = DisplayGrid.of((10, 7), (4, 7))
    assert [list(r) for r in _cells(grid, 0)] == [[0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]
    assert grid.identity is False and grid.cells_shape == (4, 7)
    np.testing.assert_array_equal(grid.cells[0], [0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
    assert DisplayGrid.of((10, 7), (50, 50)).identity  # never finer than the voxels


def test_cell_sums_maxima_and_samples_equal_the_voxels_of_each_cell():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(23, 17, 2))
    grid = DisplayGrid.of((23, 17), (7, 5))  # runs of 3 and 4 voxels
    sums, maxima, sample = grid.sums(values), grid.maxima(values), grid.sample(values)
    for i, ri in enumerate(_cells(grid, 0)):
        for j, rj in enumerate(_cells(grid, 1)):
            block = values[ri.start:ri.stop, rj.start:rj.stop]
            np.testing.assert_allclose(sums[i, j], block.sum(axis=(0, 1)), rtol=1e-12)
            np.testing.assert_array_equal(maxima[i, j], block.max(axis=(0, 1)))
            np.testing.assert_array_equal(sample[i, j], values[(ri.start + ri.stop) // 2,
                                                               (rj.start + rj.stop) // 2])
    mask = np.zeros((23, 17), bool)
    mask[22, 0] = True  # one voxel, in the last cell of a run of 4
    assert grid.any(mask).sum() == 1 and grid.any(mask)[6, 0]


def test_cell_means_of_log_are_geometric_means_of_the_current_carrying_voxels():
    values = np.array([[1.0, 100.0, 0.0, np.nan],
                       [10.0, 1000.0, 0.0, 5.0],
                       [2.0, 0.0, -1.0, 7.0],
                       [8.0, 0.0, 0.0, 0.0]])
    grid = DisplayGrid.of((4, 4), (2, 2))  # 2 x 2 blocks
    mean = grid.mean_log10(values)
    np.testing.assert_allclose(mean[0, 0], np.log10(1.0 * 100 * 10 * 1000) / 4)
    assert np.isnan(mean[0, 1])  # 1 of 4 carries current (5): fewer than half
    np.testing.assert_allclose(mean[1, 0], np.log10(2.0 * 8.0) / 2)  # 2 of 4: half, kept
    assert np.isnan(mean[1, 1])  # one of four (7): no current


def test_display_grid_has_one_cell_per_pixel_of_the_axes():
    fig = matplotlib.figure.Figure(figsize=(4, 3), dpi=50)
    ax = fig.add_axes([0.1, 0.1, 0.8, 0.8])  # 160 x 120 pixels
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    grid = display_grid(ax, (1000, 30))
    assert grid.cells_shape == (160, 30)  # every pixel a cell, at most one cell per voxel
    assert display_grid(ax, (1000, 30), reduce=False).cells_shape == (1000, 30)


@pytest.fixture(scope="module")
def stripes(tmp_path_factory):
    """Two grains in parallel stripes along the field (x): grain 1 (y < 120) conducts along x
    (c = z), grain 2 (c = x) only out of plane: uniform |J|, the highest in grain 1."""
    tmp = tmp_path_factory.mktemp("stripes")
    labels = np.ones((400, 240), np.int32)
    labels[:, 120:] = 2
    data = with_labels(base_case((400, 240), "tensor"), labels, tmp,
                       grains=[{"id": 1, "c_axis": Z}, {"id": 2, "c_axis": X}])
    return solve_dict(data, tmp)


def test_current_map_is_one_image_at_the_axes_pixels_with_the_whole_fields_scale(
        stripes, tmp_path, monkeypatch):
    images, bars, boxes = [], [], []
    imshow, colorbar = matplotlib.axes.Axes.imshow, matplotlib.figure.Figure.colorbar

    def spy_imshow(ax, array, *args, **kwargs):
        images.append(np.asarray(array))
        box = ax.get_window_extent()
        boxes.append((math.ceil(box.width), math.ceil(box.height)))
        return imshow(ax, array, *args, **kwargs)

    def spy_colorbar(fig, mappable, *args, **kwargs):
        bars.append(mappable)
        return colorbar(fig, mappable, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "imshow", spy_imshow)
    monkeypatch.setattr(matplotlib.figure.Figure, "colorbar", spy_colorbar)
    path = plot_current_density(stripes, tmp_path / "j.png", size_px=(500, 420), dpi=100)
    assert Image.open(path).size == (500, 420)
    [image] = images  # one image for the map: colours and GB marks
    assert image.dtype == np.uint8 and image.shape[:2] == boxes[0][::-1]  # [a1, a0]
    assert image.shape[1] < 400  # reduced: fewer cells than voxels along x
    # The colour limits are those of the whole field (LogNorm of its 0.5 / 99.9 percentiles).
    j = np.linalg.norm(stripes.fields.current_density, axis=-1)
    positive = j[np.isfinite(j) & (j > 0)]
    low, high = np.percentile(positive, [0.5, 99.9])
    assert positive.max() <= 2 * high
    norm = bars[0].norm
    assert norm.vmax == positive.max() and norm.vmin == max(low, positive.max() * 1e-6)
    assert j[:, :110].min() >= (1 - 1e-9) * positive.max()  # grain 1: the field's top
    # Grain 1 (the highest |J|) in the colour map's top colour, grain 2 in its bottom one, away
    # from the GB line between them (cells fully below / above it).
    cmap = matplotlib.colormaps[CURRENT_CMAP]
    top, bottom = cmap(1.0, bytes=True), cmap(0.0, bytes=True)
    rows = np.arange(image.shape[0]) * 240 // image.shape[0]  # first voxel of each cell row
    np.testing.assert_array_equal(image[rows < 110], np.broadcast_to(
        top, image[rows < 110].shape))
    np.testing.assert_array_equal(image[rows > 130], np.broadcast_to(
        bottom, image[rows > 130].shape))


def test_one_voxel_wide_blocking_gb_stays_red_at_a_threefold_reduction(tmp_path, monkeypatch):
    """A II b1 bicrystal (blocking GB at x = 199 | 200) of 400 x 240 voxels in a map of about
    130 pixels: the GB is red along the whole height of the map, at least 3 pixels wide."""
    labels = np.ones((400, 240), np.int32)
    labels[200:] = 2
    data = with_labels(base_case((400, 240), "tensor", gb_thickness_nm=1.0), labels, tmp_path,
                       grains=[{"id": 1, "c_axis": Z}, {"id": 2, "c_axis": X}])
    result = solve_dict(data, tmp_path)
    assert result.gb_table.subtype[result.gb_table.row(1, 2)] == "II b1"
    boxes = []
    save = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        boxes.extend(ax.get_window_extent() for ax in fig.axes if ax.get_xlabel() == "x (µm)")
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    path = plot_gb_map(result, tmp_path / "gb.png", size_px=(150, 150), dpi=25)
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    [box] = boxes
    assert 400 / box.width >= 2.5  # voxels per pixel
    height = pixels.shape[0]
    panel = pixels[int(height - box.y1) + 2:int(height - box.y0) - 2,  # inside the frame
                   int(box.x0) + 2:int(box.x1) - 2]
    red = (np.abs(panel - np.round(np.array(to_rgb(BLOCKING_RED)) * 255)).max(-1) <= 4)
    assert red.any(axis=1).all()  # every row of the map
    columns = np.flatnonzero(red.any(axis=0))
    assert columns.size >= 3 and np.ptp(columns) == columns.size - 1  # one band >= 3 px
    middle = (columns.mean() + 0.5) / panel.shape[1]
    assert abs(middle - 0.5) < 0.05  # at x = 200 of 400 voxels


def test_one_voxel_thin_electrode_is_painted_at_a_threefold_reduction(tmp_path, monkeypatch):
    """A source electrode one voxel wide (x = 0, y = 60..179) of a 400 x 240 map shown on ~130
    pixels: its cells (the first column, rows of y 60..179) take its colour in the map's one
    image, and no other cell does."""
    from netsolve.plot_base import ELECTRODE_COLOURS

    data = base_case((400, 240))
    data["electrodes"][0]["region"] = {"box": [[0, 1], [60, 180]]}
    result = solve_dict(data, tmp_path)
    images = []
    imshow = matplotlib.axes.Axes.imshow

    def spy(ax, array, *args, **kwargs):
        images.append(np.asarray(array))
        return imshow(ax, array, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "imshow", spy)
    plot_current_density(result, tmp_path / "j.png", size_px=(150, 150), dpi=25)
    [image] = images
    assert image.shape[1] <= 400 / 2.5  # cells along x: voxels per cell >= 2.5
    colour = np.round(np.array(to_rgb(ELECTRODE_COLOURS[0])) * 255)
    painted = (image[..., :3] == colour).all(axis=-1)
    rows = np.arange(image.shape[0]) * 240 // image.shape[0]  # first voxel of each cell row
    ends = np.append(rows[1:], 240)  # one past the last voxel of each cell row
    inside = (ends > 60) & (rows < 180)
    np.testing.assert_array_equal(painted[:, 0], inside)
    assert not painted[:, 1:].any()

"""The grain map: grains coloured by their c-axis (the key), grain ids and, per grain, its
in-plane conductivity ellipse, which shows the anisotropy of every grain: the long axis along
the easy in-plane direction, the width from the ratio of the smallest to the largest in-plane
conductivity on a log scale, a circle where the grain conducts alike in every in-plane
direction (conduction planes in the surface), a needle for the map's most anisotropic grains
(planes standing upright: sigma_op / sigma_ip).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .export.data import ResultData
from .microstructure import Phase
from .plot_base import (DEFAULT_DPI, PHASE_COLOURS, UM, as_data, figure, finish_axes,
                        fix_layout, mark_edge_electrodes, mark_voxel_electrodes,
                        paint_voxel_electrodes, planes, save)
from .plot_lines import draw_boundaries, painted
from .plot_layout import layout_of
from .plot_raster import PanelRaster

# The key's saturation at alpha = 90 degrees: pastel fills, so that no grain is the red (or
# orange, cyan) that marks a GB behaviour, and black lines and glyphs stay legible on them.
KEY_SATURATION = 0.6
GLYPH_FACE = "#ffffff"
GLYPH_EDGE = "#000000"
# The ellipse width scale: log(ratio) / log(floor), the floor the map's smallest ratio but at
# most NEEDLE_RATIO (a map of nearly isotropic grains keeps round ellipses).
NEEDLE_RATIO = 0.1
MIN_WIDTH = 0.06  # of the length: a needle stays visible as a slim ellipse


def plot_grain_map(result, path: str | Path, *, size_px: tuple[int, int] | None = None,
                   dpi: int = DEFAULT_DPI, max_labels: int = 150,
                   max_glyphs: int = 3000) -> Path:
    """Grains coloured by their c-axis (key: hue = theta, saturation = sin alpha, see
    docs/output.md), grain ids (up to ``max_labels`` grains per panel) and each grain's
    in-plane conductivity ellipse (xy panels only, up to ``max_glyphs`` grains per panel)."""
    from matplotlib.patches import Ellipse, Patch

    data = as_data(result)
    views = planes(data)
    fig, axes, key_ax = figure(data, views, size_px, dpi, key_column=True)
    present = set()
    glyphs = False
    for ax, view in zip(axes, views):
        labels = view.cut(data.labels)
        phase = view.cut(data.phase)
        present |= {int(p) for p in PHASE_COLOURS if (phase == p).any()}
        extent = view.extent_um(data)
        if not painted(labels.shape, ax):  # line segments; painted marks after the layout
            draw_boundaries(ax, labels, data, colour="black", width=0.6, outline=None)
        if view.normal is None or view.normal == 2:
            glyphs |= draw_grain_marks(ax, data, labels, phase, max_labels, max_glyphs)
        mark_voxel_electrodes(ax, data, view, extent)
        finish_axes(ax, view, extent, data)
    draw_colour_key(key_ax)
    handles = [Patch(facecolor=colour, edgecolor="black", label=name)
               for p, (name, colour) in PHASE_COLOURS.items()
               if int(p) in present and p != Phase.ELECTRODE]
    handles += mark_edge_electrodes(axes, data, views)
    if glyphs:
        floor = glyph_floor(data)
        handles += [Ellipse((0, 0), 1.0, 0.35, facecolor=GLYPH_FACE, edgecolor=GLYPH_EDGE,
                            label="in-plane conductivity: long axis along the\n"
                                  "easy Na⁺ direction; width: σ_min/σ_max on a\n"
                                  f"log scale (circle: 1, needle: {floor:.2g})")]
    legend_ax = layout_of(fig).key_legend_ax
    legend_ax.axis("off")
    legend_ax.legend(handles=handles, loc="upper center", frameon=False, fontsize="small",
                     handler_map={Ellipse: _EllipseHandler()})
    fig.suptitle(f"{data.title}: grains coloured by c-axis orientation")
    fix_layout(fig)
    table = _colour_rows(data)
    for ax, view in zip(axes, views):
        # One image per panel at the axes' pixel size (netsolve.plot_raster): the colours of
        # the cells' centre voxels, the painted boundaries over them.
        labels = view.cut(data.labels)
        panel = PanelRaster(ax, labels.shape, view.extent_um(data))
        grid = panel.grid
        panel.fill(table[_colour_row(data, grid.sample(view.cut(data.microstructure.grain_index)),
                                     grid.sample(view.cut(data.phase)))])
        if painted(labels.shape, ax):
            draw_boundaries(ax, labels, data, colour="black", width=0.6, outline=None,
                            panel=panel)
        paint_voxel_electrodes(panel, data, view)
        panel.show()
    return save(fig, path, dpi)


class _EllipseHandler:
    """Legend entry of the conductivity ellipse: a flat ellipse."""

    def legend_artist(self, legend, orig_handle, fontsize, handlebox):
        from matplotlib.patches import Ellipse

        w, h = handlebox.width, handlebox.height
        patch = Ellipse((w / 2 - handlebox.xdescent, h / 2 - handlebox.ydescent), w, 0.45 * h,
                        facecolor=orig_handle.get_facecolor(),
                        edgecolor=orig_handle.get_edgecolor(), transform=handlebox.get_transform())
        handlebox.add_artist(patch)
        return patch


def grain_colours(data: ResultData) -> np.ndarray:
    """RGB per voxel (grid shape + (3,), uint8: an eighth of the memory of floats, and drawn
    faster): grains by the c-axis key, phases by PHASE_COLOURS, white elsewhere."""
    return _colour_rows(data)[_colour_row(data, data.microstructure.grain_index, data.phase)]


def _colour_rows(data: ResultData) -> np.ndarray:
    """The colours (uint8 RGB) of :func:`grain_colours`: one row per grain, then white, then
    one per phase of PHASE_COLOURS."""
    from matplotlib.colors import to_rgb

    ori = data.microstructure.orientations
    table = np.round(np.atleast_2d(orientation_rgb(ori.theta_rad, ori.alpha_rad)) * 255)
    return np.concatenate([table.reshape(-1, 3), [[255, 255, 255]],
                           np.round(np.array([to_rgb(c) for _, c in PHASE_COLOURS.values()])
                                    * 255)]).astype(np.uint8)


def _colour_row(data: ResultData, grain_index: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """The row of :func:`_colour_rows` of voxels: its grain's row, the white row, or its
    phase's colour row."""
    n = int(np.size(data.microstructure.orientations.theta_rad))
    row = np.where(grain_index >= 0, grain_index, n)
    for k, p in enumerate(PHASE_COLOURS):
        row = np.where(phase == p, n + 1 + k, row)
    return row


def orientation_rgb(theta_rad: np.ndarray, alpha_rad: np.ndarray) -> np.ndarray:
    """The c-axis colour key: hue = theta / 180 deg (theta is 180-periodic), saturation =
    KEY_SATURATION x sin alpha, value 1. Grains whose conduction planes lie in the surface
    (alpha = 0, theta undefined) are white; planes standing upright (alpha = 90) have the
    key's full (pastel) saturation."""
    from matplotlib.colors import hsv_to_rgb

    theta, alpha = np.asarray(theta_rad, float), np.asarray(alpha_rad, float)
    hsv = np.stack([np.mod(theta / np.pi, 1.0),
                    KEY_SATURATION * np.clip(np.sin(alpha), 0, 1), np.ones_like(theta)], axis=-1)
    return hsv_to_rgb(hsv)


def conductivity_ellipses(tensors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per in-plane conductivity tensor (n, 2, 2): (angle of the easy direction in degrees,
    [-90, 90), the largest conductivity, the ratio smallest / largest in [0, 1]; 1 for a zero
    tensor)."""
    values, vectors = np.linalg.eigh(np.asarray(tensors, float))  # ascending eigenvalues
    easy = vectors[:, :, 1]
    angle = np.degrees(np.arctan2(easy[:, 1], easy[:, 0]))
    angle = (angle + 90.0) % 180.0 - 90.0  # a direction, not an arrow
    top = values[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(top > 0, np.clip(values[:, 0] / top, 0.0, 1.0), 1.0)
    return angle, top, ratio


def glyph_floor(data: ResultData) -> float:
    """The ratio sigma_min / sigma_max drawn as a needle: the smallest of the map's grains, at
    most NEEDLE_RATIO."""
    tensors = data.grain_tensor[:, :2, :2]
    if not len(tensors):
        return NEEDLE_RATIO
    ratio = conductivity_ellipses(tensors)[2]
    return float(min(max(ratio.min(), 1e-12), NEEDLE_RATIO))


def ellipse_width(ratio: np.ndarray, floor: float) -> np.ndarray:
    """Width / length of the ellipse of a grain with sigma_min / sigma_max = ``ratio``: 1 for
    1, MIN_WIDTH at ``floor`` and below, log-linear between."""
    width = 1.0 - np.log(np.clip(ratio, floor, 1.0)) / np.log(floor)
    return np.maximum(width, MIN_WIDTH)


def draw_grain_marks(ax, data: ResultData, labels2d: np.ndarray, phase2d: np.ndarray,
                     max_labels: int, max_glyphs: int) -> bool:
    """Grain ids and conductivity ellipses at each grain's most interior voxel of the slice;
    False if there are none to draw (or too many: they would be specks)."""
    from matplotlib.collections import EllipseCollection

    grain_labels = np.where(phase2d == Phase.GRAIN, labels2d, 0)
    ids = label_ids(grain_labels)
    if ids.size == 0 or ids.size > max_glyphs:
        return False
    h = data.grid.voxel_size_m * UM
    xy = grain_spots(grain_labels, ids) * h
    rows = np.searchsorted(data.microstructure.orientations.grain_ids, ids)
    angle, _, ratio = conductivity_ellipses(data.grain_tensor[rows][:, :2, :2])
    width = ellipse_width(ratio, glyph_floor(data))
    # Long axis: ~60 % of the typical grain diameter, the same for every grain.
    sizes = np.bincount(np.searchsorted(ids, grain_labels[grain_labels > 0]))
    length = 0.6 * np.sqrt(np.median(sizes)) * h
    ax.add_collection(EllipseCollection(
        np.full(len(ids), length), length * width, angle, units="xy", offsets=xy,
        offset_transform=ax.transData, facecolors=GLYPH_FACE, edgecolors=GLYPH_EDGE,
        linewidths=0.9, zorder=4))
    if ids.size <= max_labels:
        label_grains(ax, xy, ids)
    return True


def label_ids(grain_labels: np.ndarray) -> np.ndarray:
    """The distinct positive labels of a 2D slice, ascending (a count per label value when
    they are not sparse: linear time, where sorting 2048^2 labels took ~0.3 s)."""
    top = int(grain_labels.max(initial=0))
    if top <= 0:
        return np.zeros(0, dtype=grain_labels.dtype)
    if top <= 4 * grain_labels.size:
        counts = np.bincount(grain_labels[grain_labels > 0].astype(np.int64), minlength=top + 1)
        return np.flatnonzero(counts).astype(grain_labels.dtype)
    return np.unique(grain_labels[grain_labels > 0])


def label_grains(ax, xy: np.ndarray, ids: np.ndarray) -> None:
    """Grain ids at the given points (µm), offset up-right, on a pale box."""
    for (x, y), gid in zip(xy, ids.tolist()):  # one label per grain (<= max_labels)
        ax.annotate(str(gid), (x, y), xytext=(3, 3), textcoords="offset points",
                    fontsize="x-small", color="black", zorder=5,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7))


def grain_spots(grain_labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The most interior voxel centre of each grain of a 2D label slice (0 = no grain), in
    voxel units (n, 2)."""
    from scipy import ndimage

    interior = np.ones(grain_labels.shape, dtype=bool)
    interior[1:, :] &= grain_labels[1:, :] == grain_labels[:-1, :]
    interior[:-1, :] &= grain_labels[1:, :] == grain_labels[:-1, :]
    interior[:, 1:] &= grain_labels[:, 1:] == grain_labels[:, :-1]
    interior[:, :-1] &= grain_labels[:, 1:] == grain_labels[:, :-1]
    interior[[0, -1], :] = False  # the map edge bounds a grain like a boundary does
    interior[:, [0, -1]] = False
    depth = ndimage.distance_transform_edt(interior)
    return np.array(ndimage.maximum_position(depth, grain_labels, ids), dtype=float) + 0.5


def draw_colour_key(ax) -> None:
    """The c-axis colour key: a half disc, angle = theta, radius = sin alpha."""
    n = 201
    x, y = np.meshgrid(np.linspace(-1, 1, n), np.linspace(0, 1, n // 2 + 1))
    radius = np.hypot(x, y)
    theta = np.arctan2(y, x)
    rgb = orientation_rgb(theta, np.arcsin(np.clip(radius, 0, 1)))
    rgba = np.concatenate([rgb, (radius <= 1)[..., None].astype(float)], axis=-1)
    ax.imshow(rgba, origin="lower", extent=[-1, 1, 0, 1], interpolation="bilinear")
    ax.set_aspect("equal")
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-0.45, 1.25)
    ax.axis("off")
    for deg in (0, 45, 90, 135, 180):
        t = np.radians(deg)
        ax.text(1.13 * np.cos(t), 1.1 * np.sin(t), f"{deg}°", ha="center", va="center",
                fontsize="x-small")
    ax.text(0, -0.12, "θ: angle;  sin α: radius", ha="center", va="top", fontsize="x-small")
    ax.text(0, -0.3, "white: planes in surface", ha="center", va="top", fontsize="x-small")
    ax.set_title("c-axis key", fontsize="small")

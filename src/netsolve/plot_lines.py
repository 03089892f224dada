"""Lines and marks drawn over the maps: grain boundaries (plain or coloured by a value per voxel
face) with a dark outline, the GB field, equipotentials and iso-|J| lines with a light halo,
streamlines weighted by |J|, hatching where no current flows. Maps with more voxels than pixels
get painted voxel marks instead of ~10^5 line segments, at the display grid of their panel and
in its one image (:mod:`netsolve.plot_raster`).
"""

from __future__ import annotations

import warnings

import numpy as np

from .export.data import ResultData
from .plot_base import (HALO, OUTLINE, UM, Plane, boundary_segments, interpolation,
                        log_colours, outlined)
from .plot_raster import PanelRaster, grown

MAX_OVERLAY_POINTS = 256  # contours and streamlines run on at most this many points per axis
GB_FIELD_CMAP = "viridis"  # no red: red marks blocking GBs
NO_CURRENT_HATCH = "////"
NO_CURRENT_HATCH_COLOUR = "#6e6e6e"
OUTLINE_EXTRA_PT = 1.2  # the outline's width beyond the line's (points)
# Streamlines start only where |J| is at least this fraction of the map's 99th percentile: an
# idle region gets none, instead of as many as the busiest one.
STREAMLINE_MIN_J = 1e-3


def boundary_voxels(labels2d: np.ndarray, lower_only: bool = False) -> np.ndarray:
    """Mask of the voxels next to a voxel face between different labels (both sides, or only
    the lower voxel of each face)."""
    mask = np.zeros(labels2d.shape, dtype=bool)
    for axis in (0, 1):
        differs = np.diff(labels2d, axis=axis) != 0
        low = [slice(None)] * 2
        high = [slice(None)] * 2
        low[axis], high[axis] = slice(None, -1), slice(1, None)
        mask[tuple(low)] |= differs
        if not lower_only:
            mask[tuple(high)] |= differs
    return mask


def draw_boundaries(ax, labels2d: np.ndarray, data: ResultData, colour: str, width: float,
                    outline: str | None = OUTLINE, panel: PanelRaster | None = None) -> None:
    """Grain boundaries (and phase boundaries) of a slice in ``colour`` over a wider
    ``outline`` (None: none); thinner lines on maps with many voxels per pixel so boundaries
    stay visible without hiding the map. On maps with more voxels than about half the
    figure's pixels (:func:`painted`) the voxels on both sides of every boundary face are
    painted instead, into ``panel`` (or an image of their own; the layout must be fixed)."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    extent = [0, labels2d.shape[0] * data.grid.voxel_size_m * UM,
              0, labels2d.shape[1] * data.grid.voxel_size_m * UM]
    if painted(labels2d.shape, ax):
        # ~10^5 line segments would cost seconds. Voxels larger than pixels: the voxels on
        # both sides of each face; else the lower one only, one cell wide after the reduction
        # to the display grid (a maximum: never lost), as thin as a line can be drawn.
        own = panel is None
        panel = PanelRaster(ax, labels2d.shape, extent) if own else panel
        lower_only = not panel.grid.identity
        panel.paint(panel.grid.any(boundary_voxels(labels2d, lower_only)), colour, outline)
        if own:
            panel.show()
        return
    pixels = ax.figure.get_figwidth() * ax.figure.dpi
    width = width * float(np.clip(pixels / max(labels2d.shape) / 2.0, 0.5, 1.0))
    segments = boundary_segments(labels2d, data.grid.voxel_size_m * UM)
    _add_outlined(ax, LineCollection(segments, colors=to_rgba(colour), linewidths=width),
                  segments, width, outline)


def painted(shape, ax) -> bool:
    """Marks of a map of ``shape`` voxels are painted voxels (not line segments): maps drawn
    with more voxels than about half the figure's pixels."""
    return interpolation(shape, ax) != "nearest"


def _add_outlined(ax, lines, segments: np.ndarray, width: float, outline: str | None) -> None:
    """Add a LineCollection over a wider one in ``outline`` (path effects would lose the
    per-segment colours of a colour-mapped collection)."""
    from matplotlib.collections import LineCollection

    if outline is not None:
        ax.add_collection(LineCollection(segments, colors=outline,
                                         linewidths=width + OUTLINE_EXTRA_PT))
    ax.add_collection(lines)


def gb_field_norm(data: ResultData):
    from matplotlib.colors import LogNorm

    field = np.abs(data.gb_field())
    positive = field[np.isfinite(field) & (field > 0)]
    if positive.size == 0:
        return None
    vmax = float(positive.max())
    vmin = max(float(np.percentile(positive, 1)), vmax * 1e-4)
    # One field value on every GB (a bicrystal) still needs a colour bar with a range.
    return LogNorm(vmin=vmin if vmin < 0.999 * vmax else vmax / 10, vmax=vmax)


def draw_gb_field(ax, data: ResultData, view: Plane, norm, panel: PanelRaster | None = None):
    """The GB faces of a slice coloured by |potential drop| / t_GB (viridis, outlined; painted
    into ``panel`` on maps with more voxels than pixels, :func:`draw_face_values`)."""
    values = np.abs(data.gb_field())
    return draw_face_values(ax, data, view, data.gb_face_voxels[:, 0], data.gb_face_axis,
                            values, dict(cmap=GB_FIELD_CMAP, norm=norm), width=1.6,
                            panel=panel)


def draw_face_values(ax, data: ResultData, view: Plane, lower: np.ndarray, axis: np.ndarray,
                     values: np.ndarray, colouring: dict, width: float, min_px: float = 0.0,
                     outline: str | None = OUTLINE, panel: PanelRaster | None = None):
    """Voxel faces (flat lower voxel, normal axis) in the plane of a view, coloured by
    ``values`` with ``colouring`` (cmap, norm) over an ``outline`` (None: none): a
    LineCollection on maps drawn larger than their voxels; otherwise (:func:`painted`) the
    faces painted at the display grid (:mod:`netsolve.plot_raster`: the largest value of the
    faces in each cell, so no face is lost; both voxels of a face where the grid keeps every
    voxel, its lower voxel where cells group voxels), into ``panel`` (or an image of their
    own; the layout must be fixed), the outline a one-pixel halo around them. ``min_px``: on
    painted maps, widen the marks to at least that many pixels (a maximum filter over cells), so
    that a few important faces stay visible on maps with many more voxels than pixels.
    Returns the artist (for a colour bar; painted: a mappable holding the cell values, NaN
    where no face)."""
    from matplotlib.collections import LineCollection

    axis = np.asarray(axis, np.int64)
    coords = np.stack(np.unravel_index(lower, data.grid.shape), axis=1)
    keep = (axis == view.a0) | (axis == view.a1)
    if view.normal is not None:
        keep &= coords[:, view.normal] == view.index
    low = coords[keep][:, [view.a0, view.a1]]
    along_a0 = axis[keep] == view.a0
    values = np.asarray(values, float)[keep]
    plane_shape = (data.grid.shape[view.a0], data.grid.shape[view.a1])
    if painted(plane_shape, ax):
        own = panel is None
        panel = PanelRaster(ax, plane_shape, view.extent_um(data)) if own else panel
        mappable = _paint_faces(panel, low, along_a0, values, colouring, min_px, outline)
        if own:
            panel.show()
        return mappable
    drawn = np.isfinite(values)  # NaN: no line, and no outline either
    low, along_a0, values = low[drawn], along_a0[drawn], values[drawn]
    start = low.astype(float)
    start[along_a0, 0] += 1  # a face normal to a0 sits at the upper side of its lower voxel
    start[~along_a0, 1] += 1
    end = start.copy()
    end[along_a0, 1] += 1
    end[~along_a0, 0] += 1
    segments = np.stack([start, end], axis=1) * data.grid.voxel_size_m * UM
    pixels = ax.figure.get_figwidth() * ax.figure.dpi
    width = width * float(np.clip(pixels / max(plane_shape) / 2.0, 0.4, 1.0))
    lines = LineCollection(segments, array=values, linewidths=width, **colouring)
    _add_outlined(ax, lines, segments, width, outline)
    return lines


def _paint_faces(panel: PanelRaster, low: np.ndarray, along_a0: np.ndarray,
                 values: np.ndarray, colouring: dict, min_px: float, outline):
    """Paint faces (lower voxel [a0, a1] in the plane, normal along a0 or a1) into a panel:
    the cells of both voxels of each face take the largest value of their faces."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm

    grid = panel.grid
    # Voxels larger than pixels: both voxels of each face (a line two voxels wide); else the
    # lower one, one cell wide after the reduction (a maximum: never lost).
    sides = [low] if not grid.identity else [low, low + np.stack([along_a0, ~along_a0], 1)]
    cells = np.concatenate([np.ravel_multi_index((grid.cells[0][side[:, 0]],
                                                  grid.cells[1][side[:, 1]]), grid.cells_shape)
                            for side in sides])
    both = np.concatenate([values] * len(sides))
    ok = np.isfinite(both)
    # The largest value of the faces of each cell (an unbuffered maximum: 20x faster than
    # sorting the faces by cell and value); -inf where no face.
    raster = np.full(grid.cells_shape, -np.inf)
    np.maximum.at(raster.reshape(-1), cells[ok], both[ok])
    reach = int(np.ceil((min_px - 1.0) * grid.per_pixel / 2.0))  # 1 + 2 reach >= min_px
    if reach > 0:
        raster = grown(raster, reach, np.isfinite(raster))
    raster[np.isneginf(raster)] = np.nan
    # The returned mappable carries the values (for a colour bar, and for checks).
    norm = colouring.get("norm")
    mappable = ScalarMappable(norm=norm, cmap=colouring.get("cmap"))
    mappable.set_array(raster.T)
    if norm is None or not norm.scaled():  # (LogNorm masks the whole map to find none)
        mappable.autoscale_None()
    marked = np.isfinite(raster)
    if marked.any():
        colours = (log_colours(raster[marked], norm, mappable.get_cmap())
                   if type(norm) is LogNorm else mappable.to_rgba(raster[marked], bytes=True))
        panel.paint(marked, colours, outline)
    return mappable


def _coarse(array2d: np.ndarray, factor: int) -> np.ndarray:
    """Block means (ignoring NaN) over factor x factor voxels (trailing axes kept)."""
    if factor == 1:
        return array2d
    n0, n1 = (array2d.shape[0] // factor) * factor, (array2d.shape[1] // factor) * factor
    blocks = array2d[:n0, :n1].reshape(n0 // factor, factor, n1 // factor, factor,
                                       *array2d.shape[2:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        return np.nanmean(blocks, axis=(1, 3))


def overlay_grid(data: ResultData, array2d: np.ndarray):
    """(x, y, coarse array) for contours/streamlines: block means on <= MAX_OVERLAY_POINTS."""
    factor = max(1, int(np.ceil(max(array2d.shape[:2]) / MAX_OVERLAY_POINTS)))
    coarse = _coarse(array2d, factor)
    h = data.grid.voxel_size_m * UM * factor
    x = (np.arange(coarse.shape[0]) + 0.5) * h
    y = (np.arange(coarse.shape[1]) + 0.5) * h
    return x, y, coarse


def draw_contours(ax, data, view, kind, magnitude, norm) -> None:
    """Equipotentials (dashed, labelled in V) or iso-|J| lines one per decade (dotted): black
    over a white halo, unlike the GB lines (solid, dark outline)."""
    if kind == "potential":
        x, y, values = overlay_grid(data, view.cut(data.potential))
        finite = values[np.isfinite(values)]
        if finite.size == 0 or finite.min() == finite.max():
            return
        levels = np.linspace(finite.min(), finite.max(), 13)[1:-1]
        lines = ax.contour(x, y, values.T, levels=levels, colors="black", linewidths=0.8,
                           linestyles="dashed")
        lines.set_path_effects(outlined(0.8, HALO, 1.6))
        ax.clabel(lines, fmt="%.3g V", fontsize="x-small")
    elif norm is not None:
        x, y, values = overlay_grid(data, view.cut(magnitude))
        with np.errstate(invalid="ignore", divide="ignore"):
            logs = np.log10(values)
        levels = np.arange(np.ceil(np.log10(norm.vmin)), np.floor(np.log10(norm.vmax)) + 1)
        if levels.size:
            lines = ax.contour(x, y, logs.T, levels=levels, colors="black", linewidths=0.8,
                               linestyles="dotted")
            lines.set_path_effects(outlined(0.8, HALO, 1.6))


def streamline_widths(magnitude: np.ndarray) -> np.ndarray:
    """Line widths (points) for streamlines over |J| (or |E|) values: 0.3 at the threshold
    STREAMLINE_MIN_J x the 99th percentile, 2.0 at the 99th percentile and above, log-linear
    between; 0 below the threshold and where undefined (no line there)."""
    positive = magnitude[np.isfinite(magnitude) & (magnitude > 0)]
    if positive.size == 0:
        return np.zeros_like(magnitude)
    top = float(np.percentile(positive, 99))
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.log10(magnitude / top) / -np.log10(STREAMLINE_MIN_J)  # -1 .. 0
    widths = 0.3 + 1.7 * np.clip(1.0 + level, 0.0, 1.0)
    return np.where(np.isfinite(level) & (level >= -1.0), widths, 0.0)


def draw_streamlines(ax, data, view, vectors) -> None:
    """Streamlines of the in-plane vectors, their width growing with the magnitude (log) and
    none where the magnitude is below STREAMLINE_MIN_J of the map's 99th percentile."""
    cut = view.cut(vectors)[..., [view.a0, view.a1]]
    x, y, coarse = overlay_grid(data, cut)
    magnitude = np.linalg.norm(coarse, axis=-1)
    widths = streamline_widths(magnitude)
    live = widths > 0
    u = np.where(live, np.nan_to_num(coarse[..., 0]), 0.0).T
    v = np.where(live, np.nan_to_num(coarse[..., 1]), 0.0).T
    if not np.any(u) and not np.any(v):
        return
    # Masked (idle) points stop a streamline: it neither starts nor runs there.
    u, v = np.ma.masked_where(~live.T, u), np.ma.masked_where(~live.T, v)
    ax.streamplot(x, y, u, v, density=1.2, color="black", linewidth=widths.T, arrowsize=0.7,
                  broken_streamlines=True)


def draw_no_current(ax, data: ResultData, view: Plane, no_current: np.ndarray) -> None:
    """Hatching over the voxels of a slice that carry no current (ZrO2, void, floating),
    drawn on the overlay grid."""
    x, y, coarse = overlay_grid(data, view.cut(no_current).astype(float))
    if not (coarse >= 0.5).any():
        return
    hatch = ax.contourf(x, y, coarse.T, levels=[0.5, 1.5], colors="none",
                        hatches=[NO_CURRENT_HATCH])
    hatch.set_hatchcolor(NO_CURRENT_HATCH_COLOUR)
    hatch.set_edgecolor("none")

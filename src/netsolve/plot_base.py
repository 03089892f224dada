"""What every figure shares (:mod:`netsolve.plot`, :mod:`netsolve.plot_lines`,
:mod:`netsolve.plot_grains`, :mod:`netsolve.plot_gb`): the colour semantics, the views of the
grid (:class:`Plane`), the figure layout, axes in micrometres, electrodes, saving.

**One colour semantics across all figures**: on a grain boundary, red means blocking (II b1)
and orange blocking or transport along the GB (III a2), cyan no migration across, black
migration across, mid grey undetermined, light grey negligible current; no other line, colour
map or mark uses red, orange or cyan. Field maps use colour maps without red (viridis, greys),
electrodes green, blue, purple, brown, pink, olive. Lines drawn on the maps carry a dark
outline (GBs) or a light halo (equipotentials, iso-|J| lines), so they stay legible on any
background.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .export.data import ResultData, result_data
from .microstructure import Phase
from .plot_layout import MapLayout, layout_of

UM = 1e6
DEFAULT_DPI = 200
DEFAULT_WIDTH_IN = 8.0

# GB behaviour colours (netsolve.plot_gb; the paper's colours)
BLOCKING_RED = "#e8000b"
BLOCKING_ALONG_ORANGE = "#ff8c00"
NONE_CYAN = "#00d5ff"
ACROSS_BLACK = "#000000"
UNDETERMINED_GREY = "#9a9a9a"
NO_CURRENT_COLOUR = "#c8c8c8"  # GBs with negligible current; the hatching of idle voxels
OUTLINE = "#141414"  # the dark outline of GB lines
HALO = "#ffffff"  # the light halo of equipotentials and iso-|J| lines
# No red, orange, cyan or black: those mark GB behaviours.
ELECTRODE_COLOURS = ["#2ca02c", "#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#bcbd22"]
PHASE_COLOURS = {Phase.BACKBONE: ("backbone", "#b0b0b0"), Phase.ZRO2: ("ZrO2", "#3a3a3a"),
                 Phase.VOID: ("void", "#ffffff"), Phase.ELECTRODE: ("electrode", "#ffcc1a")}
EDGES = {"left": (0, False), "right": (0, True), "bottom": (1, False), "top": (1, True),
         "front": (2, False), "back": (2, True)}


@dataclass(frozen=True)
class Plane:
    """A 2D view of the grid: axes (a0 drawn to the right, a1 up); for 3D, the cut ``normal``
    axis and the voxel ``index`` along it."""

    a0: int
    a1: int
    normal: int | None = None
    index: int = 0

    def title(self, voxel_size_m: float) -> str:
        """"xy plane at z = 0.25 µm" (the centre of the cut voxel layer), "" in 2D."""
        if self.normal is None:
            return ""
        position = (self.index + 0.5) * voxel_size_m * UM
        return (f"{'xyz'[self.a0]}{'xyz'[self.a1]} plane at {'xyz'[self.normal]} = "
                f"{position:.3g} µm")

    def cut(self, array: np.ndarray) -> np.ndarray:
        """The [a0, a1] slice of a grid-shaped array (trailing component axes kept)."""
        if self.normal is None:
            return array
        index = [slice(None)] * 3
        index[self.normal] = self.index
        return array[tuple(index)]

    def extent_um(self, data: ResultData) -> list[float]:
        h = data.grid.voxel_size_m * UM
        shape = data.grid.shape
        return [0.0, shape[self.a0] * h, 0.0, shape[self.a1] * h]


def planes(data: ResultData) -> list[Plane]:
    shape = data.grid.shape
    if data.grid.ndim == 2:
        return [Plane(0, 1)]
    return [Plane(0, 1, 2, shape[2] // 2), Plane(0, 2, 1, shape[1] // 2),
            Plane(1, 2, 0, shape[0] // 2)]


def figure(data: ResultData, views: list[Plane], size_px, dpi, key_column: bool,
           extra_bars: int = 0):
    """Figure with one map panel per view (+ a narrow key column); size in pixels or from the
    map's aspect ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shape = data.grid.shape
    n = len(views)
    ratios = [shape[v.a0] / shape[v.a1] for v in views]
    key_ratio = 0.45 * sum(ratios) / n
    if size_px is not None:
        width_in, height_in = size_px[0] / dpi, size_px[1] / dpi
    else:
        width_in = DEFAULT_WIDTH_IN if n == 1 else DEFAULT_WIDTH_IN * 1.6
        # Width left for the maps after axis labels, colour bars or the key column (inches).
        usable = width_in - 0.8 * n - (0.6 if key_column else 1.4)
        if key_column:
            usable *= sum(ratios) / (sum(ratios) + key_ratio)
        map_height = usable / sum(ratios)  # panels side by side share one height
        height_in = min(map_height + (1.6 if key_column else 1.8) + 0.9 * extra_bars, 3 * width_in)
    fig = plt.figure(figsize=(width_in, height_in), dpi=dpi)
    # A fixed layout placed from one measurement (netsolve.plot_layout), not constrained layout
    layout = MapLayout(fig, ratios, key_ratio if key_column else None)
    return fig, layout.maps, layout.key_ax


def finish_axes(ax, view: Plane, extent, data: ResultData) -> None:
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel(f"{'xyz'[view.a0]} (µm)")
    ax.set_ylabel(f"{'xyz'[view.a1]} (µm)")
    ax.set_aspect("equal")
    title = view.title(data.grid.voxel_size_m)
    if title:
        ax.set_title(title, fontsize="medium")


def interpolation(shape, ax) -> str:
    """Nearest for maps drawn larger than their voxels, antialiased when voxels < pixels."""
    fig = ax.figure
    pixels = fig.get_figwidth() * fig.dpi
    return "nearest" if max(shape) < 0.5 * pixels else "antialiased"


def log_colours(values: np.ndarray, norm, cmap) -> np.ndarray:
    """RGBA (uint8, values.shape + (4,)) of ``cmap(norm(values))`` for a LogNorm ``norm``,
    computed with LogNorm's formula on plain arrays (matplotlib's masked arrays took twice the
    time on 2048^2 maps); values <= 0 or NaN get the colour map's "bad" colour (no norm: all
    bad)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.log10(np.where(values > 0, values, np.nan))
    return log10_colours(logs, norm, cmap)


def log10_colours(logs: np.ndarray, norm, cmap) -> np.ndarray:
    """RGBA (uint8) of values given by their log10 (``logs``, NaN: the "bad" colour) under a
    LogNorm ``norm`` (None: all bad); ``logs`` is overwritten."""
    if norm is None:
        return cmap(np.full(logs.shape, np.nan), bytes=True)
    lo, hi = np.log10(norm.vmin), np.log10(norm.vmax)
    logs -= lo
    logs /= hi - lo
    return cmap(logs, bytes=True)


def outlined(width: float, colour: str = OUTLINE, extra: float = 1.4) -> list:
    """Path effects that draw a line over a wider one of ``colour`` (an outline or a halo)."""
    from matplotlib import patheffects

    return [patheffects.Stroke(linewidth=width + extra, foreground=colour),
            patheffects.Normal()]


def boundary_segments(labels: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Line segments (n, 2, 2) along the voxel faces between different labels of a 2D map, in
    units of ``scale`` per voxel (x = axis 0, y = axis 1). Collinear neighbouring faces are
    merged into one segment (fewer segments to draw on large maps)."""
    segments = []
    for axis in (0, 1):  # faces normal to x (at x = i + 1), then normal to y (y = j + 1)
        differs = (labels[1:, :] != labels[:-1, :]) if axis == 0 else \
            (labels[:, 1:] != labels[:, :-1]).T
        # Runs of True along the last axis: starts where a run begins, ends one past its end.
        padded = np.pad(differs, ((0, 0), (1, 1)))
        step = np.diff(padded.astype(np.int8), axis=1)
        line, start = np.nonzero(step == 1)
        _, stop = np.nonzero(step == -1)
        a = np.stack([line + 1, start], 1)
        b = np.stack([line + 1, stop], 1)
        if axis == 1:
            a, b = a[:, ::-1], b[:, ::-1]
        segments.append(np.stack([a, b], axis=1))
    return np.concatenate(segments).astype(float) * scale


def mark_voxel_electrodes(ax, data: ResultData, view: Plane, extent) -> None:
    """The outline of each electrode that occupies voxels (a one-voxel-thin electrode is
    thinner than a pixel on big maps); its patch is painted into the panel's image by
    :func:`paint_voxel_electrodes`."""
    from matplotlib.collections import LineCollection

    index = view.cut(data.microstructure.electrode_index)
    if not (index >= 0).any():
        return
    h = data.grid.voxel_size_m * UM
    for k in np.unique(index[index >= 0]):  # loop over electrodes
        padded = np.pad(index == k, 1)
        segments = boundary_segments(padded, h) - h  # undo the padding offset
        ax.add_collection(LineCollection(segments, colors=ELECTRODE_COLOURS[int(k) % len(
            ELECTRODE_COLOURS)], linewidths=3, zorder=5, clip_on=False))


def paint_voxel_electrodes(panel, data: ResultData, view: Plane) -> None:
    """Electrodes that occupy voxels as patches in their colours, over everything else of a
    :class:`~netsolve.plot_raster.PanelRaster` (a cell with any electrode voxel)."""
    from .plot_raster import rgba_bytes

    index = view.cut(data.microstructure.electrode_index)
    if not (index >= 0).any():
        return
    cells = panel.grid.maxima(index)
    for k in np.unique(cells[cells >= 0]):  # loop over electrodes
        panel.paint(cells == k, rgba_bytes(ELECTRODE_COLOURS[int(k) % len(ELECTRODE_COLOURS)]))


def mark_edge_electrodes(axes, data: ResultData, views: list[Plane]) -> list:
    """Edge electrodes as thick lines along their face (in every panel that shows the face);
    returns legend handles for all electrodes."""
    import matplotlib.pyplot as plt

    handles = []
    for k, (name, edge) in enumerate(zip(data.electrode_names, data.electrode_edges)):
        colour = ELECTRODE_COLOURS[k % len(ELECTRODE_COLOURS)]
        if edge in EDGES:
            axis, high = EDGES[edge]
            for ax, view in zip(axes, views):
                x1, y1 = view.extent_um(data)[1], view.extent_um(data)[3]
                if axis == view.a0:
                    xs, ys = ([x1, x1] if high else [0, 0]), [0, y1]
                elif axis == view.a1:
                    xs, ys = [0, x1], ([y1, y1] if high else [0, 0])
                else:
                    continue
                ax.plot(xs, ys, color=colour, linewidth=6, solid_capstyle="butt",
                        clip_on=False, zorder=5)
        handles.append(plt.Line2D([], [], color=colour, linewidth=6,
                                  label=f"electrode {name}"))
    return handles


def fix_layout(fig) -> None:
    """Lay the figure out once and keep those positions: the map rasters
    (:mod:`netsolve.plot_raster`) are made for the final axes size. Map figures place their
    axes with :class:`netsolve.plot_layout.MapLayout`; other figures (constrained layout) run
    it once, since savefig would otherwise lay out and draw twice. Call it once every
    decoration is in place."""
    layout = layout_of(fig)
    if layout is not None:
        layout.execute()
        return
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine(None)


def save(fig, path: str | Path, dpi: int) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        fix_layout(fig)  # (a no-op when the figure fixed its layout already)
        # zlib level 3 instead of 6: 2.5x faster PNG encoding for files ~10 % larger.
        options = {"pil_kwargs": {"compress_level": 3}} if path.suffix == ".png" else {}
        fig.savefig(path, dpi=dpi, **options)
    finally:
        plt.close(fig)
    return path


def as_data(result) -> ResultData:
    return result if isinstance(result, ResultData) else result_data(result)

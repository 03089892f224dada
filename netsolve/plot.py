"""Figures (matplotlib, Agg backend) of a solved case.

Maps are drawn with x (grid axis 0) to the right and y (grid axis 1) up, in micrometres; 3D
results show three orthogonal mid-slices (xy at the middle z, xz at the middle y, yz at the
middle x). Every function takes a :class:`~netsolve.result.Result` or a
:class:`~netsolve.export.ResultData` (a saved result directory) and writes one file; the format
follows the file suffix (.png, .svg, .pdf).

:data:`FIGURES` maps the names of ``netsolve plot --what`` to (file stem, function name).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import CaseError
from .export.data import ResultData, result_data
from .microstructure import Phase

#: figure name -> (file stem, function in this module)
FIGURES = {"j": ("current_density", "plot_current_density"),
           "e": ("electric_field", "plot_electric_field"),
           "grains": ("grain_map", "plot_grain_map"),
           "gb": ("gb_map", "plot_gb_map")}
FIELD_FIGURES = ("j", "e")  # these take contours= and streamlines=
UM = 1e6
DEFAULT_DPI = 200
DEFAULT_WIDTH_IN = 8.0
MAX_OVERLAY_POINTS = 256  # contours and streamlines run on at most this many points per axis
# No red, orange, cyan or black: those mark GB behaviours (plot_gb) and GB fields.
ELECTRODE_COLOURS = ["#2ca02c", "#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#bcbd22"]
PHASE_COLOURS = {Phase.BACKBONE: ("backbone", "#b0b0b0"), Phase.ZRO2: ("ZrO2", "#3a3a3a"),
                 Phase.VOID: ("void", "#ffffff"), Phase.ELECTRODE: ("electrode", "#ffcc1a")}
NO_CURRENT_COLOUR = "#c8c8c8"
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

    @property
    def title(self) -> str:
        if self.normal is None:
            return ""
        return f"{'xyz'[self.a0]}{'xyz'[self.a1]} plane, {'xyz'[self.normal]} = {self.index}"

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


# --------------------------------------------------------------------------- figures


def write_figures(data, folder: str | Path, names, formats=("png",), **options) -> list[Path]:
    """Draw the named figures (:data:`FIGURES`) into ``folder`` in each format."""
    import sys

    data = _as_data(data)
    check_figures(names)
    module = sys.modules[__name__]  # look functions up at call time (tests replace them)
    written = []
    for name in names:
        stem, function = FIGURES[name]
        kwargs = options if name in FIELD_FIGURES else {}
        for fmt in formats:
            path = Path(folder) / f"{stem}.{fmt}"
            getattr(module, function)(data, path, **kwargs)
            written.append(path)
    return written


def check_figures(names, what: str = "--what") -> tuple[str, ...]:
    from .tables import check_choices

    return check_choices(names, tuple(FIGURES), what, "figure")


def plot_current_density(result, path: str | Path, *, contours: str = "none",
                         streamlines: bool = False, size_px: tuple[int, int] | None = None,
                         dpi: int = DEFAULT_DPI) -> Path:
    """|J| on a log colour scale (A/m²), grain boundaries, electrodes; optionally equipotential
    (``contours="potential"``) or iso-|J| (``"current"``) lines and current streamlines."""
    data = _as_data(result)
    magnitude = np.linalg.norm(data.current_density, axis=-1)
    title = f"{data.title}: current density |J|, I = {data.total_current_A:.3g} A"
    return _field_figure(data, path, magnitude, data.current_density, "inferno",
                         "|J| (A/m²)", title, contours, streamlines, size_px, dpi, gb_field=False)


def plot_electric_field(result, path: str | Path, *, contours: str = "none",
                        streamlines: bool = False, size_px: tuple[int, int] | None = None,
                        dpi: int = DEFAULT_DPI) -> Path:
    """Bulk |E| (V/m, log scale) with the field inside each grain-boundary face (potential drop /
    t_GB) drawn on the boundaries in its own colour scale."""
    data = _as_data(result)
    magnitude = np.linalg.norm(data.electric_field, axis=-1)
    title = f"{data.title}: electric field |E| in grains and grain boundaries"
    return _field_figure(data, path, magnitude, data.electric_field, "viridis",
                         "bulk |E| (V/m)", title, contours, streamlines, size_px, dpi,
                         gb_field=True)


def plot_grain_map(result, path: str | Path, *, size_px: tuple[int, int] | None = None,
                   dpi: int = DEFAULT_DPI, max_labels: int = 150,
                   max_arrows: int = 3000) -> Path:
    """Grains coloured by their c-axis (key: hue = theta, saturation = sin alpha, see
    docs/output.md), grain ids (up to ``max_labels`` grains per panel) and the easy Na+
    direction of each grain as an arrow along theta of length proportional to cos alpha (the
    paper's Figure 4; xy panels only, up to ``max_arrows`` grains per panel)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    data = _as_data(result)
    views = planes(data)
    fig, axes, key_ax = _figure(data, views, size_px, dpi, key_column=True)
    rgb = grain_colours(data)
    present = set()
    arrows = False
    for ax, view in zip(axes, views):
        labels = view.cut(data.labels)
        phase = view.cut(data.phase)
        present |= set(np.unique(phase).tolist())
        extent = view.extent_um(data)
        ax.imshow(np.transpose(view.cut(rgb), (1, 0, 2)), origin="lower", extent=extent,
                  interpolation=_interpolation(labels.shape, ax))
        _draw_boundaries(ax, labels, data, colour="black", width=0.6)
        if view.normal is None or view.normal == 2:
            arrows |= _draw_grain_marks(ax, data, labels, phase, max_labels, max_arrows)
        _mark_voxel_electrodes(ax, data, view, extent)
        _finish_axes(ax, view, extent)
    _draw_colour_key(key_ax)
    handles = [Patch(facecolor=colour, edgecolor="black", label=name)
               for p, (name, colour) in PHASE_COLOURS.items()
               if int(p) in present and p != Phase.ELECTRODE]
    handles += _mark_edge_electrodes(axes, data, views)
    if arrows:
        handles.append(plt.Line2D([], [], color="black", linewidth=1.5,
                                  label="easy Na⁺ direction (length ∝ cos α)"))
    legend_ax = fig.add_subplot(key_ax.get_subplotspec().get_gridspec()[1, len(views)])
    legend_ax.axis("off")
    legend_ax.legend(handles=handles, loc="upper center", frameon=False, fontsize="small")
    fig.suptitle(f"{data.title}: grains coloured by c-axis orientation")
    return _save(fig, path, dpi)


def plot_gb_map(result, path: str | Path, *, size_px: tuple[int, int] | None = None,
                dpi: int = DEFAULT_DPI, max_labels: int = 150) -> Path:
    """The GB behaviour map (cyan / black / red / orange, legend; :mod:`netsolve.plot_gb`)."""
    from .plot_gb import plot_gb_map as draw

    return draw(_as_data(result), path, size_px=size_px, dpi=dpi, max_labels=max_labels)


def grain_colours(data: ResultData) -> np.ndarray:
    """RGB per voxel (grid shape + (3,)): grains by the c-axis key, phases by PHASE_COLOURS."""
    from matplotlib.colors import to_rgb

    ori = data.microstructure.orientations
    table = orientation_rgb(ori.theta_rad, ori.alpha_rad)
    rgb = np.ones(data.grid.shape + (3,))
    gi = data.microstructure.grain_index
    grains = gi >= 0
    rgb[grains] = table[gi[grains]]
    for p, (_, colour) in PHASE_COLOURS.items():
        rgb[data.phase == p] = to_rgb(colour)
    return rgb


def orientation_rgb(theta_rad: np.ndarray, alpha_rad: np.ndarray) -> np.ndarray:
    """The c-axis colour key: hue = theta / 180 deg (theta is 180-periodic), saturation =
    sin alpha, value 1. Grains whose conduction planes lie in the surface (alpha = 0, theta
    undefined) are white; planes standing upright (alpha = 90) are fully saturated."""
    from matplotlib.colors import hsv_to_rgb

    theta, alpha = np.asarray(theta_rad, float), np.asarray(alpha_rad, float)
    hsv = np.stack([np.mod(theta / np.pi, 1.0), np.clip(np.sin(alpha), 0, 1),
                    np.ones_like(theta)], axis=-1)
    return hsv_to_rgb(hsv)


# --------------------------------------------------------------------------- drawing


def _field_figure(data, path, magnitude, vectors, cmap_name, bar_label, title, contours,
                  streamlines, size_px, dpi, gb_field: bool) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch

    if contours not in ("none", "potential", "current"):
        raise CaseError(f"contours must be 'none', 'potential' or 'current', got {contours!r}")
    views = planes(data)
    gb_norm = _gb_field_norm(data) if gb_field else None
    fig, axes, _ = _figure(data, views, size_px, dpi, key_column=False,
                           extra_bars=int(gb_norm is not None))
    positive = magnitude[np.isfinite(magnitude) & (magnitude > 0)]
    norm, extend = None, "neither"
    if positive.size:
        # Electrode corners are singular: a few voxels would otherwise darken the whole map.
        vmax = float(np.percentile(positive, 99.9))
        if positive.max() <= 2 * vmax:
            vmax = float(positive.max())
        else:
            extend = "max"
        norm = LogNorm(vmin=max(float(np.percentile(positive, 0.5)), vmax * 1e-6), vmax=vmax)
    cmap = plt.get_cmap(cmap_name).with_extremes(bad=NO_CURRENT_COLOUR)
    image = gb_lines = None
    for ax, view in zip(axes, views):
        extent = view.extent_um(data)
        cut = view.cut(magnitude)
        shown = np.where(cut > 0, cut, np.nan)
        image = ax.imshow(shown.T, origin="lower", extent=extent, norm=norm, cmap=cmap,
                          interpolation=_interpolation(cut.shape, ax))
        labels = view.cut(data.labels)
        if gb_norm is not None:
            _draw_boundaries(ax, labels, data, colour="white", width=0.3)
            gb_lines = _draw_gb_field(ax, data, view, gb_norm)
        else:
            _draw_boundaries(ax, labels, data, colour="#8fd3ff", width=0.6)
        if contours != "none":
            _draw_contours(ax, data, view, contours, magnitude, norm)
        if streamlines:
            _draw_streamlines(ax, data, view, vectors)
        _mark_voxel_electrodes(ax, data, view, extent)
        _finish_axes(ax, view, extent)
    if image is not None and norm is not None:
        fig.colorbar(image, ax=axes, label=bar_label, shrink=0.8, pad=0.02, extend=extend)
    if gb_lines is not None:
        fig.colorbar(gb_lines, ax=axes, label="GB field |ΔV| / t_GB (V/m), drawn on the GBs",
                     location="bottom", shrink=0.7, pad=0.01, aspect=40)
    handles = _mark_edge_electrodes(axes, data, views)
    handles.append(Patch(facecolor=NO_CURRENT_COLOUR, edgecolor="black",
                         label="no current (ZrO2, void, floating)"))
    if contours != "none":
        handles.append(plt.Line2D([], [], color="white" if contours == "current" else "#66ffff",
                                  linewidth=1, label="equipotentials" if contours == "potential"
                                  else "iso-|J| lines"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
               frameon=False, fontsize="small", facecolor="#f0f0f0")
    fig.suptitle(title)
    return _save(fig, path, dpi)


def _figure(data: ResultData, views: list[Plane], size_px, dpi, key_column: bool,
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
    ratios = ratios + ([key_ratio] if key_column else [])
    fig = plt.figure(figsize=(width_in, height_in), dpi=dpi, layout="constrained")
    grid = fig.add_gridspec(2 if key_column else 1, len(ratios), width_ratios=ratios,
                            height_ratios=[1, 1.6] if key_column else None)
    axes = [fig.add_subplot(grid[:, k]) for k in range(n)]
    key_ax = fig.add_subplot(grid[0, n]) if key_column else None
    return fig, axes, key_ax


def _finish_axes(ax, view: Plane, extent) -> None:
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel(f"{'xyz'[view.a0]} (µm)")
    ax.set_ylabel(f"{'xyz'[view.a1]} (µm)")
    ax.set_aspect("equal")
    if view.title:
        ax.set_title(view.title, fontsize="medium")


def _interpolation(shape, ax) -> str:
    """Nearest for maps drawn larger than their voxels, antialiased when voxels < pixels."""
    fig = ax.figure
    pixels = fig.get_figwidth() * fig.dpi
    return "nearest" if max(shape) < 0.5 * pixels else "antialiased"


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


def _draw_boundaries(ax, labels2d: np.ndarray, data: ResultData, colour: str, width: float):
    """Grain boundaries (and phase boundaries) of a slice as one LineCollection; thinner lines
    on maps with many voxels per pixel so boundaries stay visible without hiding the map."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    if _interpolation(labels2d.shape, ax) != "nearest":
        # Voxels smaller than pixels: mark the voxels on both sides of every boundary face in
        # one image (~10^5 line segments would cost seconds; two voxels wide stay visible).
        overlay = np.zeros(labels2d.shape + (4,), dtype=np.uint8)
        overlay[boundary_voxels(labels2d)] = np.round(np.array(to_rgba(colour)) * 255)
        ax.imshow(np.transpose(overlay, (1, 0, 2)), origin="lower", interpolation="nearest",
                  extent=[0, labels2d.shape[0] * data.grid.voxel_size_m * UM,
                          0, labels2d.shape[1] * data.grid.voxel_size_m * UM])
        return
    pixels = ax.figure.get_figwidth() * ax.figure.dpi
    width = width * float(np.clip(pixels / max(labels2d.shape) / 2.0, 0.5, 1.0))
    segments = boundary_segments(labels2d, data.grid.voxel_size_m * UM)
    ax.add_collection(LineCollection(segments, colors=colour, linewidths=width))


def boundary_voxels(labels2d: np.ndarray) -> np.ndarray:
    """Mask of the voxels next to a voxel face between different labels (both sides)."""
    mask = np.zeros(labels2d.shape, dtype=bool)
    for axis in (0, 1):
        differs = np.diff(labels2d, axis=axis) != 0
        low = [slice(None)] * 2
        high = [slice(None)] * 2
        low[axis], high[axis] = slice(None, -1), slice(1, None)
        mask[tuple(low)] |= differs
        mask[tuple(high)] |= differs
    return mask


def _gb_field_norm(data: ResultData):
    from matplotlib.colors import LogNorm

    field = np.abs(data.gb_field())
    positive = field[np.isfinite(field) & (field > 0)]
    if positive.size == 0:
        return None
    vmax = float(positive.max())
    vmin = max(float(np.percentile(positive, 1)), vmax * 1e-4)
    # One field value on every GB (a bicrystal) still needs a colour bar with a range.
    return LogNorm(vmin=vmin if vmin < 0.999 * vmax else vmax / 10, vmax=vmax)


def _draw_gb_field(ax, data: ResultData, view: Plane, norm):
    """The GB faces of a slice coloured by |potential drop| / t_GB."""
    values = np.abs(data.gb_field())
    return draw_face_values(ax, data, view, data.gb_face_voxels[:, 0], data.gb_face_axis,
                            values, dict(cmap="autumn", norm=norm), width=1.4)


def draw_face_values(ax, data: ResultData, view: Plane, lower: np.ndarray, axis: np.ndarray,
                     values: np.ndarray, colouring: dict, width: float, min_px: float = 0.0):
    """Voxel faces (flat lower voxel, normal axis) in the plane of a view, coloured by
    ``values`` with ``colouring`` (cmap, norm): a LineCollection on maps drawn larger than their
    voxels; otherwise both voxels of each face painted into an image (one draw call instead of
    ~10^5 coloured segments; lines two voxels wide stay visible; the larger value where faces
    share a voxel). ``min_px``: on painted maps, widen the marks to about that many pixels
    (a maximum filter over voxels), so that a few important faces stay visible on maps with
    many more voxels than pixels. Returns the artist (for a colour bar)."""
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
    if _interpolation(plane_shape, ax) != "nearest":
        high = low + np.stack([along_a0, ~along_a0], axis=1)
        flat = np.concatenate([np.ravel_multi_index(tuple(side.T), plane_shape)
                               for side in (low, high)])
        both = np.concatenate([values, values])
        ok = np.isfinite(both)
        flat, both = flat[ok], both[ok]
        order = np.lexsort((both, flat))  # by voxel, then value: the last of a voxel is largest
        flat, both = flat[order], both[order]
        last = np.append(flat[1:] != flat[:-1], True)
        raster = np.full(plane_shape, np.nan)
        raster.flat[flat[last]] = both[last]
        pixels = ax.figure.get_figwidth() * ax.figure.dpi
        reach = int(np.ceil(min_px * max(plane_shape) / pixels / 2.0))
        if reach > 0:
            from scipy.ndimage import maximum_filter

            widened = maximum_filter(np.nan_to_num(raster, nan=-np.inf), size=2 * reach + 1)
            raster = np.where(np.isfinite(widened), widened, np.nan)
        return ax.imshow(raster.T, origin="lower", extent=view.extent_um(data),
                         interpolation="nearest", **colouring)
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
    ax.add_collection(lines)
    return lines


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


def _overlay_grid(data: ResultData, view: Plane, array2d: np.ndarray):
    """(x, y, coarse array) for contours/streamlines: block means on <= MAX_OVERLAY_POINTS."""
    factor = max(1, int(np.ceil(max(array2d.shape[:2]) / MAX_OVERLAY_POINTS)))
    coarse = _coarse(array2d, factor)
    h = data.grid.voxel_size_m * UM * factor
    x = (np.arange(coarse.shape[0]) + 0.5) * h
    y = (np.arange(coarse.shape[1]) + 0.5) * h
    return x, y, coarse


def _draw_contours(ax, data, view, kind, magnitude, norm) -> None:
    if kind == "potential":
        x, y, values = _overlay_grid(data, view, view.cut(data.potential))
        finite = values[np.isfinite(values)]
        if finite.size == 0 or finite.min() == finite.max():
            return
        levels = np.linspace(finite.min(), finite.max(), 13)[1:-1]
        lines = ax.contour(x, y, values.T, levels=levels, colors="#66ffff", linewidths=0.7)
        ax.clabel(lines, fmt="%.3g V", fontsize="x-small")
    elif norm is not None:
        x, y, values = _overlay_grid(data, view, view.cut(magnitude))
        with np.errstate(invalid="ignore", divide="ignore"):
            logs = np.log10(values)
        levels = np.arange(np.ceil(np.log10(norm.vmin)), np.floor(np.log10(norm.vmax)) + 1)
        if levels.size:
            ax.contour(x, y, logs.T, levels=levels, colors="white", linewidths=0.6)


def _draw_streamlines(ax, data, view, vectors) -> None:
    cut = view.cut(vectors)[..., [view.a0, view.a1]]
    x, y, coarse = _overlay_grid(data, view, cut)
    u, v = np.nan_to_num(coarse[..., 0]).T, np.nan_to_num(coarse[..., 1]).T
    if not np.any(u) and not np.any(v):
        return
    ax.streamplot(x, y, u, v, density=1.2, color="white", linewidth=0.5, arrowsize=0.6,
                  broken_streamlines=True)


def _mark_voxel_electrodes(ax, data: ResultData, view: Plane, extent) -> None:
    """Electrodes that occupy voxels, as coloured patches."""
    from matplotlib.colors import to_rgba

    index = view.cut(data.microstructure.electrode_index)
    if not (index >= 0).any():
        return
    overlay = np.zeros(index.shape + (4,))
    for k in np.unique(index[index >= 0]):  # loop over electrodes
        overlay[index == k] = to_rgba(ELECTRODE_COLOURS[int(k) % len(ELECTRODE_COLOURS)])
    ax.imshow(np.transpose(overlay, (1, 0, 2)), origin="lower", extent=extent,
              interpolation="nearest")
    # Outline each electrode: a one-voxel-thin electrode is thinner than a pixel on big maps.
    from matplotlib.collections import LineCollection

    h = data.grid.voxel_size_m * UM
    for k in np.unique(index[index >= 0]):  # loop over electrodes
        padded = np.pad(index == k, 1)
        segments = boundary_segments(padded, h) - h  # undo the padding offset
        ax.add_collection(LineCollection(segments, colors=ELECTRODE_COLOURS[int(k) % len(
            ELECTRODE_COLOURS)], linewidths=3, zorder=5, clip_on=False))


def _mark_edge_electrodes(axes, data: ResultData, views: list[Plane]) -> list:
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


def _draw_grain_marks(ax, data: ResultData, labels2d: np.ndarray, phase2d: np.ndarray,
                      max_labels: int, max_arrows: int) -> bool:
    """Grain ids and easy-direction bars at each grain's most interior voxel of the slice;
    False if there are none to draw (or too many: they would be specks)."""
    grain_labels = np.where(phase2d == Phase.GRAIN, labels2d, 0)
    ids = np.unique(grain_labels[grain_labels > 0])
    if ids.size == 0 or ids.size > max_arrows:
        return False
    xy = grain_spots(grain_labels, ids) * data.grid.voxel_size_m * UM
    h = data.grid.voxel_size_m * UM
    ori = data.microstructure.orientations
    rows = np.searchsorted(ori.grain_ids, ids)
    theta, alpha = ori.theta_rad[rows], ori.alpha_rad[rows]
    # Bar length: cos(alpha) times ~60 % of the typical grain diameter.
    sizes = np.bincount(np.searchsorted(ids, grain_labels[grain_labels > 0]))
    length = 0.6 * np.sqrt(np.median(sizes)) * h
    u, v = np.cos(theta) * np.cos(alpha) * length, np.sin(theta) * np.cos(alpha) * length
    ax.quiver(xy[:, 0], xy[:, 1], u, v, angles="xy", scale_units="xy", scale=1, pivot="middle",
              color="black", width=0.004, headwidth=3, headlength=3, headaxislength=2.7,
              zorder=4)
    if ids.size <= max_labels:
        label_grains(ax, xy, ids)
    return True


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


def _draw_colour_key(ax) -> None:
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


def _save(fig, path: str | Path, dpi: int) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        # Lay out once, then save without the layout engine: savefig would otherwise draw the
        # figure twice (layout, then render), resampling every large image twice.
        engine = fig.get_layout_engine()
        if engine is not None:
            engine.execute(fig)
            fig.set_layout_engine(None)
        # zlib level 3 instead of 6: 2.5x faster PNG encoding for files ~10 % larger.
        options = {"pil_kwargs": {"compress_level": 3}} if path.suffix == ".png" else {}
        fig.savefig(path, dpi=dpi, **options)
    finally:
        plt.close(fig)
    return path


def _as_data(result) -> ResultData:
    return result if isinstance(result, ResultData) else result_data(result)

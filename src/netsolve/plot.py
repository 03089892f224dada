"""Figures (matplotlib, Agg backend) of a solved case.

Maps are drawn with x (grid axis 0) to the right and y (grid axis 1) up, in micrometres; 3D
results show three orthogonal mid-slices (xy at the middle z, xz at the middle y, yz at the
middle x), titled with the cut's position in µm. Every function takes a
:class:`~netsolve.result.Result` or a :class:`~netsolve.export.ResultData` (a saved result
directory) and writes one file; the format follows the file suffix (.png, .svg, .pdf). One
colour semantics across all figures (:mod:`netsolve.plot_base`): red on a GB means blocking.

:data:`FIGURES` maps the names of ``netsolve plot --what`` to (file stem, function name).
Shared pieces: :mod:`netsolve.plot_base` (layout, colours), :mod:`netsolve.plot_lines` (GB
lines, contours, streamlines), :mod:`netsolve.plot_grains` (grain map),
:mod:`netsolve.plot_gb` (GB behaviour map), :mod:`netsolve.plot_raster` (each map panel one
image at the pixel size of its axes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import CaseError
from .plot_base import (DEFAULT_DPI, ELECTRODE_COLOURS, NO_CURRENT_COLOUR, UM, Plane,  # noqa: F401
                        as_data, boundary_segments, figure, finish_axes, fix_layout,
                        interpolation, log10_colours, log_colours, mark_edge_electrodes,
                        mark_voxel_electrodes, outlined, paint_voxel_electrodes, planes, save)
from .plot_base import save as _save  # noqa: F401 (netsolve.impedance.figures uses it)
from .plot_grains import grain_spots, label_grains, orientation_rgb  # noqa: F401
from .plot_grains import plot_grain_map  # noqa: F401 (a figure of FIGURES)
from .plot_lines import (GB_FIELD_CMAP, NO_CURRENT_HATCH, NO_CURRENT_HATCH_COLOUR,  # noqa: F401
                         boundary_voxels,
                         draw_boundaries, draw_contours, draw_face_values, draw_gb_field,
                         draw_no_current, draw_streamlines, gb_field_norm, painted)
from .plot_layout import layout_of
from .plot_raster import PanelRaster

#: figure name -> (file stem, function in this module)
FIGURES = {"j": ("current_density", "plot_current_density"),
           "e": ("electric_field", "plot_electric_field"),
           "grains": ("grain_map", "plot_grain_map"),
           "gb": ("gb_map", "plot_gb_map")}
FIELD_FIGURES = ("j", "e")  # these take contours= and streamlines=
CURRENT_CMAP = "viridis"  # no red: red marks blocking GBs
# Bulk |E| in greys from dark to near white, so the GB field (viridis) stands out on it.
FIELD_GREYS = (0.3, 0.95)
GB_LINE_COLOUR = "#ffffff"  # plain GB lines on the |J| map, over a dark outline


# --------------------------------------------------------------------------- figures


def write_figures(data, folder: str | Path, names, formats=("png",), **options) -> list[Path]:
    """Draw the named figures (:data:`FIGURES`) into ``folder`` in each format."""
    import sys

    data = as_data(data)
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
    """|J| on a log colour scale (A/m², viridis), grain boundaries (white over a dark outline),
    electrodes; optionally equipotentials (``contours="potential"``, dashed) or iso-|J| lines
    (``"current"``, dotted) and current streamlines (width growing with |J|)."""
    data = as_data(result)
    magnitude = data.current_density_magnitude
    title = f"{data.title}: current density |J|, I = {data.total_current_A:.3g} A"
    return _field_figure(data, path, magnitude, data.current_density, CURRENT_CMAP,
                         "|J| (A/m²)", title, contours, streamlines, size_px, dpi, gb_field=False)


def plot_electric_field(result, path: str | Path, *, contours: str = "none",
                        streamlines: bool = False, size_px: tuple[int, int] | None = None,
                        dpi: int = DEFAULT_DPI) -> Path:
    """Bulk |E| (V/m, log scale, greys) with the field inside each grain-boundary face
    (potential drop / t_GB) drawn on the boundaries in its own colour scale (viridis)."""
    data = as_data(result)
    magnitude = data.electric_field_magnitude
    title = f"{data.title}: electric field |E| in grains and grain boundaries"
    return _field_figure(data, path, magnitude, data.electric_field, _field_greys(),
                         "bulk |E| (V/m)", title, contours, streamlines, size_px, dpi,
                         gb_field=True)


def plot_gb_map(result, path: str | Path, *, size_px: tuple[int, int] | None = None,
                dpi: int = DEFAULT_DPI, max_labels: int = 150) -> Path:
    """The GB behaviour map (cyan / black / red / orange, legend; :mod:`netsolve.plot_gb`)."""
    from .plot_gb import plot_gb_map as draw

    return draw(as_data(result), path, size_px=size_px, dpi=dpi, max_labels=max_labels)


def _field_greys():
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    return ListedColormap(plt.get_cmap("gray")(np.linspace(*FIELD_GREYS, 256)), "field_greys")


# --------------------------------------------------------------------------- drawing


def _field_figure(data, path, magnitude, vectors, cmap, bar_label, title, contours,
                  streamlines, size_px, dpi, gb_field: bool) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch

    if contours not in ("none", "potential", "current"):
        raise CaseError(f"contours must be 'none', 'potential' or 'current', got {contours!r}")
    views = planes(data)
    gb_norm = gb_field_norm(data) if gb_field else None
    fig, axes, _ = figure(data, views, size_px, dpi, key_column=False,
                          extra_bars=int(gb_norm is not None))
    layout = layout_of(fig)
    flows = np.isfinite(magnitude) & (magnitude > 0)
    positive = magnitude[flows]
    norm, extend = None, "neither"
    if positive.size:
        # Electrode corners are singular: a few voxels would otherwise darken the whole map.
        low, vmax = (float(q) for q in np.percentile(positive, [0.5, 99.9]))  # one partition
        if positive.max() <= 2 * vmax:
            vmax = float(positive.max())
        else:
            extend = "max"
        low = max(low, vmax * 1e-6)
        if not low < 0.999 * vmax:  # a uniform field: half a decade either side, mid-scale
            low, vmax = vmax / np.sqrt(10.0), vmax * np.sqrt(10.0)
        norm = LogNorm(vmin=low, vmax=vmax)
    cmap = plt.get_cmap(cmap).with_extremes(bad=NO_CURRENT_COLOUR)
    no_current = ~flows
    gb_line = dict(colour=GB_LINE_COLOUR, width=0.7)
    for ax, view in zip(axes, views):
        extent = view.extent_um(data)
        draw_no_current(ax, data, view, no_current)
        labels = view.cut(data.labels)
        if not painted(labels.shape, ax):  # line segments; painted marks come after the layout
            if gb_norm is not None:
                draw_gb_field(ax, data, view, gb_norm)
            else:
                draw_boundaries(ax, labels, data, **gb_line)
        if contours != "none":
            draw_contours(ax, data, view, contours, magnitude, norm)
        if streamlines:
            draw_streamlines(ax, data, view, vectors)
        mark_voxel_electrodes(ax, data, view, extent)
        finish_axes(ax, view, extent, data)
    if norm is not None:
        # The colour bar's own mappable: the map is one image coloured here, below.
        layout.colorbar(ScalarMappable(norm=norm, cmap=cmap), label=bar_label,
                        shrink=0.8, pad=0.02, extend=extend)
    if gb_norm is not None:
        layout.colorbar(ScalarMappable(norm=gb_norm, cmap=GB_FIELD_CMAP),
                        label="GB field |ΔV| / t_GB (V/m), drawn on the GBs",
                        location="bottom", shrink=0.7, pad=0.01, aspect=40)
    handles = mark_edge_electrodes(axes, data, views)
    handles.append(Patch(facecolor=NO_CURRENT_COLOUR, edgecolor=NO_CURRENT_HATCH_COLOUR,
                         hatch=NO_CURRENT_HATCH, label="no current (ZrO2, void, floating)"))
    if gb_norm is None:
        handles.append(plt.Line2D([], [], color=GB_LINE_COLOUR, linewidth=1.5,
                                  path_effects=outlined(1.5), label="grain boundaries"))
    if contours != "none":
        handles.append(plt.Line2D([], [], color="black", linewidth=1,
                                  linestyle="dashed" if contours == "potential" else "dotted",
                                  label="equipotentials" if contours == "potential"
                                  else "iso-|J| lines (one per decade)"))
    if streamlines:
        handles.append(plt.Line2D([], [], color="black", linewidth=1.5, marker=">",
                                  markersize=4, label="streamlines (width ∝ log magnitude)"))
    layout.figure_legend(handles=handles, ncol=min(len(handles), 3), frameon=False,
                         fontsize="small")
    fig.suptitle(title)
    fix_layout(fig)
    for ax, view in zip(axes, views):
        # One image per panel at the axes' pixel size (netsolve.plot_raster): |J| or |E|
        # coloured by hand (uint8, log scale by the norm of the whole field) from the mean log
        # of each display cell, the painted GB marks over it.
        cut = view.cut(magnitude)
        panel = PanelRaster(ax, cut.shape, view.extent_um(data))
        panel.fill(log10_colours(panel.grid.mean_log10(cut), norm, cmap))
        if painted(cut.shape, ax):
            if gb_norm is not None:
                draw_gb_field(ax, data, view, gb_norm, panel=panel)
            else:
                draw_boundaries(ax, view.cut(data.labels), data, **gb_line, panel=panel)
        paint_voxel_electrodes(panel, data, view)
        panel.show()
    return save(fig, path, dpi)

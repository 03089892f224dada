"""The GB behaviour map: grain boundaries coloured by expected behaviour over the grain map
(the paper's colours: cyan = no migration across, black = migration across, red = blocking,
orange = blocking or transport along the GB; grey = undetermined; light grey = negligible
current, not counted), every line over a dark outline. Each boundary face takes the colour of
its segment's row of ``gb_table.csv``. Drawn like the other maps (:mod:`netsolve.plot`):
micrometres, x to the right, y up; 3D results as three orthogonal mid-slices (the faces lying
in each).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .analysis.behaviour_map import BEHAVIOUR_CODES, face_behaviour_codes
from .analysis.classify import ACROSS, BLOCKING, BLOCKING_ALONG, NONE, UNDETERMINED
from .errors import CaseError
from .microstructure import Phase
from .plot_base import (ACROSS_BLACK, BLOCKING_ALONG_ORANGE, BLOCKING_RED, DEFAULT_DPI,
                        NO_CURRENT_COLOUR, NONE_CYAN, UM, UNDETERMINED_GREY, figure, finish_axes,
                        fix_layout, mark_edge_electrodes, mark_voxel_electrodes, outlined,
                        paint_voxel_electrodes, planes, save)
from .plot_grains import grain_spots, label_grains, label_ids
from .plot_lines import draw_face_values, painted
from .plot_layout import layout_of
from .plot_raster import PanelRaster

BEHAVIOUR_COLOURS = {NONE: NONE_CYAN, ACROSS: ACROSS_BLACK, BLOCKING: BLOCKING_RED,
                     BLOCKING_ALONG: BLOCKING_ALONG_ORANGE, UNDETERMINED: UNDETERMINED_GREY}
BEHAVIOUR_LABELS = {NONE: "no migration across", ACROSS: "migration across",
                    BLOCKING: "blocking (II b1)",
                    BLOCKING_ALONG: "blocking / along the GB (III a2)",
                    UNDETERMINED: "undetermined"}
IDLE = "negligible_current"  # drawn in its own colour, whatever its behaviour
IDLE_LABEL = "negligible current (classified, not counted)"
# The colour codes of the map: the behaviour codes, then one for negligible current.
IDLE_CODE = max(BEHAVIOUR_CODES.values()) + 1
# Grains in pale shades (by id) so the boundary colours stand out; phases in greys.
PHASE_GREYS = {Phase.BACKBONE: 0.85, Phase.ZRO2: 0.35, Phase.VOID: 1.0, Phase.ELECTRODE: 0.6}


def plot_gb_map(data, path: str | Path, *, size_px: tuple[int, int] | None = None,
                dpi: int | None = None, max_labels: int = 150) -> Path:
    """Write the GB behaviour map of a result (:class:`~netsolve.export.ResultData`) with a
    legend; grain ids up to ``max_labels`` grains (xy panel)."""
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.lines import Line2D

    table = data.gb_table
    if table is None:
        raise CaseError(f"{data.label}: the result has no gb_table.csv (written by an older "
                        f"netsolve? run the case again)")
    dpi = DEFAULT_DPI if dpi is None else dpi
    views = planes(data)
    fig, axes, _ = figure(data, views, size_px, dpi, key_column=False)
    by_code = sorted(BEHAVIOUR_CODES, key=BEHAVIOUR_CODES.get)
    cmap = ListedColormap([BEHAVIOUR_COLOURS[k] for k in by_code] + [NO_CURRENT_COLOUR])
    norm = BoundaryNorm(np.arange(len(by_code) + 2) - 0.5, len(by_code) + 1)
    codes = map_codes(table)
    colouring = dict(cmap=cmap, norm=norm)
    # Blocking GBs drawn again, at least ~3 px wide: on 2048^2 maps they are otherwise
    # one-pixel lines among thousands of others.
    severe = np.where((codes >= BEHAVIOUR_CODES[BLOCKING_ALONG]) & (codes < IDLE_CODE),
                      codes, np.nan)
    layers = ((codes, dict(width=2.0)), (severe, dict(width=3.0, min_px=3.0)))
    faces = (table.face_lower_voxel, table.face_axis)
    for ax, view in zip(axes, views):
        extent = view.extent_um(data)
        if not painted((data.grid.shape[view.a0], data.grid.shape[view.a1]), ax):
            for values, style in layers:  # line segments; painted marks after the layout
                draw_face_values(ax, data, view, *faces, values, colouring, **style)
        if view.normal is None or view.normal == 2:
            _label_grains(ax, data, view, max_labels)
        if len(codes) == 0:
            ax.text(0.5, 0.02, "no grain boundaries", transform=ax.transAxes, ha="center",
                    va="bottom", fontsize="small")
        mark_voxel_electrodes(ax, data, view, extent)
        finish_axes(ax, view, extent, data)
    present = set(np.asarray(table.behaviour).astype(str).tolist())
    kinds = [k for k in (NONE, ACROSS, BLOCKING, BLOCKING_ALONG, UNDETERMINED)
             if k != UNDETERMINED or k in present]
    behaviours = [Line2D([], [], color=BEHAVIOUR_COLOURS[k], linewidth=3,
                         path_effects=outlined(3), label=BEHAVIOUR_LABELS[k]) for k in kinds]
    if (codes == IDLE_CODE).any():
        behaviours.append(Line2D([], [], color=NO_CURRENT_COLOUR, linewidth=3,
                                 path_effects=outlined(3), label=IDLE_LABEL))
    electrodes = mark_edge_electrodes(axes, data, views)
    # Two columns, behaviours left and electrodes right (legends fill column by column).
    rows = max(len(behaviours), len(electrodes))
    blank = Line2D([], [], linestyle="none", label=" ")
    handles = (behaviours + [blank] * (rows - len(behaviours))
               + electrodes + [blank] * (rows - len(electrodes)))
    layout_of(fig).figure_legend(handles=handles, ncol=2, frameon=False, fontsize="small")
    whole = table.segment == -1
    source = str(table.field_source[whole][0]) if whole.any() else ""
    fig.suptitle(f"{data.title}: grain-boundary behaviour"
                 + (f" ({source} field)" if source else ""))
    fix_layout(fig)
    for ax, view in zip(axes, views):
        # One image per panel at the axes' pixel size (netsolve.plot_raster): the pale grains
        # of the cells' centre voxels, the painted GB faces over them.
        shape = (data.grid.shape[view.a0], data.grid.shape[view.a1])
        panel = PanelRaster(ax, shape, view.extent_um(data))
        grid = panel.grid
        panel.fill(pale_colours(grid.sample(view.cut(data.labels)),
                                grid.sample(view.cut(data.phase))))
        if painted(shape, ax):
            for values, style in layers:
                draw_face_values(ax, data, view, *faces, values, colouring, **style,
                                 panel=panel)
        paint_voxel_electrodes(panel, data, view)
        panel.show()
    return save(fig, path, dpi)


def map_codes(table) -> np.ndarray:
    """The colour code of every GB face of the map: its behaviour code
    (:func:`~netsolve.analysis.behaviour_map.face_behaviour_codes`), or :data:`IDLE_CODE`
    where its segment carries negligible current (not blocking, whatever its subtype: red is
    only for the GBs the blocking list names)."""
    codes = face_behaviour_codes(table).astype(np.int8)
    idle = np.asarray(table.negligible_current, bool)[table.face_segment_row]
    return np.where(idle, IDLE_CODE, codes)


def pale_grains(data) -> np.ndarray:
    """RGB per voxel (uint8: a quarter of the memory of floats on large maps): grains in pale
    pastel shades by id, phases in greys."""
    return pale_colours(data.labels, data.phase)


def pale_colours(labels: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """RGB (uint8) of voxels with these labels and phases (:func:`pale_grains`)."""
    import matplotlib.pyplot as plt

    # Pastel2 without its last colour, a grey: greys mean phases, undetermined or idle GBs.
    colours = np.array(plt.get_cmap("Pastel2").colors[:7])

    def shades(values: np.ndarray) -> np.ndarray:
        shade = (values.astype(np.int64) * 0.618034) % 1.0
        return np.round(colours[(shade * len(colours)).astype(np.int64)] * 255).astype(np.uint8)

    low, high = int(labels.min(initial=0)), int(labels.max(initial=0))
    if high - low < labels.size:  # a colour per label value, gathered per voxel
        rgb = shades(np.arange(low, high + 1))[labels - low]
    else:
        rgb = shades(labels)
    for p, grey in PHASE_GREYS.items():
        rgb[phase == p] = round(grey * 255)
    return rgb


def _label_grains(ax, data, view, max_labels: int) -> None:
    labels2d, phase2d = view.cut(data.labels), view.cut(data.phase)
    grain_labels = np.where(phase2d == Phase.GRAIN, labels2d, 0)
    ids = label_ids(grain_labels)
    if 0 < ids.size <= max_labels:
        xy = grain_spots(grain_labels, ids) * data.grid.voxel_size_m * UM
        label_grains(ax, xy, ids)

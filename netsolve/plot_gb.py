"""The GB behaviour map: grain boundaries coloured by expected behaviour over the grain map
(the paper's colours: cyan = no migration across, black = migration across, red = blocking,
orange = blocking or transport along the GB). 2D maps; x to the right, y up, micrometres.
Each boundary face takes the colour of its segment's classification."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .analysis.classify import ACROSS, BLOCKING, BLOCKING_ALONG, NONE
from .microstructure import Phase

BEHAVIOUR_COLOURS = {NONE: "#00d5ff", ACROSS: "#000000", BLOCKING: "#e8000b",
                     BLOCKING_ALONG: "#ff8c00"}
BEHAVIOUR_LABELS = {NONE: "no migration across (cyan)", ACROSS: "migration across (black)",
                    BLOCKING: "blocking, II b1 (red)",
                    BLOCKING_ALONG: "blocking / along the GB, III a2 (orange)"}
UNDETERMINED_COLOUR = "#9a9a9a"


def face_lines(lower_voxel: np.ndarray, axis: np.ndarray, shape: tuple[int, int],
               scale: float) -> np.ndarray:
    """Line segments (n, 2, 2) of voxel faces given by lower voxel and axis, ``scale`` per
    voxel."""
    i, j = np.unravel_index(lower_voxel, shape)
    along_x = axis == 0  # face normal to x, at x = i + 1, from y = j to j + 1
    start = np.stack([np.where(along_x, i + 1, i), np.where(along_x, j, j + 1)], axis=1)
    end = np.stack([i + 1, j + 1], axis=1)
    return np.stack([start, end], axis=1).astype(float) * scale


def plot_gb_map(case, micro, table, path: str | Path, graph=None, dpi: int = 150) -> None:
    """Write the GB behaviour map of a 2D case as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    grid = case.grid
    um = grid.voxel_size_m * 1e6
    extent = [0, grid.shape[0] * um, 0, grid.shape[1] * um]
    fig, ax = plt.subplots(figsize=(7, 7 * grid.shape[1] / grid.shape[0] + 0.9),
                           layout="constrained")
    # Grains in pale pastel shades by id; phases in greys.
    shade = (micro.labels.astype(np.int64) * 0.618034) % 1.0
    rgb = plt.get_cmap("Pastel2")(shade)
    phase_grey = {Phase.BACKBONE: 0.85, Phase.ZRO2: 0.35, Phase.VOID: 1.0, Phase.ELECTRODE: 0.6}
    for phase, grey in phase_grey.items():
        rgb[micro.phase == phase] = (grey, grey, grey, 1.0)
    ax.imshow(np.transpose(rgb, (1, 0, 2)), origin="lower", extent=extent,
              interpolation="nearest")
    behaviour = np.asarray(table.behaviour)[table.face_segment_row]
    kinds, index = np.unique(behaviour.astype(str), return_inverse=True)
    colours = np.array([BEHAVIOUR_COLOURS.get(k, UNDETERMINED_COLOUR) for k in kinds],
                       dtype=object)
    lines = face_lines(table.face_lower_voxel, table.face_axis, grid.shape, um)
    ax.add_collection(LineCollection(lines, colors=list(colours[index.ravel()]),
                                     linewidths=1.6))
    if graph is not None:
        for gid, data in graph.nodes(data=True):  # one label per grain
            x, y = np.asarray(data["centroid_m"][:2]) * 1e6
            ax.text(x, y, f"G{gid}", ha="center", va="center", fontsize=6, color="#333333")
    handles = [Line2D([], [], color=BEHAVIOUR_COLOURS[k], linewidth=2.5,
                      label=BEHAVIOUR_LABELS[k]) for k in BEHAVIOUR_COLOURS]
    if any(k not in BEHAVIOUR_COLOURS for k in kinds):
        handles.append(Line2D([], [], color=UNDETERMINED_COLOUR, linewidth=2.5,
                              label="undetermined"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, -0.08), ncol=2,
              frameon=False, fontsize="small")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    source = table.field_source[0] if len(table) else ""
    ax.set_title(f"{case.label}: grain-boundary behaviour ({source} field)")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)

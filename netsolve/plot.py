"""Figures (matplotlib, Agg backend). Maps are drawn with x (grid axis 0) to the right and y
(grid axis 1) up, in micrometres; 3D results show the middle z slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .result import Result


def boundary_segments(labels: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Line segments (n, 2, 2) along the voxel faces between different labels of a 2D map,
    in units of ``scale`` per voxel (x = axis 0, y = axis 1)."""
    i, j = np.nonzero(labels[1:, :] != labels[:-1, :])  # faces normal to x at x = i + 1
    x_faces = np.stack([np.stack([i + 1, j], 1), np.stack([i + 1, j + 1], 1)], axis=1)
    i, j = np.nonzero(labels[:, 1:] != labels[:, :-1])  # faces normal to y at y = j + 1
    y_faces = np.stack([np.stack([i, j + 1], 1), np.stack([i + 1, j + 1], 1)], axis=1)
    return np.concatenate([x_faces, y_faces]).astype(float) * scale


def _slice2d(array: np.ndarray, ndim: int) -> np.ndarray:
    return array if ndim == 2 else array[:, :, array.shape[2] // 2]


def plot_current_density(result: Result, path: str | Path, dpi: int = 150) -> None:
    """|J| map on a log colour scale, grain boundaries in white, electrodes marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.colors import LogNorm

    grid = result.case.grid
    j = np.linalg.norm(result.fields.current_density, axis=-1)
    j2 = _slice2d(j, grid.ndim)
    labels = _slice2d(result.microstructure.labels, grid.ndim)
    extent_um = [0, grid.shape[0] * grid.voxel_size_m * 1e6, 0, grid.shape[1] * grid.voxel_size_m * 1e6]
    positive = j2[np.isfinite(j2) & (j2 > 0)]
    fig, ax = plt.subplots(figsize=(7, 7 * grid.shape[1] / grid.shape[0] + 0.6), layout="constrained")
    if positive.size:
        vmax = float(positive.max())
        vmin = max(float(np.percentile(positive, 1)), vmax * 1e-6)
        image = ax.imshow(np.where(j2 > 0, j2, np.nan).T, origin="lower", extent=extent_um,
                          norm=LogNorm(vmin=vmin, vmax=vmax), cmap="inferno", interpolation="nearest")
        fig.colorbar(image, ax=ax, label="|J| (A/m²)", shrink=0.85)
    um = grid.voxel_size_m * 1e6
    ax.add_collection(LineCollection(boundary_segments(labels, um), colors="#8fd3ff",
                                     linewidths=0.6))
    _mark_electrodes(ax, result, extent_um)
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    title = f"{result.case.label}: |J|, I = {result.total_current_A:.3g} A"
    if grid.ndim == 3:
        title += f" (z slice {grid.shape[2] // 2})"
    ax.set_title(title)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def _mark_electrodes(ax, result: Result, extent_um: list[float]) -> None:
    """Edge electrodes as thick lines along their face, voxel electrodes as gold patches."""
    x1, y1 = extent_um[1], extent_um[3]
    lines = {"left": ([0, 0], [0, y1]), "right": ([x1, x1], [0, y1]),
             "bottom": ([0, x1], [0, 0]), "top": ([0, x1], [y1, y1])}
    colours = ["#2ca02c", "#1f77b4", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    for k, electrode in enumerate(result.case.electrodes):
        colour = colours[k % len(colours)]
        edge = electrode.region.edge
        if edge in lines:
            ax.plot(*lines[edge], color=colour, linewidth=5, solid_capstyle="butt",
                    clip_on=False, label=electrode.name)
        elif electrode.region.kind != "edge":
            mask = _slice2d(result.microstructure.electrode_index == k, result.case.grid.ndim)
            overlay = np.zeros(mask.shape + (4,))
            overlay[mask] = (1.0, 0.8, 0.1, 1.0)
            ax.imshow(np.transpose(overlay, (1, 0, 2)), origin="lower", extent=extent_um,
                      interpolation="nearest")
            ax.plot([], [], color="#ffcc1a", linewidth=5, label=electrode.name)
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), ncol=len(result.case.electrodes),
              frameon=False, title="electrodes", fontsize="small")

"""Per-grain and per-GB tables (CSV) and the grain graph with field values (GraphML)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..graph import write_graphml
from .data import ResultData
from .gbnet import gb_table


def grain_table(data: ResultData) -> dict[str, np.ndarray]:
    """One row per grain present in the map (sorted by id): geometry and orientation from the
    grain graph, plus ``mean_potential_V`` and ``mean_current_density_A_per_m2`` (mean |J| over
    the grain's voxels with a solved value; NaN for a floating grain)."""
    micro = data.microstructure
    rows = micro.grain_index.ravel()
    inside = rows >= 0
    n_rows = len(micro.orientations)
    j_mag = np.linalg.norm(data.current_density, axis=-1).ravel()
    means = {}
    for name, values in (("mean_potential_V", data.potential.ravel()),
                         ("mean_current_density_A_per_m2", j_mag)):
        ok = inside & np.isfinite(values)
        count = np.bincount(rows[ok], minlength=n_rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[name] = np.bincount(rows[ok], values[ok], n_rows) / count
    present = np.flatnonzero(np.bincount(rows[inside], minlength=n_rows))
    graph = data.graph
    ids = micro.orientations.grain_ids[present]
    node = [graph.nodes[int(i)] for i in ids]  # one dict lookup per grain
    size_key = "area_m2" if data.grid.ndim == 2 else "volume_m3"
    table: dict[str, np.ndarray] = {"grain_id": ids,
                                    "n_voxels": np.array([n["n_voxels"] for n in node]),
                                    size_key: np.array([n[size_key] for n in node])}
    centroid = np.array([n["centroid_m"] for n in node], dtype=float).reshape(len(node), -1)
    c_axis = np.array([n["c_axis"] for n in node], dtype=float).reshape(len(node), 3)
    for k, axis in enumerate("xyz"[:data.grid.ndim]):
        table[f"centroid_{axis}_m"] = centroid[:, k]
    for k, axis in enumerate("xyz"):
        table[f"c_axis_{axis}"] = c_axis[:, k]
    for name in ("theta_deg", "alpha_deg"):
        table[name] = np.array([n[name] for n in node], dtype=float)
    for name in means:
        table[name] = means[name][present]
    return table


def write_csv(columns: dict[str, np.ndarray], path: str | Path) -> Path:
    """Columns of equal length as CSV with a header row (floats with 10 significant digits)."""
    names = list(columns)
    cells = [[_cell(v) for v in np.asarray(columns[k]).tolist()] for k in names]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows(zip(*cells))
    return Path(path)


def write_tables(data: ResultData, folder: str | Path,
                 gb_extra: dict[str, np.ndarray] | None = None) -> list[Path]:
    """``grains.csv`` (:func:`grain_table`) and ``grain_boundaries.csv``
    (:func:`netsolve.export.gbnet.gb_table`, plus the columns of ``gb_extra``)."""
    from .gbnet import merge_gb_attributes

    folder = Path(folder)
    return [write_csv(grain_table(data), folder / "grains.csv"),
            write_csv(merge_gb_attributes(gb_table(data), gb_extra),
                      folder / "grain_boundaries.csv")]


def write_result_graphml(data: ResultData, path: str | Path) -> Path:
    """The grain graph (:mod:`netsolve.graph`) with the field values of :func:`grain_table`
    on its nodes and the current columns of :func:`gb_table` on its edges."""
    import networkx as nx

    graph = data.graph.copy()
    grains = grain_table(data)
    for name in ("mean_potential_V", "mean_current_density_A_per_m2"):
        nx.set_node_attributes(graph, dict(zip(grains["grain_id"].tolist(),
                                               grains[name].tolist())), name)
    table = gb_table(data)
    pairs = list(zip(table["grain_a"].tolist(), table["grain_b"].tolist()))
    for name in ("gb_current_A", "gb_abs_current_A", "gb_mean_jump_V", "n_solved_faces"):
        nx.set_edge_attributes(graph, dict(zip(pairs, table[name].tolist())), name)
    return write_graphml(graph, path)


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.10g}"
    return str(value)

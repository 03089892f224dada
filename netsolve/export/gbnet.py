"""The grain-boundary network: one row per GB (grain pair a < b) and one cell per GB voxel face.

A GB face is a voxel face between two different grains (the faces the grain graph counts). Per
face: the pair, the current through it and the potential drop across the GB resistor, both
signed from grain a (the smaller id) to grain b, taken from ``fields.gb_face_*``; faces with no
solved current (a floating grain) carry NaN. Per GB: the grain-graph attributes plus sums and
means of the face values.

Cells: line segments (2D, in the plane z = 0) or quadrilaterals (3D) along the faces, coordinates
in metres, written with meshio as .vtu so ParaView can colour boundaries by any attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..graph import boundary_faces
from .data import ResultData


@dataclass(frozen=True)
class GBFaces:
    """All grain|grain voxel faces, sorted by (axis, lower voxel).

    ``lower`` flat index of the lower voxel, ``axis`` face normal, ``grain_a``/``grain_b`` the
    ids (a < b), ``sign`` +1 when the lower voxel belongs to a, ``current_A`` and ``jump_V``
    signed a -> b (NaN where not solved).
    """

    lower: np.ndarray
    axis: np.ndarray
    grain_a: np.ndarray
    grain_b: np.ndarray
    sign: np.ndarray
    current_A: np.ndarray
    jump_V: np.ndarray


def gb_faces(data: ResultData) -> GBFaces:
    """Every GB face of the map with its solved current and potential drop (vectorized)."""
    micro = data.microstructure
    faces = boundary_faces(micro)  # sorted by (axis, lower voxel), as the solved faces
    lower, axis = faces.gb_lower_voxel, faces.gb_axis
    ids = micro.orientations.grain_ids[faces.edge_rows[faces.gb_edge]].astype(np.int64)
    la, lb = ids[:, 0], ids[:, 1]  # rows are sorted by id: a < b
    sign = faces.gb_sign.astype(float)  # +1 when the lower voxel is grain a
    n_vox = micro.labels.size
    keys = axis.astype(np.int64) * n_vox + lower  # already sorted: axis-major, C order inside
    solved_keys = data.gb_face_axis.astype(np.int64) * n_vox + data.gb_face_voxels[:, 0]
    current = np.full(len(keys), np.nan)
    jump = np.full(len(keys), np.nan)
    pos = np.searchsorted(keys, solved_keys)
    found = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == solved_keys)
    current[pos[found]] = data.gb_face_current[found]
    jump[pos[found]] = data.gb_face_jump[found]
    return GBFaces(lower, axis, la, lb, sign, current * sign, jump * sign)


def gb_table(data: ResultData, faces: GBFaces | None = None) -> dict[str, np.ndarray]:
    """Per-GB columns, rows sorted by (grain_a, grain_b): the grain-graph edge attributes and

    - ``gb_current_A``: net current from a to b through the solved faces (A);
    - ``gb_abs_current_A``: sum of |face current| (A), the current crossing in either direction;
    - ``gb_mean_jump_V``: mean potential drop a -> b over the solved faces (V), NaN if none;
    - ``gb_mean_field_V_per_m``: that drop / t_GB (V/m), NaN when t_GB = 0;
    - ``n_solved_faces``.
    """
    faces = gb_faces(data) if faces is None else faces
    graph = data.graph
    edges = sorted((min(a, b), max(a, b)) for a, b in graph.edges())
    pairs = np.array(edges, dtype=np.int64).reshape(-1, 2)
    table: dict[str, np.ndarray] = {"grain_a": pairs[:, 0], "grain_b": pairs[:, 1]}
    ndim = data.grid.ndim
    names = ["n_faces", *(["length_m"] if ndim == 2 else []), "area_m2", "misorientation_deg",
             "plane_angle_deg", "path_misorientation_deg"]
    for name in names:  # one O(n_GB) attribute gather per column
        table[name] = np.array([graph.edges[a, b][name] for a, b in edges], dtype=float)
    table["n_faces"] = table["n_faces"].astype(np.int64)
    row = _rows(pairs, faces.grain_a, faces.grain_b)
    solved = ~np.isnan(faces.current_A)
    n = len(pairs)
    table["gb_current_A"] = np.bincount(row[solved], faces.current_A[solved], n)
    table["gb_abs_current_A"] = np.bincount(row[solved], np.abs(faces.current_A[solved]), n)
    n_solved = np.bincount(row[solved], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_jump = np.bincount(row[solved], faces.jump_V[solved], n) / n_solved
    table["gb_mean_jump_V"] = mean_jump
    table["gb_mean_field_V_per_m"] = (mean_jump / data.gb_thickness_m if data.gb_thickness_m > 0
                                      else np.full(n, np.nan))
    table["n_solved_faces"] = n_solved
    return table


def merge_gb_attributes(table: dict[str, np.ndarray],
                        extra: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Add the columns of ``extra`` (a per-GB table with ``grain_a``, ``grain_b`` columns, in
    any order and either orientation of the pair) to ``table``; GBs absent from ``extra`` get
    NaN (numbers) or "" (text)."""
    if not extra:
        return table
    missing = {"grain_a", "grain_b"} - set(extra)
    if missing:
        raise ValueError(f"GB attribute table lacks column(s) {sorted(missing)}")
    a, b = np.asarray(extra["grain_a"], np.int64), np.asarray(extra["grain_b"], np.int64)
    ea, eb = np.minimum(a, b), np.maximum(a, b)
    pairs = np.stack([ea, eb], axis=1)
    order = np.lexsort((eb, ea))
    row = _rows(pairs[order], table["grain_a"], table["grain_b"], missing=-1)
    merged = dict(table)
    for name, column in extra.items():
        if name in ("grain_a", "grain_b"):
            continue
        column = np.asarray(column)[order]
        fill = "" if column.dtype.kind in "US" else np.nan
        out = np.full(len(row), fill, dtype=column.dtype if column.dtype.kind in "US" else float)
        out[row >= 0] = column[row[row >= 0]]
        merged[name] = out
    return merged


def _rows(pairs: np.ndarray, a: np.ndarray, b: np.ndarray, missing: int | None = None) -> np.ndarray:
    """Row of each (a, b) in ``pairs`` (sorted by a, then b); ``missing`` for absent pairs
    (None: every pair must be present)."""
    width = int(max(pairs.max(initial=0), a.max(initial=0), b.max(initial=0))) + 1
    keys = pairs[:, 0] * width + pairs[:, 1]
    query = a * width + b
    pos = np.searchsorted(keys, query)
    if missing is None:
        return pos
    clipped = np.minimum(pos, max(len(keys) - 1, 0))
    ok = (pos < len(keys)) & (keys[clipped] == query) if len(keys) else np.zeros(len(query), bool)
    return np.where(ok, pos, missing)


def write_gb_network(data: ResultData, path: str | Path,
                     extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write the GB faces as line (2D) / quad (3D) cells with per-face values and the per-GB
    table broadcast to each face (``extra``: more per-GB columns, see
    :func:`merge_gb_attributes`; text columns become integer codes ``<name>_code`` numbering
    the sorted distinct values from 0)."""
    import meshio

    faces = gb_faces(data)
    table = merge_gb_attributes(gb_table(data, faces), extra)
    points, cells = face_cells(faces.lower, faces.axis, data.grid.shape, data.grid.voxel_size_m)
    row = _rows(np.stack([table["grain_a"], table["grain_b"]], 1), faces.grain_a, faces.grain_b)
    cell_data = {"gb_index": row, "face_current_A": faces.current_A, "face_jump_V": faces.jump_V,
                 "face_gb_field_V_per_m": (faces.jump_V / data.gb_thickness_m
                                           if data.gb_thickness_m > 0
                                           else np.full(len(row), np.nan))}
    for name, column in table.items():
        if column.dtype.kind in "US":
            _, codes = np.unique(column, return_inverse=True)
            cell_data[f"{name}_code"] = codes[row].astype(np.int32)
        else:
            cell_data[name] = column[row]
    kind = "line" if data.grid.ndim == 2 else "quad"
    mesh = meshio.Mesh(points, [(kind, cells)], cell_data={k: [v] for k, v in cell_data.items()})
    meshio.write(path, mesh, file_format="vtu")
    return Path(path)


def face_cells(lower: np.ndarray, axis: np.ndarray, shape: tuple[int, ...],
               voxel_size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points (m, 3 coordinates) and cells (corner indices) of the given voxel faces: 2 corners
    per face in 2D, 4 (counter-clockwise about +axis) in 3D; corners are shared between faces."""
    ndim = len(shape)
    corner0 = np.stack(np.unravel_index(lower, shape), axis=1)
    corner0[np.arange(len(lower)), axis] += 1  # the face lies on the upper side of its voxel
    unit = np.eye(ndim, dtype=np.int64)
    if ndim == 2:
        other = unit[1 - axis]
        corners = np.stack([corner0, corner0 + other], axis=1)
    else:
        e1, e2 = unit[(axis + 1) % 3], unit[(axis + 2) % 3]
        corners = np.stack([corner0, corner0 + e1, corner0 + e1 + e2, corner0 + e2], axis=1)
    node_shape = tuple(n + 1 for n in shape)
    flat = np.ravel_multi_index(tuple(np.moveaxis(corners, -1, 0)), node_shape)
    unique, cells = np.unique(flat, return_inverse=True)
    points = np.zeros((len(unique), 3))
    points[:, :ndim] = np.stack(np.unravel_index(unique, node_shape), axis=1) * voxel_size_m
    return points, cells.reshape(corners.shape[:2])

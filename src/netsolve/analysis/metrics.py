"""Quantitative grain-boundary and grain metrics from voxel fields (vectorized over faces).

Only the discretization-neutral field contract is read: voxel ``potential``,
``current_density``, ``electric_field`` and the GB faces ``gb_face_voxels``, ``gb_face_axis``,
``gb_face_current``, ``gb_face_jump`` (:class:`netsolve.fields.Fields`). Faces are grouped by an
integer group per face (a GB, or a segment of one) with bincount. SI units throughout.
"""

from __future__ import annotations

import numpy as np


def group_sum(values: np.ndarray, group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the finite values per group and their count (NaN values are left out)."""
    ok = np.isfinite(values)
    total = np.bincount(group[ok], values[ok], n_groups)
    count = np.bincount(group[ok], minlength=n_groups)
    return total, count


def group_mean(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of the finite values per group (NaN for a group without any)."""
    total, count = group_sum(values, group, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def face_voxels(lower_voxel: np.ndarray, axis: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Flat index of the upper voxel of each face (the + neighbour of the lower one)."""
    strides = np.array([int(np.prod(shape[d + 1:])) for d in range(len(shape))], np.int64)
    return lower_voxel + strides[axis]


def face_geometry(lower_voxel: np.ndarray, axis: np.ndarray, sign: np.ndarray,
                  shape: tuple[int, ...], voxel_size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Face centres (n, ndim) in m (grid corner at 0) and unit normals (n, ndim) along +axis
    times ``sign``."""
    ndim = len(shape)
    coords = np.stack(np.unravel_index(lower_voxel, shape), axis=1).astype(float) + 0.5
    coords[np.arange(len(axis)), axis] += 0.5
    normal = np.zeros((len(axis), ndim))
    normal[np.arange(len(axis)), axis] = sign
    return coords * voxel_size_m, normal


def mean_vector(vectors: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group mean of vector rows (n, d), NaN components left out."""
    return np.stack([group_mean(vectors[:, d], group, n_groups)
                     for d in range(vectors.shape[1])], axis=1)


def local_field(electric_field: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                group: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean bulk field (V/m) of the voxels on both sides of each group's faces, (n_groups, d)."""
    flat = electric_field.reshape(-1, electric_field.shape[-1])
    both = np.concatenate([flat[lower], flat[upper]])
    return mean_vector(both, np.concatenate([group, group]), n_groups)


def band_voxels(grain_index: np.ndarray, start: np.ndarray, axis: np.ndarray, step: np.ndarray,
                grain_row: np.ndarray, n_layers: int) -> np.ndarray:
    """The bands of ``n_layers`` voxels on one side of faces, (n_layers, n) flat voxel indices,
    -1 from where a band leaves its grain or the grid on.

    start: flat index of the face voxel on that side; step: -1 or +1 along ``axis`` (away from
    the face); grain_row: the side's grain (a band stops where the grain ends).
    """
    shape = grain_index.shape
    flat_grain = grain_index.ravel()
    coord = np.stack(np.unravel_index(start, shape), axis=1)[np.arange(len(start)), axis]
    strides = np.array([int(np.prod(shape[d + 1:])) for d in range(len(shape))], np.int64)
    size = np.asarray(shape, np.int64)[axis]
    bands = np.empty((n_layers, len(start)), np.int64)
    alive = np.ones(len(start), bool)
    for layer in range(n_layers):  # loop over band layers (a few voxels)
        position = coord + step * layer
        alive &= (position >= 0) & (position < size)
        voxel = np.where(alive, start + step * layer * strides[axis], 0)
        alive &= flat_grain[voxel] == grain_row
        bands[layer] = np.where(alive, voxel, -1)
    return bands


def band_mean(current_magnitude: np.ndarray, bands: np.ndarray, face: np.ndarray,
              group: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean |J| (A/m^2) per group over the bands (:func:`band_voxels`, one column per face) of
    the faces ``face`` in group ``group``; a voxel next to several faces counts once per face
    (faces weigh equally)."""
    flat_j = current_magnitude.ravel()
    total = np.zeros(n_groups)
    count = np.zeros(n_groups)
    for voxels in bands:  # loop over band layers
        values = np.where(voxels >= 0, flat_j[voxels], np.nan)[face]
        s, c = group_sum(values, group, n_groups)
        total += s
        count += c
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def electrode_distance(case, micro, electrode: int, points_m: np.ndarray,
                       voxels: tuple[np.ndarray, ...]) -> np.ndarray:
    """Distance (m) of points to an electrode: to the grid face of an edge electrode; for a
    voxel electrode, the smallest distance of the given flat ``voxels`` (one array per side of
    the points) to the nearest electrode voxel centre."""
    region = case.electrodes[electrode].region
    grid = case.grid
    if region.kind == "edge":
        axis, high = {"left": (0, False), "right": (0, True), "bottom": (1, False),
                      "top": (1, True), "front": (2, False), "back": (2, True)}[region.edge]
        coordinate = points_m[:, axis]
        return grid.extent_m[axis] - coordinate if high else coordinate
    from scipy.ndimage import distance_transform_edt

    outside = micro.electrode_index != electrode
    distance = distance_transform_edt(outside, sampling=grid.voxel_size_m).ravel()
    return np.min([distance[v] for v in voxels], axis=0)


def percentile_rank(values: np.ndarray) -> np.ndarray:
    """Rank of each finite value scaled to [0, 1] (ties share their mean rank; a single value
    gets 1; NaN gets 0)."""
    values = np.asarray(values, float)
    out = np.zeros(len(values))
    ok = np.isfinite(values)
    n = int(ok.sum())
    if n == 1:
        out[ok] = 1.0
    elif n > 1:
        out[ok] = (average_ranks(values[ok]) - 1.0) / (n - 1.0)
    return out


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank: ``scipy.stats.rankdata(values)`` (method
    "average"), in NumPy (importing scipy.stats cost ~0.5 s of every run for this)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]  # the first of each run of equal values
    starts = np.flatnonzero(first)
    counts = np.diff(np.r_[starts, len(values)])
    ranks = np.empty(len(values))
    ranks[order] = (starts + 0.5 * (counts + 1))[np.cumsum(first) - 1]
    return ranks


def risk_score(blocking: np.ndarray, gb_field: np.ndarray, contrast: np.ndarray,
               distance_m: np.ndarray, length_scale_m: float) -> np.ndarray:
    """Na+ accumulation risk per boundary, in [0, 2] (docs/gb-classification.md):

        risk = (1 + blocking) * (rank(|GB field|) + rank(|J| contrast) + proximity) / 3

    with rank() the percentile rank among the boundaries given, in [0, 1], and proximity =
    1 - distance to the negative electrode / length_scale (clipped to [0, 1]).
    """
    proximity = np.clip(1.0 - np.asarray(distance_m, float) / length_scale_m, 0.0, 1.0)
    proximity = np.where(np.isfinite(proximity), proximity, 0.0)
    terms = percentile_rank(np.abs(gb_field)) + percentile_rank(contrast) + proximity
    return (1.0 + np.asarray(blocking, float)) * terms / 3.0

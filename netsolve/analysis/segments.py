"""Split grain boundaries into straight segments (2D maps).

Voxel-face normals of a GB are a staircase: only their local average has a direction. Each face
gets a smoothed normal (the sum of the face normals of the same GB within a smoothing radius);
the angle of the smoothed normal against the GB's mean normal is cut into equal bins no wider
than the split angle, and the faces of one bin that touch each other form a segment. Pieces
shorter than the smoothing diameter (noise at bin edges, junction ends) join a touching segment.
So a straight GB stays one segment, and a GB whose normal turns by more than the split angle is
cut where it turns. Vectorized over faces (KD-tree pairs, bincount, sparse connected
components); see ``docs/gb-classification.md``.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree


def split_segments(centre: np.ndarray, normal: np.ndarray, edge: np.ndarray,
                   edge_normal: np.ndarray, voxel_size_m: float, split_angle_deg: float,
                   smoothing_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments of the GBs of a 2D map.

    centre: face centres (n, 2) m; normal: face normals from grain a to b (n, 2); edge: GB index
    per face; edge_normal: mean normal per GB (NaN for closed boundaries). Returns
    (segment per face, GB of every segment, index of every segment within its GB, 0-based in
    the order of the normal's angle).
    """
    n_faces = len(edge)
    if n_faces == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    h = voxel_size_m
    tree = cKDTree(centre)
    pairs = tree.query_pairs(max(smoothing_m, h) * (1 + 1e-9), output_type="ndarray")
    pairs = pairs[edge[pairs[:, 0]] == edge[pairs[:, 1]]]
    smooth = normal.astype(float).copy()
    for d in range(2):  # loop over axes
        smooth[:, d] += (np.bincount(pairs[:, 0], normal[pairs[:, 1], d], n_faces)
                         + np.bincount(pairs[:, 1], normal[pairs[:, 0], d], n_faces))

    # Signed angle of the smoothed normal against the GB's mean normal (x for closed GBs).
    ref = edge_normal[edge]
    ref = np.where(np.all(np.isfinite(ref), axis=1)[:, None], ref, [1.0, 0.0])
    angle = np.arctan2(ref[:, 0] * smooth[:, 1] - ref[:, 1] * smooth[:, 0],
                       np.einsum("ij,ij->i", ref, smooth))
    n_edges = int(edge.max()) + 1
    low = np.full(n_edges, np.inf)
    high = np.full(n_edges, -np.inf)
    np.minimum.at(low, edge, angle)
    np.maximum.at(high, edge, angle)
    span = high - low
    n_bins = np.maximum(np.ceil(span / np.radians(split_angle_deg) - 1e-9), 1).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        position = np.where(span[edge] > 0, (angle - low[edge]) / span[edge], 0.0)
    bins = np.minimum((position * n_bins[edge]).astype(np.int64), n_bins[edge] - 1)

    # Touching faces: collinear neighbours are h apart, faces meeting at a corner h / sqrt 2.
    distance = np.linalg.norm(centre[pairs[:, 0]] - centre[pairs[:, 1]], axis=1)
    touching = pairs[distance <= h * (1 + 1e-9)]
    same_bin = touching[bins[touching[:, 0]] == bins[touching[:, 1]]]
    component = _components(same_bin, n_faces)

    # Merge short pieces into a touching longer one (one pass).
    size = np.bincount(component)
    min_faces = max(2, int(np.ceil(2 * smoothing_m / h)))
    short = size[component] < min_faces
    cross = np.concatenate([touching[short[touching[:, 0]] & ~short[touching[:, 1]]],
                            touching[short[touching[:, 1]] & ~short[touching[:, 0]]][:, ::-1]])
    target = np.arange(len(size))
    small, first = np.unique(component[cross[:, 0]], return_index=True)
    target[small] = component[cross[first, 1]]
    component = target[component]
    component = _settle_bends(component, normal, pairs)

    labels, segment = np.unique(component, return_inverse=True)
    segment = segment.ravel()
    n_segments = len(labels)
    segment_edge = np.zeros(n_segments, np.int64)
    segment_edge[segment] = edge
    mean_angle = (np.bincount(segment, angle, n_segments)
                  / np.bincount(segment, minlength=n_segments))
    order = np.lexsort((mean_angle, segment_edge))
    rank = np.empty(n_segments, np.int64)
    rank[order] = np.arange(n_segments)
    # Renumber segments in (GB, angle) order; the index within the GB counts from its first.
    segment = rank[segment]
    segment_edge = segment_edge[order]
    first_of_edge = np.searchsorted(segment_edge, segment_edge, side="left")
    return segment, segment_edge, np.arange(n_segments) - first_of_edge


def _settle_bends(component: np.ndarray, normal: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Near a bend the smoothed normals blur the cut: each face within the smoothing radius of
    another segment of its GB moves to the nearby segment (its own included) whose mean normal
    is closest to the face's own normal (one pass)."""
    n_components = int(component.max()) + 1
    mean = np.stack([np.bincount(component, normal[:, d], n_components) for d in range(2)],
                    axis=1)
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-300)
    differ = pairs[component[pairs[:, 0]] != component[pairs[:, 1]]]
    face = np.concatenate([differ[:, 0], differ[:, 1]])
    other = component[np.concatenate([differ[:, 1], differ[:, 0]])]
    score = np.einsum("ij,ij->i", normal[face], mean[other])
    own = np.einsum("ij,ij->i", normal[face], mean[component[face]])
    order = np.lexsort((-score, face))  # best candidate first for every face
    face, other, score, own = face[order], other[order], score[order], own[order]
    first = np.unique(face, return_index=True)[1]
    better = score[first] > own[first] + 1e-12
    settled = component.copy()
    settled[face[first][better]] = other[first][better]
    return settled


def _components(pairs: np.ndarray, n: int) -> np.ndarray:
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]

"""Split grain boundaries into straight segments (2D maps).

A GB's voxel faces are unit edges of the corner lattice: together they trace the boundary as a
staircase polyline. Shapely merges the faces of each GB into polylines (``line_merge``: one per
connected run, broken where more than two runs meet) and simplifies each with the
Ramer-Douglas-Peucker algorithm (``simplify``, tolerance ``tolerance_vox``): a digital straight
line stays within sqrt(2) voxels of its chord, so its staircase collapses to one straight
piece, while a real corner (deviating by more than the tolerance) keeps its vertex. Consecutive
pieces then join one segment as long as their directions span at most the split angle; pieces
shorter than four times the tolerance (a jog at a triple junction), whose direction is
uncertain by more than atan(1/2) = 27 degrees, join their neighbours without turning the
segment. So a straight GB at any angle is one segment, an L-shaped GB two,
and a smoothly curved GB is cut every ``split_angle_deg`` of turn. See
``docs/gb-classification.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely


def split_segments(lower_voxel: np.ndarray, axis: np.ndarray, edge: np.ndarray,
                   shape: tuple[int, int], tolerance_vox: float,
                   split_angle_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments of the GBs of a 2D map.

    lower_voxel, axis: the GB faces (flat lower voxel, normal axis); edge: GB index per face
    (every index 0 .. max present); tolerance_vox: the simplification tolerance in voxels.
    Returns (segment per face, GB of every segment, index of every segment within its GB,
    0-based along the traced boundary).
    """
    n_faces = len(edge)
    if n_faces == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    trace = _trace(lower_voxel, axis, edge, shape, tolerance_vox)
    piece_segment = _join_pieces(trace, tolerance_vox, np.radians(split_angle_deg))
    segment = piece_segment[trace.face_piece]
    # Segments are numbered in (GB, line, position) order already: the index within the GB
    # counts from its first segment.
    n_segments = int(piece_segment.max()) + 1
    segment_edge = np.zeros(n_segments, np.int64)
    segment_edge[piece_segment] = trace.line_edge[trace.piece_line]
    first_of_edge = np.searchsorted(segment_edge, segment_edge, side="left")
    return segment, segment_edge, np.arange(n_segments) - first_of_edge


@dataclass(frozen=True)
class _Trace:
    """The traced and simplified boundary: per face its piece; per piece its line and its
    chord (corner-lattice units, along the line); per line its GB and whether it is closed."""

    face_piece: np.ndarray
    piece_line: np.ndarray
    piece_direction: np.ndarray
    line_edge: np.ndarray
    line_closed: np.ndarray


def _trace(lower_voxel, axis, edge, shape, tolerance_vox) -> _Trace:
    n_faces = len(edge)
    nx, ny = shape
    coords = np.stack(np.unravel_index(lower_voxel, shape), axis=1).astype(np.int64)
    start = coords.copy()
    start[np.arange(n_faces), axis] += 1  # the face lies on the upper side of its lower voxel
    end = start.copy()
    end[np.arange(n_faces), 1 - axis] += 1
    lines, line_edge = _merged_lines(np.stack([start, end], axis=1).astype(float), edge)
    lines, line_edge = _bridge_gaps(lines, line_edge, 2 * tolerance_vox)
    vertex, vertex_line = shapely.get_coordinates(lines, return_index=True)
    simple, simple_line = shapely.get_coordinates(
        shapely.simplify(lines, tolerance_vox, preserve_topology=False), return_index=True)
    vertex, simple = np.rint(vertex).astype(np.int64), np.rint(simple).astype(np.int64)
    n_lines = len(lines)
    first = np.searchsorted(vertex_line, np.arange(n_lines))
    n_vertices = np.bincount(vertex_line, minlength=n_lines)
    position = np.arange(len(vertex)) - first[vertex_line]
    last = position == n_vertices[vertex_line] - 1

    # Faces <- (line, position) of their lattice edge: the doubled midpoint is unique in a GB.
    def mid_key(gb, doubled):
        return (gb * (2 * nx + 3) + doubled[:, 0]) * (2 * ny + 3) + doubled[:, 1]

    face_key = mid_key(edge, start + end)
    step = np.flatnonzero(~last)
    step = step[np.abs(vertex[step + 1] - vertex[step]).sum(axis=1) == 1]  # not a bridge
    step_key = mid_key(line_edge[vertex_line[step]], vertex[step] + vertex[step + 1])
    by_key = np.argsort(step_key)
    where = by_key[np.searchsorted(step_key[by_key], face_key)]
    face_line, face_position = vertex_line[step][where], position[step][where]

    # Breakpoints: the vertices the simplification kept (a subsequence of the line's vertices;
    # interior ones are unique within a line), plus each line's two ends.
    def vertex_key(line, xy):
        return (line * (nx + 1) + xy[:, 0]) * (ny + 1) + xy[:, 1]

    table_key = vertex_key(vertex_line[~last], vertex[~last])
    by_vertex = np.argsort(table_key)
    simple_first = np.searchsorted(simple_line, np.arange(n_lines))
    simple_position = np.arange(len(simple)) - simple_first[simple_line]
    interior = ((simple_position > 0)
                & (simple_position < np.bincount(simple_line, minlength=n_lines)[simple_line] - 1))
    found = by_vertex[np.searchsorted(table_key[by_vertex],
                                      vertex_key(simple_line[interior], simple[interior]))]
    break_line = np.concatenate([np.arange(n_lines), vertex_line[~last][found],
                                 np.arange(n_lines)])
    break_position = np.concatenate([np.zeros(n_lines, np.int64), position[~last][found],
                                     n_vertices - 1])
    stride = int(n_vertices.max()) + 1
    breaks = np.unique(break_line * stride + break_position)
    piece_start, piece_end = breaks[:-1], breaks[1:]
    same_line = piece_start // stride == piece_end // stride
    piece_start, piece_end = piece_start[same_line], piece_end[same_line]
    piece_line = piece_start // stride
    a = first[piece_line] + piece_start % stride
    b = first[piece_line] + piece_end % stride
    face_piece = np.searchsorted(piece_start, face_line * stride + face_position, side="right") - 1
    closed = np.all(vertex[first] == vertex[first + n_vertices - 1], axis=1) & (n_vertices > 2)
    return _Trace(face_piece, piece_line, (vertex[b] - vertex[a]).astype(float), line_edge,
                  closed)


def _merged_lines(pieces: np.ndarray, edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polylines per GB from line pieces ((n, k, 2) coordinates, or LineStrings) with their GB
    index: Shapely's line_merge, broken where more than two pieces meet."""
    if not isinstance(pieces[0], shapely.Geometry):
        pieces = shapely.linestrings(pieces)
    # multilinestrings wants the indices 0, 1, ... in increasing order
    edges, compact = np.unique(edge, return_inverse=True)
    order = np.argsort(compact, kind="stable")
    merged = shapely.line_merge(shapely.multilinestrings(pieces[order],
                                                         indices=compact.ravel()[order]))
    lines, index = shapely.get_parts(merged, return_index=True)
    return lines, edges[index]


def _bridge_gaps(lines: np.ndarray, line_edge: np.ndarray,
                 reach: float) -> tuple[np.ndarray, np.ndarray]:
    """The lines with straight bridges between free ends (ends no other line of the GB shares)
    of different lines of one GB at most ``reach`` apart, closest first, each end bridged once,
    merged again: a GB pinched by a voxel of a third grain traces as one line. Lines in GB
    order."""
    from scipy.spatial import cKDTree

    ends = np.concatenate([shapely.get_coordinates(shapely.get_point(lines, k))
                           for k in (0, -1)])
    end_line = np.tile(np.arange(len(lines)), 2)
    end_edge = line_edge[end_line]
    _, where, count = np.unique(np.column_stack([end_edge, ends]), axis=0,
                                return_inverse=True, return_counts=True)
    free = (count[where.ravel()] == 1) & ~np.tile(shapely.is_closed(lines), 2)
    pairs = cKDTree(ends).query_pairs(reach * (1 + 1e-9), output_type="ndarray")
    pairs = pairs[free[pairs[:, 0]] & free[pairs[:, 1]]
                  & (end_edge[pairs[:, 0]] == end_edge[pairs[:, 1]])
                  & (end_line[pairs[:, 0]] != end_line[pairs[:, 1]])]
    pairs = pairs[np.argsort(np.linalg.norm(ends[pairs[:, 0]] - ends[pairs[:, 1]], axis=1),
                             kind="stable")]
    used = np.zeros(len(ends), bool)
    bridges = []
    for i, j in pairs:  # a few candidate gaps
        if not (used[i] or used[j]):
            used[i] = used[j] = True
            bridges.append((i, j))
    if not bridges:
        return lines, line_edge
    bridges = np.array(bridges)
    links = shapely.linestrings(np.stack([ends[bridges[:, 0]], ends[bridges[:, 1]]], axis=1))
    bridged = np.isin(line_edge, end_edge[bridges[:, 0]])  # only these GBs merge again
    merged, merged_edge = _merged_lines(np.concatenate([lines[bridged], links]),
                                        np.concatenate([line_edge[bridged],
                                                        end_edge[bridges[:, 0]]]))
    lines = np.concatenate([lines[~bridged], merged])
    line_edge = np.concatenate([line_edge[~bridged], merged_edge])
    order = np.argsort(line_edge, kind="stable")
    return lines[order], line_edge[order]


def _join_pieces(trace: _Trace, tolerance_vox: float, split_angle: float) -> np.ndarray:
    """Segment index per piece: consecutive pieces of a line share a segment while their
    directions span at most ``split_angle`` (rad); short pieces follow their neighbours.
    Segments are numbered in line order."""
    n_lines, n_pieces = len(trace.line_edge), len(trace.piece_line)
    first = np.searchsorted(trace.piece_line, np.arange(n_lines + 1))  # pieces by line
    local = np.zeros(n_pieces, np.int64)  # the segment of a piece within its line
    count = np.ones(n_lines, np.int64)  # segments per line: one for a single piece
    short = np.linalg.norm(trace.piece_direction, axis=1) < 4 * tolerance_vox
    angle = np.arctan2(trace.piece_direction[:, 1], trace.piece_direction[:, 0])
    for line in np.flatnonzero(np.diff(first) > 1):  # lines of several pieces (table-sized)
        pieces = range(first[line], first[line + 1])
        local[first[line]:first[line + 1]], count[line] = _join_line(
            short[pieces], angle[pieces], bool(trace.line_closed[line]), split_angle)
    offset = np.concatenate([[0], np.cumsum(count)[:-1]])
    return offset[trace.piece_line] + local


def _join_line(short: np.ndarray, angle: np.ndarray, closed: bool,
               split_angle: float) -> tuple[np.ndarray, int]:
    """The segment of each piece of one line (0, 1, ...) and the number of segments."""
    segment = np.empty(len(angle), np.int64)
    spans = []  # per segment: [low, high] unwrapped angle (None: no long piece yet)
    previous = None
    for k in range(len(angle)):  # a few pieces per line
        if short[k]:
            if not spans:
                spans.append(None)
            segment[k] = len(spans) - 1
            continue
        value = angle[k]
        if previous is not None:  # unwrap against the previous long piece
            value = previous + (value - previous + np.pi) % (2 * np.pi) - np.pi
        previous = value
        span = spans[-1] if spans else None
        if span is None:
            if spans:
                spans[-1] = [value, value]
            else:
                spans.append([value, value])
        elif max(span[1], value) - min(span[0], value) <= split_angle + 1e-12:
            span[0], span[1] = min(span[0], value), max(span[1], value)
        else:
            spans.append([value, value])
        segment[k] = len(spans) - 1
    if (closed and len(spans) > 1 and spans[0] is not None and spans[-1] is not None
            and _joinable(spans[0], spans[-1], split_angle)):
        # A closed line starts anywhere: its last and first segments may be one.
        segment[segment == len(spans) - 1] = 0
        spans.pop()
    return segment, len(spans)


def _joinable(first: list, last: list, split_angle: float) -> bool:
    """Whether two angle spans (rad, unwrapped up to whole turns) span at most split_angle."""
    shift = 2 * np.pi * np.round((last[0] - first[0]) / (2 * np.pi))
    return (max(last[1], first[1] + shift) - min(last[0], first[0] + shift)
            <= split_angle + 1e-12)

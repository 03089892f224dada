"""Voxel-grid geometry shared by the stages: face index slices, the grid faces of the edge
electrodes, and the faces between conducting voxels and electrodes."""

from __future__ import annotations

import numpy as np

from .case import Case
from .microstructure import Microstructure

# Grid face of each edge electrode region: (axis, side), side -1 at index 0, +1 at the end.
EDGE_AXIS_SIDE = {"left": (0, -1), "right": (0, 1), "bottom": (1, -1), "top": (1, 1),
                  "front": (2, -1), "back": (2, 1)}


def face_slices(ndim: int, axis: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Index slices of the lower and upper voxel of every face normal to ``axis``."""
    lower = [slice(None)] * ndim
    upper = [slice(None)] * ndim
    lower[axis] = slice(0, -1)
    upper[axis] = slice(1, None)
    return tuple(lower), tuple(upper)


def electrode_faces(case: Case, micro: Microstructure, node_id: np.ndarray):
    """Faces between conducting voxels and electrodes: (node, electrode, axis, side) arrays.

    ``node_id``: index of each voxel's unknown (grid shape), -1 where the voxel does not
    conduct; ``side`` is +1 when the electrode lies on the + side of the voxel along ``axis``."""
    ndim = case.grid.ndim
    nodes, ids, axes, sides = [], [], [], []

    def add(node_values, electrode_values, axis, side):
        nodes.append(node_values)
        ids.append(electrode_values)
        axes.append(np.full(len(node_values), axis))
        sides.append(np.full(len(node_values), side))

    for k, electrode in enumerate(case.electrodes):
        if electrode.region.kind != "edge":
            continue
        axis, side = EDGE_AXIS_SIDE[electrode.region.edge]
        face = [slice(None)] * ndim
        face[axis] = 0 if side < 0 else -1
        layer = node_id[tuple(face)]
        hit = layer[layer >= 0]
        add(hit, np.full(len(hit), k), axis, side)

    if (micro.electrode_index >= 0).any():
        for axis in range(ndim):
            lo, hi = face_slices(ndim, axis)
            a, b = node_id[lo], node_id[hi]
            ea, eb = micro.electrode_index[lo], micro.electrode_index[hi]
            plus = (a >= 0) & (eb >= 0)  # electrode on the + side of a conducting voxel
            add(a[plus], eb[plus], axis, 1)
            minus = (b >= 0) & (ea >= 0)
            add(b[minus], ea[minus], axis, -1)

    if not nodes:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    return tuple(np.concatenate(x).astype(np.int64) for x in (nodes, ids, axes, sides))

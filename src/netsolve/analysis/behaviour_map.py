"""The GB behaviour as integer codes per GB face and per voxel (for maps and VTK files).

Codes rise with severity, so a voxel next to several GB faces shows the most severe behaviour
among them: -1 no GB face, 0 undetermined (grey), 1 no migration across (cyan), 2 migration
across (black), 3 blocking or transport along the GB, III a2 (orange), 4 blocking, II b1 (red).
Each face takes the behaviour of its segment (2D) / GB (3D), as in ``gb_table.csv``.
"""

from __future__ import annotations

import numpy as np

from .classify import ACROSS, BLOCKING, BLOCKING_ALONG, NONE, UNDETERMINED
from .metrics import face_voxels

NO_GB = -1
BEHAVIOUR_CODES = {UNDETERMINED: 0, NONE: 1, ACROSS: 2, BLOCKING_ALONG: 3, BLOCKING: 4}


def face_behaviour_codes(table) -> np.ndarray:
    """Behaviour code (int8) of each GB face of a :class:`~netsolve.analysis.GBTable`
    (``table.face_*`` order); behaviours outside :data:`BEHAVIOUR_CODES` count as undetermined."""
    names = np.asarray(table.behaviour).astype(str)
    kinds, index = np.unique(names, return_inverse=True)
    codes = np.array([BEHAVIOUR_CODES.get(k, 0) for k in kinds], dtype=np.int8)
    return codes[index.ravel()][table.face_segment_row]


def voxel_behaviour_codes(table, shape: tuple[int, ...]) -> np.ndarray:
    """Grid-shaped int8 map: per voxel the highest behaviour code of the GB faces it touches
    (on either side), :data:`NO_GB` (-1) for voxels that touch none."""
    codes = face_behaviour_codes(table)
    lower = np.asarray(table.face_lower_voxel, np.int64)
    upper = face_voxels(lower, np.asarray(table.face_axis, np.int64), shape)
    out = np.full(int(np.prod(shape)), NO_GB, dtype=np.int8)
    for side in (lower, upper):  # both voxels of every face
        np.maximum.at(out, side, codes)
    return out.reshape(shape)

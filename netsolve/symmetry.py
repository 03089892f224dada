"""Crystal symmetry of Na-beta''-alumina (trigonal, Laue group -3m) and misorientations.

Crystal frame: z along c, x along a (hexagonal axes). Orientation matrices ``g`` are passive
Bunge matrices (sample -> crystal, see ``netsolve.orientation``). Crystal-equivalent
orientations are ``S g`` for the proper rotations S of the group (point group 32: identity,
+-120 degrees about c, 180 degrees about the three a-type axes in the basal plane).
The misorientation angle of two orientations is the smallest rotation angle of
``S g_b g_a^T`` over S (one-sided minimum suffices for the angle: conjugation by a symmetry
operator preserves the angle).
"""

from __future__ import annotations

import numpy as np


def axis_rotation(axis, angle_rad: float) -> np.ndarray:
    """Active right-handed rotation matrix (3, 3) by ``angle_rad`` about ``axis`` (Rodrigues)."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    x, y, z = axis
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + s * k + (1 - c) * (k @ k)


_rotation = axis_rotation  # the earlier private name (tests import it)


def _group_32() -> np.ndarray:
    ops = [_rotation([0, 0, 1], a) for a in (0.0, 2 * np.pi / 3, 4 * np.pi / 3)]
    ops += [_rotation([np.cos(a), np.sin(a), 0.0], np.pi) for a in (0.0, np.pi / 3, 2 * np.pi / 3)]
    ops = np.array(ops)
    ops[np.abs(ops) < 1e-15] = 0.0
    return ops


TRIGONAL_32 = _group_32()  # (6, 3, 3) proper rotations of Laue group -3m


def rotation_angle(matrices: np.ndarray) -> np.ndarray:
    """Rotation angle in radians of rotation matrices (..., 3, 3)."""
    trace = np.trace(matrices, axis1=-2, axis2=-1)
    return np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))


def misorientation_angle(g_a: np.ndarray, g_b: np.ndarray,
                         symmetry: np.ndarray = TRIGONAL_32) -> np.ndarray:
    """Misorientation angles (radians) of pairs of orientation matrices (..., 3, 3).

    Vectorized over pairs; NaN where either matrix contains NaN (unknown orientation).
    """
    delta = g_b @ np.swapaxes(g_a, -1, -2)
    # trace(S delta) for every S at once: sum_ij S_ij delta_ji
    traces = np.einsum("sij,...ji->...s", symmetry, delta)
    best = traces.max(axis=-1)
    return np.arccos(np.clip((best - 1.0) / 2.0, -1.0, 1.0))

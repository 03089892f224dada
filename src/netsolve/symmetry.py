"""Crystal symmetry and misorientations.

Crystal frame: z along c, x along a (hexagonal and trigonal axes; for cubic and tetragonal
crystals the cell axes). Orientation matrices ``g`` are passive Bunge matrices (sample ->
crystal, see ``netsolve.orientation``). Crystal-equivalent orientations are ``S g`` for the
proper rotations S of the crystal's Laue class (e.g. -3m, the Laue class of Na-beta''-alumina:
identity, +-120 degrees about c, 180 degrees about the three a-type axes in the basal plane).
The misorientation angle of two orientations is the smallest rotation angle of
``S g_b g_a^T`` over S (one-sided minimum suffices for the angle: conjugation by a symmetry
operator preserves the angle).

:class:`CrystalSymmetry` says how a crystal conducts: cubic crystals isotropically (one
conductivity), tetragonal, trigonal and hexagonal crystals uniaxially (in the planes normal to
c and along c), lower symmetries biaxially (not modelled). The groups of a file's phases come
from orix (:func:`crystal_symmetry`); -3m, the default for maps without a declared symmetry, is
built here so that netsolve needs no orix for it.
"""

from __future__ import annotations

from dataclasses import dataclass

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

# How a crystal system conducts (a second-rank tensor of that symmetry).
CONDUCTION = {"cubic": "isotropic", "tetragonal": "uniaxial", "trigonal": "uniaxial",
              "hexagonal": "uniaxial", "orthorhombic": "biaxial", "monoclinic": "biaxial",
              "triclinic": "biaxial"}


@dataclass(frozen=True)
class CrystalSymmetry:
    """The symmetry of a crystal phase: ``laue`` class (e.g. "-3m", "6/mmm", "m-3m"), crystal
    ``system`` ("trigonal", "cubic", ...) and ``rotations`` (k, 3, 3), the proper rotations of
    the Laue class in the crystal frame."""

    laue: str
    system: str
    rotations: np.ndarray

    @property
    def quaternions(self) -> np.ndarray:
        """The rotations as unit quaternions (k, 4) (:func:`quaternion_from_matrix`)."""
        return quaternion_from_matrix(self.rotations)

    @property
    def conduction(self) -> str:
        """"isotropic" (cubic), "uniaxial" (tetragonal, trigonal, hexagonal: the c-axis is the
        conduction-plane normal) or "biaxial" (orthorhombic and lower)."""
        return CONDUCTION[self.system]

    def as_dict(self) -> dict:
        """JSON-ready description (summary.json)."""
        return {"laue_class": self.laue, "crystal_system": self.system,
                "conduction": self.conduction}


BETA_ALUMINA = CrystalSymmetry("-3m", "trigonal", TRIGONAL_32)


def crystal_symmetry(point_group) -> CrystalSymmetry:
    """The :class:`CrystalSymmetry` of an orix point group (``orix.quaternion.Symmetry``, e.g.
    ``Phase.point_group``): its Laue class, system and the Laue class's proper rotations."""
    rotations = np.asarray(point_group.laue_proper_subgroup.to_matrix(), float).reshape(-1, 3, 3)
    rotations[np.abs(rotations) < 1e-15] = 0.0
    return CrystalSymmetry(point_group.laue.name, point_group.system, rotations)


def laue_symmetry(laue: str) -> CrystalSymmetry:
    """The :class:`CrystalSymmetry` of a Laue class name (e.g. a saved result's
    ``summary.json`` ``microstructure_source.crystal_symmetry.laue_class``): -3m without orix,
    the others through orix (``orix.quaternion.symmetry``)."""
    if laue == BETA_ALUMINA.laue:
        return BETA_ALUMINA
    from orix.quaternion import symmetry

    groups = [g for g in vars(symmetry).values() if isinstance(g, symmetry.Symmetry)]
    match = next((g for g in groups if g.name == laue and g.laue.name == laue), None)
    if match is None:
        raise ValueError(f"unknown Laue class {laue!r}")
    return crystal_symmetry(match)


def rotation_angle(matrices: np.ndarray) -> np.ndarray:
    """Rotation angle in radians of rotation matrices (..., 3, 3)."""
    trace = np.trace(matrices, axis1=-2, axis2=-1)
    return np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))


def misorientation_angle(g_a: np.ndarray, g_b: np.ndarray,
                         symmetry: np.ndarray = TRIGONAL_32) -> np.ndarray:
    """Misorientation angles (radians) of pairs of orientation matrices (..., 3, 3) under the
    proper rotations ``symmetry`` (k, 3, 3) (default -3m).

    Vectorized over pairs; NaN where either matrix contains NaN (unknown orientation).
    """
    delta = g_b @ np.swapaxes(g_a, -1, -2)
    # trace(S delta) = sum_ij S_ij delta_ji for every S at once: one matrix product
    flat = np.swapaxes(delta, -1, -2).reshape(delta.shape[:-2] + (9,))
    traces = flat @ np.asarray(symmetry).reshape(-1, 9).T
    best = traces.max(axis=-1)
    return np.arccos(np.clip((best - 1.0) / 2.0, -1.0, 1.0))


# --- unit quaternions (the fast path for the pixels of orientation maps) -----------------------
# q = (w, x, y, z) with the rotation matrix R(q) of the Hamilton convention, so that
# R(a b) = R(a) R(b): the same group as the matrices above, at 4 numbers per orientation.
# orix has the same operations, but 5-10x slower on a million pixels (its Rotation objects).

def quaternion_from_euler(euler_rad: np.ndarray) -> np.ndarray:
    """Unit quaternions (n, 4) of Bunge angles (n, 3): R(q) = ``orientation.bunge_matrix``
    (orix's ``Rotation.from_euler``)."""
    p1, big_phi, p2 = np.moveaxis(np.asarray(euler_rad, float), -1, 0)
    sigma, delta = (p1 + p2) / 2, (p1 - p2) / 2
    c, s = np.cos(big_phi / 2), np.sin(big_phi / 2)
    return np.stack([c * np.cos(sigma), -s * np.cos(delta), -s * np.sin(delta),
                     -c * np.sin(sigma)], axis=-1)


def quaternion_from_matrix(matrices: np.ndarray) -> np.ndarray:
    """Unit quaternions (k, 4) of rotation matrices (k, 3, 3) (Shepperd's method; w >= 0).
    For a handful of matrices (symmetry operators, frame rotations)."""
    out = []
    for m in np.asarray(matrices, float).reshape(-1, 3, 3):  # k <= 24 rows
        d = [1 + np.trace(m), 1 + m[0, 0] - m[1, 1] - m[2, 2], 1 - m[0, 0] + m[1, 1] - m[2, 2],
             1 - m[0, 0] - m[1, 1] + m[2, 2]]
        k = int(np.argmax(d))
        r = np.sqrt(d[k]) / 2
        if k == 0:
            q = [r, (m[2, 1] - m[1, 2]) / (4 * r), (m[0, 2] - m[2, 0]) / (4 * r),
                 (m[1, 0] - m[0, 1]) / (4 * r)]
        elif k == 1:
            q = [(m[2, 1] - m[1, 2]) / (4 * r), r, (m[0, 1] + m[1, 0]) / (4 * r),
                 (m[0, 2] + m[2, 0]) / (4 * r)]
        elif k == 2:
            q = [(m[0, 2] - m[2, 0]) / (4 * r), (m[0, 1] + m[1, 0]) / (4 * r), r,
                 (m[1, 2] + m[2, 1]) / (4 * r)]
        else:
            q = [(m[1, 0] - m[0, 1]) / (4 * r), (m[0, 2] + m[2, 0]) / (4 * r),
                 (m[1, 2] + m[2, 1]) / (4 * r), r]
        q = np.array(q)
        out.append(q if q[0] >= 0 else -q)
    return np.array(out).reshape(-1, 4)


def matrix_from_quaternion(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of unit quaternions (..., 4)."""
    w, x, y, z = np.moveaxis(np.asarray(q, float), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=-2)


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton products a b of quaternions (..., 4) (broadcasting)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, float), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, float), -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def conjugate(q: np.ndarray) -> np.ndarray:
    return np.asarray(q, float) * np.array([1.0, -1.0, -1.0, -1.0])


def symmetric_scalar(q: np.ndarray, symmetry_q: np.ndarray) -> np.ndarray:
    """|w| of ``s q`` for every operator s (k, 4): (..., k). The rotation angle of s q is
    2 arccos of it (w(s q) = <conj(s), q>, and the group holds conj(s) with s)."""
    return np.abs(np.asarray(q, float) @ conjugate(symmetry_q).T)


def misorientation_below(q_a: np.ndarray, q_b: np.ndarray, symmetry_q: np.ndarray,
                         angle_rad: float) -> np.ndarray:
    """Whether the misorientation of each pair of unit quaternions (n, 4) is below
    ``angle_rad``. Pairs already that close without symmetry (most neighbours inside a
    grain) skip the search over the operators."""
    delta = quaternion_multiply(q_b, conjugate(q_a))
    limit = np.cos(angle_rad / 2)
    close = np.abs(delta[:, 0]) > limit
    rest = np.flatnonzero(~close)
    if rest.size:
        close[rest] = symmetric_scalar(delta[rest], symmetry_q).max(axis=-1) > limit
    return close

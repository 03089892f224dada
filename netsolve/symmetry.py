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

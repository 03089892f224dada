"""Orientation conventions (documented in ``docs/conventions.md``).

- Sample frame: x = grid axis 0, y = grid axis 1, z = grid axis 2 (2D: z is the lamella normal).
- Bunge Euler angles (phi1, Phi, phi2), passive rotation, matrix ``g`` maps sample-frame
  vectors to crystal-frame vectors (as orix and most EBSD/ACOM software).
- Crystal c-axis in the sample frame: ``c = g^T [0, 0, 1]`` (the third row of ``g``).
- The paper's angles: alpha = angle between the conduction plane and the lamella surface
  = arccos(|c_z|); theta = angle between the trace of the conduction plane on the surface,
  ``d = normalize(-c_y, c_x)``, and the x axis, folded into [0, 180) degrees. When the planes lie
  in the surface (c = z) the trace is undefined and theta is taken as 0.

c-axes are stored as unit vectors with c_z >= 0 (c and -c describe the same uniaxial crystal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .case import GrainOrientation
from .errors import CaseError


@dataclass(frozen=True)
class GrainOrientations:
    """Per-grain orientation table; row k describes grain ``grain_ids[k]``.

    ``euler_rad`` is NaN for grains given only by a c-axis or by theta/alpha (their rotation
    about c is unknown and irrelevant for a uniaxial conductor).
    """

    grain_ids: np.ndarray  # (n,) int64, sorted
    c_axis: np.ndarray  # (n, 3) unit vectors, c_z >= 0
    euler_rad: np.ndarray  # (n, 3), NaN where unknown
    theta_rad: np.ndarray  # (n,) in [0, pi)
    alpha_rad: np.ndarray  # (n,) in [0, pi/2]

    def __len__(self) -> int:
        return len(self.grain_ids)


def bunge_matrix(euler_rad: np.ndarray) -> np.ndarray:
    """Passive Bunge rotation matrices g (sample -> crystal), shape (..., 3, 3)."""
    euler_rad = np.asarray(euler_rad, dtype=float)
    p1, P, p2 = np.moveaxis(euler_rad, -1, 0)
    c1, s1, c, s, c2, s2 = np.cos(p1), np.sin(p1), np.cos(P), np.sin(P), np.cos(p2), np.sin(p2)
    g = np.empty(euler_rad.shape[:-1] + (3, 3))
    g[..., 0, 0] = c1 * c2 - s1 * s2 * c
    g[..., 0, 1] = s1 * c2 + c1 * s2 * c
    g[..., 0, 2] = s2 * s
    g[..., 1, 0] = -c1 * s2 - s1 * c2 * c
    g[..., 1, 1] = -s1 * s2 + c1 * c2 * c
    g[..., 1, 2] = c2 * s
    g[..., 2, 0] = s1 * s
    g[..., 2, 1] = -c1 * s
    g[..., 2, 2] = c
    return g


def euler_from_matrix(g: np.ndarray) -> np.ndarray:
    """Bunge Euler angles (phi1, Phi, phi2) in radians of passive matrices g (..., 3, 3), the
    inverse of :func:`bunge_matrix`; phi1, phi2 in [0, 2 pi), Phi in [0, pi]. For Phi = 0 or pi
    only phi1 +- phi2 is defined: phi2 = 0 is returned."""
    g = np.asarray(g, dtype=float)
    Phi = np.arccos(np.clip(g[..., 2, 2], -1.0, 1.0))
    degenerate = np.hypot(g[..., 2, 0], g[..., 2, 1]) < 1e-9
    phi1 = np.where(degenerate, np.arctan2(g[..., 0, 1], g[..., 0, 0]),
                    np.arctan2(g[..., 2, 0], -g[..., 2, 1]))
    phi2 = np.where(degenerate, 0.0, np.arctan2(g[..., 0, 2], g[..., 1, 2]))
    return np.stack([np.mod(phi1, 2 * np.pi), Phi, np.mod(phi2, 2 * np.pi)], axis=-1)


def c_axis_from_euler(euler_rad: np.ndarray) -> np.ndarray:
    """Crystal c-axis in the sample frame, ``g^T e_z``; shape (..., 3)."""
    return canonical_c_axis(bunge_matrix(euler_rad)[..., 2, :])


def c_axis_from_theta_alpha(theta_rad: np.ndarray, alpha_rad: np.ndarray) -> np.ndarray:
    """The c-axis whose conduction plane has trace angle theta and tilt alpha (see module doc)."""
    t, a = np.asarray(theta_rad, float), np.asarray(alpha_rad, float)
    c = np.stack([np.sin(a) * np.sin(t), -np.sin(a) * np.cos(t), np.cos(a)], axis=-1)
    return canonical_c_axis(c)


def canonical_c_axis(c: np.ndarray) -> np.ndarray:
    """Normalize and flip so that c_z >= 0 (for c_z == 0: first nonzero component > 0)."""
    c = np.asarray(c, dtype=float)
    c = c / np.linalg.norm(c, axis=-1, keepdims=True)
    # Exact zeros matter: a c-axis in the plane must not flip on rounding noise.
    c = np.where(np.abs(c) < 1e-15, 0.0, c)
    key = np.where(c[..., 2] != 0, c[..., 2], np.where(c[..., 0] != 0, c[..., 0], c[..., 1]))
    return np.where((key < 0)[..., None], -c, c)


def theta_alpha_from_c(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The paper's (theta, alpha) in radians for c-axes of shape (..., 3)."""
    c = canonical_c_axis(c)
    alpha = np.arccos(np.clip(np.abs(c[..., 2]), 0.0, 1.0))
    dx, dy = -c[..., 1], c[..., 0]
    in_surface = np.hypot(dx, dy) < 1e-12
    theta = np.mod(np.arctan2(dy, dx), np.pi)
    theta = np.where(in_surface | np.isclose(theta, np.pi), 0.0, theta)
    return theta, alpha


def orientations_from_case(grains: tuple[GrainOrientation, ...], origin: str) -> GrainOrientations:
    """Build the per-grain table from the ``[[grains]]`` entries of a case.

    theta/alpha given in the file are kept exactly (the ding2023 model uses them as written).
    """
    grains = tuple(sorted(grains, key=lambda g: g.grain_id))
    n = len(grains)
    ids = np.array([g.grain_id for g in grains], dtype=np.int64)
    euler = np.full((n, 3), np.nan)
    c = np.zeros((n, 3))
    theta = np.zeros(n)
    alpha = np.zeros(n)
    given_ta = np.zeros(n, dtype=bool)
    for k, g in enumerate(grains):  # one row per grain (not per voxel): table-sized loop
        if g.euler_deg is not None:
            euler[k] = np.radians(g.euler_deg)
            c[k] = c_axis_from_euler(euler[k])
        elif g.theta_alpha_deg is not None:
            theta[k], alpha[k] = np.radians(g.theta_alpha_deg)
            if not 0.0 <= g.theta_alpha_deg[1] <= 90.0:
                raise CaseError(f"{origin}: grain {g.grain_id}: alpha_deg must be in [0, 90], "
                                f"got {g.theta_alpha_deg[1]}")
            c[k] = c_axis_from_theta_alpha(theta[k], alpha[k])
            given_ta[k] = True
        else:
            c[k] = canonical_c_axis(np.array(g.c_axis))
    derived_theta, derived_alpha = theta_alpha_from_c(c) if n else (theta, alpha)
    theta = np.where(given_ta, np.mod(theta, np.pi), derived_theta)
    alpha = np.where(given_ta, alpha, derived_alpha)
    return GrainOrientations(ids, c, euler, theta, alpha)


def random_orientations(grain_ids: np.ndarray, rng: np.random.Generator) -> GrainOrientations:
    """Uniformly random orientations (uniform on SO(3)) for the given grain ids."""
    n = len(grain_ids)
    u = rng.random((n, 3))
    phi1 = 2 * np.pi * u[:, 0]
    Phi = np.arccos(2 * u[:, 1] - 1)  # cos(Phi) uniform -> Haar measure
    phi2 = 2 * np.pi * u[:, 2]
    euler = np.stack([phi1, Phi, phi2], axis=1)
    c = c_axis_from_euler(euler)
    theta, alpha = theta_alpha_from_c(c)
    return GrainOrientations(np.asarray(grain_ids, dtype=np.int64), c, euler, theta, alpha)

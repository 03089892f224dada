"""``source = "voronoi"``: a synthetic polycrystal (seeded, reproducible).

Grains are the Voronoi cells of uniformly random seeds (``n_grains``, or ``mean_grain_size_nm``
= the edge of the mean grain area/volume); orientations are uniform on SO(3)
(``texture = "random"``) or a c-axis fibre texture (``texture = "fibre"``: c-axes tilted from
``fibre_axis`` by a 2D Gaussian of standard deviation ``fibre_spread_deg`` in the tangent plane,
rotation about c uniform); optional ZrO2 particles are random overlapping discs (2D) or spheres
(3D). Grains, orientations and particles draw from independent random streams, so changing the
ZrO2 or texture settings keeps the grains.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from ..orientation import (GrainOrientations, c_axis_from_euler, random_orientations,
                           theta_alpha_from_c)
from ..ranges import LENGTH_NM, Range

NM = 1e-9


def read_options(t, base_dir, grid) -> dict:
    n_voxels = math.prod(grid.shape)
    if t.has("n_grains") == t.has("mean_grain_size_nm"):
        t.fail("[microstructure] source = \"voronoi\" needs exactly one of n_grains or "
               "mean_grain_size_nm")
    if t.has("n_grains"):
        n_grains = t.integer("n_grains", minimum=1)
    else:
        size_m = t.number("mean_grain_size_nm", within=LENGTH_NM) * NM
        region = math.prod(grid.extent_m)
        n_grains = max(1, round(region / size_m ** grid.ndim))
    if n_grains > n_voxels:
        t.fail(f"'microstructure.n_grains' = {n_grains} exceeds the number of voxels ({n_voxels})")
    fraction = t.number("zro2_fraction", 0.0, nonnegative=True)
    if fraction >= 1:
        t.fail(f"'microstructure.zro2_fraction' must be < 1, got {fraction}")
    radius = t.number("zro2_radius_nm", 0.0, within=Range(0.0, LENGTH_NM.high, "nm"))
    half_voxel_nm = 0.5 * grid.voxel_size_m / NM
    if fraction > 0 and radius < half_voxel_nm:
        t.fail(f"'microstructure.zro2_radius_nm' must be at least half a voxel "
               f"({half_voxel_nm:g} nm) when zro2_fraction > 0, got {radius:g}")
    texture = t.string("texture", "random", choices=("random", "fibre"))
    options = {"n_grains": n_grains, "seed": t.integer("seed", 0, minimum=0),
               "zro2_fraction": fraction, "zro2_radius_nm": radius, "texture": texture}
    if texture == "fibre":
        axis = t.numbers("fibre_axis", 3, (0.0, 0.0, 1.0))
        if math.hypot(*axis) == 0:
            t.fail("'microstructure.fibre_axis' must not be the zero vector")
        options["fibre_axis"] = axis
        options["fibre_spread_deg"] = t.number("fibre_spread_deg", 10.0, nonnegative=True)
    return options


def load(options: dict, case):
    from . import SourceMap

    grid = case.grid
    grain_rng, orientation_rng, particle_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(options["seed"]).spawn(3))
    labels = voronoi_labels(grid.shape, options["n_grains"], grain_rng)
    phases = {}
    if options["zro2_fraction"] > 0:
        radius_vox = options["zro2_radius_nm"] * NM / grid.voxel_size_m
        particles = random_particles(grid.shape, options["zro2_fraction"], radius_vox, particle_rng)
        phases["zro2"] = zro2_label(case.microstructure.phases)
        labels[particles] = phases["zro2"]
    ids = np.arange(1, options["n_grains"] + 1)
    if options["texture"] == "fibre":
        orientations = fibre_orientations(ids, options["fibre_axis"],
                                          np.radians(options["fibre_spread_deg"]), orientation_rng)
    else:
        orientations = random_orientations(ids, orientation_rng)
    return SourceMap(labels, orientations, phases)


def fibre_orientations(grain_ids: np.ndarray, axis, spread_rad: float,
                       rng: np.random.Generator) -> GrainOrientations:
    """c-axes scattered about ``axis`` (sample frame) by a tangent-plane Gaussian of standard
    deviation ``spread_rad`` per direction; rotation about c uniform. Bunge angles follow from
    c = (sin phi1 sin Phi, -cos phi1 sin Phi, cos Phi)."""
    n = len(grain_ids)
    f = np.asarray(axis, float) / np.linalg.norm(axis)
    helper = np.array([1.0, 0, 0]) if abs(f[0]) < 0.9 else np.array([0, 1.0, 0])
    u = np.cross(f, helper)
    u /= np.linalg.norm(u)
    v = np.cross(f, u)
    tangent = rng.normal(0.0, spread_rad, (n, 2))
    tilt = np.hypot(tangent[:, 0], tangent[:, 1])
    direction = np.arctan2(tangent[:, 1], tangent[:, 0])
    c = (np.cos(tilt)[:, None] * f
         + np.sin(tilt)[:, None] * (np.cos(direction)[:, None] * u + np.sin(direction)[:, None] * v))
    Phi = np.arccos(np.clip(c[:, 2], -1, 1))
    phi1 = np.mod(np.arctan2(c[:, 0], -c[:, 1]), 2 * np.pi)
    phi2 = 2 * np.pi * rng.random(n)
    euler = np.stack([phi1, Phi, phi2], axis=1)
    c_axis = c_axis_from_euler(euler)
    theta, alpha = theta_alpha_from_c(c_axis)
    return GrainOrientations(np.asarray(grain_ids, np.int64), c_axis, euler, theta, alpha)


def zro2_label(phases: dict[str, int]) -> int:
    """Label value of generated ZrO2 particles: the declared one, else one no phase uses."""
    from . import phase_values

    return phase_values({"zro2"}, phases)["zro2"]


def voxel_centres(shape: tuple[int, ...]) -> np.ndarray:
    """Voxel centre coordinates in voxel units, shape (n_voxels, ndim), C order."""
    axes = [np.arange(n, dtype=np.float32) + 0.5 for n in shape]
    return np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)


def voronoi_labels(shape: tuple[int, ...], n_grains: int, rng: np.random.Generator) -> np.ndarray:
    """Voronoi tessellation with uniformly random seeds; grain ids 1..n_grains, int32."""
    seeds = rng.random((n_grains, len(shape))) * np.array(shape)
    tree = cKDTree(seeds)
    labels = np.empty(int(np.prod(shape)), dtype=np.int32)
    points = voxel_centres(shape)
    chunk = 1 << 20
    for start in range(0, len(points), chunk):  # chunks bound the memory of the query
        _, idx = tree.query(points[start:start + chunk], workers=-1)
        labels[start:start + chunk] = idx + 1
    return labels.reshape(shape)


def random_particles(shape: tuple[int, ...], fraction: float, radius_vox: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of random overlapping discs/spheres covering about ``fraction`` of voxels."""
    volume = np.pi * radius_vox**2 if len(shape) == 2 else 4 / 3 * np.pi * radius_vox**3
    # Overlapping Poisson spheres cover 1 - exp(-n v / V): invert for the particle count.
    n = max(1, int(round(-np.log(1 - fraction) * np.prod(shape) / max(volume, 1.0))))
    centres = rng.random((n, len(shape))) * np.array(shape)
    tree = cKDTree(centres)
    points = voxel_centres(shape)
    mask = np.empty(len(points), dtype=bool)
    chunk = 1 << 20
    for start in range(0, len(points), chunk):
        dist, _ = tree.query(points[start:start + chunk], workers=-1,
                             distance_upper_bound=radius_vox + 1e-9)
        mask[start:start + chunk] = np.isfinite(dist)
    return mask.reshape(shape)

"""``source = "voronoi"``: a synthetic polycrystal (seeded, reproducible).

Grains are the Voronoi cells of uniformly random seeds; orientations are uniform on SO(3);
optional ZrO2 particles are random overlapping discs (2D) or spheres (3D). Grains, orientations
and particles draw from independent random streams, so changing the ZrO2 settings keeps the
grains and their orientations.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from ..orientation import random_orientations

NM = 1e-9


def read_options(t, base_dir, grid) -> dict:
    n_grains = t.integer("n_grains", minimum=1)
    n_voxels = math.prod(grid.shape)
    if n_grains > n_voxels:
        t.fail(f"'microstructure.n_grains' = {n_grains} exceeds the number of voxels ({n_voxels})")
    fraction = t.number("zro2_fraction", 0.0, nonnegative=True)
    if fraction >= 1:
        t.fail(f"'microstructure.zro2_fraction' must be < 1, got {fraction}")
    radius = t.number("zro2_radius_nm", 0.0, nonnegative=True)
    half_voxel_nm = 0.5 * grid.voxel_size_m / NM
    if fraction > 0 and radius < half_voxel_nm:
        t.fail(f"'microstructure.zro2_radius_nm' must be at least half a voxel "
               f"({half_voxel_nm:g} nm) when zro2_fraction > 0, got {radius:g}")
    return {"n_grains": n_grains, "seed": t.integer("seed", 0, minimum=0),
            "zro2_fraction": fraction, "zro2_radius_nm": radius}


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
    orientations = random_orientations(np.arange(1, options["n_grains"] + 1), orientation_rng)
    return SourceMap(labels, orientations, phases)


def zro2_label(phases: dict[str, int]) -> int:
    """Label value of generated ZrO2 particles: the declared one, else one no phase uses."""
    if "zro2" in phases:
        return phases["zro2"]
    return min([0, *phases.values()]) - 1


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

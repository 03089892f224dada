"""Stage 1: case -> :class:`Microstructure` (labels + phases + grain orientations).

Label convention: values > 0 are grain ids; values <= 0 name phases through
``[microstructure.phases]`` (ZrO2, backbone, void) or electrode voxels (``region = {label=..}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from .case import Case, Grid
from .errors import CaseError
from .orientation import GrainOrientations, orientations_from_case, random_orientations


class Phase(IntEnum):
    """Per-voxel phase code."""

    GRAIN = 0
    BACKBONE = 1
    ZRO2 = 2
    VOID = 3
    ELECTRODE = 4


CONDUCTING_PHASES = (Phase.GRAIN, Phase.BACKBONE)
_PHASE_BY_NAME = {"zro2": Phase.ZRO2, "backbone": Phase.BACKBONE, "void": Phase.VOID}


@dataclass(frozen=True)
class Microstructure:
    """What every voxel is.

    ``labels``: the label map (grain ids > 0; phase/electrode values <= 0), grid shape.
    ``phase``: :class:`Phase` code per voxel, grid shape, uint8.
    ``grain_index``: row into ``orientations`` for grain voxels, -1 elsewhere, grid shape.
    ``electrode_index``: index into ``case.electrodes`` for voxels that are electrode material
    (box/mask/label regions), -1 elsewhere.
    """

    grid: Grid
    labels: np.ndarray
    phase: np.ndarray
    grain_index: np.ndarray
    electrode_index: np.ndarray
    orientations: GrainOrientations

    @property
    def conducting(self) -> np.ndarray:
        return (self.phase == Phase.GRAIN) | (self.phase == Phase.BACKBONE)

    def phase_fractions(self) -> dict[str, float]:
        counts = np.bincount(self.phase.ravel(), minlength=len(Phase)) / self.phase.size
        return {p.name.lower(): float(counts[p]) for p in Phase}


def build_microstructure(case: Case, *, require_orientations: bool = True) -> Microstructure:
    """Create the microstructure of a case (reading any label/mask files it names)."""
    spec = case.microstructure
    grid = case.grid
    origin = case.label
    if spec.source == "uniform":
        labels = np.ones(grid.shape, dtype=np.int32)
        orientations = orientations_from_case(case.grains, origin)
    elif spec.source == "labels":
        labels = read_label_array(spec.path, grid.shape, spec.array_key)
        orientations = orientations_from_case(case.grains, origin)
    elif spec.source == "voronoi":
        # Independent streams: changing the ZrO2 settings keeps the grains and orientations.
        grain_rng, orientation_rng, particle_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(3))
        labels = voronoi_labels(grid.shape, spec.n_grains, grain_rng)
        if spec.zro2_fraction > 0:
            radius_vox = spec.zro2_radius_nm * 1e-9 / grid.voxel_size_m
            particles = random_particles(grid.shape, spec.zro2_fraction, radius_vox, particle_rng)
            labels[particles] = zro2_label(spec.phases)
        ids = np.arange(1, spec.n_grains + 1)
        orientations = _merge(random_orientations(ids, orientation_rng),
                              orientations_from_case(case.grains, origin) if case.grains else None)
    else:  # pragma: no cover - the case reader only accepts known sources
        raise AssertionError(spec.source)

    phases = dict(spec.phases)
    if spec.source == "voronoi" and spec.zro2_fraction > 0:
        phases["zro2"] = zro2_label(spec.phases)
    phase = np.full(grid.shape, Phase.GRAIN, dtype=np.uint8)
    electrode_index = np.full(grid.shape, -1, dtype=np.int16)
    known = labels > 0
    for name, value in phases.items():
        hit = labels == value
        phase[hit] = _PHASE_BY_NAME[name]
        known |= hit

    for k, electrode in enumerate(case.electrodes):
        mask = electrode_voxel_mask(electrode.region, labels, grid, electrode.name)
        if mask is None:
            continue
        if electrode.region.kind == "label":
            known |= mask
        clash = mask & (electrode_index >= 0)
        if clash.any():
            other = case.electrodes[int(electrode_index[clash][0])].name
            raise CaseError(f"{origin}: electrodes '{other}' and '{electrode.name}' overlap in "
                            f"{int(clash.sum())} voxels")
        electrode_index[mask] = k
        phase[mask] = Phase.ELECTRODE

    if not known.all():
        bad = np.unique(labels[~known])
        where = spec.path.name if spec.path is not None else origin
        raise CaseError(f"{where}: label values {bad[:10].tolist()} are neither grain ids (> 0) "
                        f"nor declared in [microstructure.phases] or an electrode region.label")

    grain_mask = phase == Phase.GRAIN
    present = np.unique(labels[grain_mask])
    missing = np.setdiff1d(present, orientations.grain_ids)
    needs_orientation = case.materials.conductivity_model != "isotropic"
    if missing.size and (needs_orientation and require_orientations):
        raise CaseError(f"{origin}: grain ids {missing[:10].tolist()}"
                        f"{' ...' if missing.size > 10 else ''} have no orientation: add a "
                        f"[[grains]] entry (id, and euler_deg, theta_deg/alpha_deg or c_axis) "
                        f"for each")
    if missing.size:
        orientations = _merge(orientations, _placeholder(missing))
    grain_index = np.full(grid.shape, -1, dtype=np.int32)
    grain_index[grain_mask] = np.searchsorted(orientations.grain_ids, labels[grain_mask])
    return Microstructure(grid, labels, phase, grain_index, electrode_index, orientations)


def zro2_label(phases: dict[str, int]) -> int:
    """Label value of generated ZrO2 particles: the declared one, else one no phase uses."""
    if "zro2" in phases:
        return phases["zro2"]
    return min([0, *phases.values()]) - 1


def read_label_array(path: Path, shape: tuple[int, ...], array_key: str | None = None) -> np.ndarray:
    """Read an integer label array from .npy or .npz (never unpickles)."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CaseError(f"{path.name}: label file not found ({path})") from None
    except (OSError, ValueError) as exc:
        raise CaseError(f"{path.name}: not a readable .npy/.npz array without pickles ({exc})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.files)
            key = array_key or ("labels" if "labels" in keys else (keys[0] if len(keys) == 1 else None))
            if key not in keys:
                raise CaseError(f"{path.name}: choose the array with microstructure.array = one of "
                                f"{keys}")
            array = loaded[key]
    else:
        array = loaded
    if not np.issubdtype(array.dtype, np.integer):
        raise CaseError(f"{path.name}: labels must be an integer array, got dtype {array.dtype}")
    if tuple(array.shape) != tuple(shape):
        raise CaseError(f"{path.name}: label array has shape {list(array.shape)}, but grid.shape "
                        f"is {list(shape)}")
    return array.astype(np.int32)


def electrode_voxel_mask(region, labels: np.ndarray, grid: Grid, name: str) -> np.ndarray | None:
    """Voxels occupied by an electrode (None for edge electrodes, which sit outside the grid)."""
    if region.kind == "edge":
        return None
    if region.kind == "box":
        mask = np.zeros(grid.shape, dtype=bool)
        mask[tuple(slice(lo, hi) for lo, hi in region.box)] = True
        return mask
    if region.kind == "label":
        mask = labels == region.label
        if not mask.any():
            raise CaseError(f"electrode '{name}': region.label = {region.label}, but no voxel of "
                            f"the label map has that value")
        return mask
    try:
        mask = np.load(region.path, allow_pickle=False)
    except FileNotFoundError:
        raise CaseError(f"{region.path.name}: mask file of electrode '{name}' not found") from None
    except (OSError, ValueError) as exc:
        raise CaseError(f"{region.path.name}: electrode '{name}' mask is not a readable .npy "
                        f"array ({exc})") from None
    if tuple(mask.shape) != tuple(grid.shape):
        raise CaseError(f"{region.path.name}: electrode '{name}' mask has shape "
                        f"{list(mask.shape)}, expected grid.shape {list(grid.shape)}")
    if mask.dtype != bool:
        if not np.issubdtype(mask.dtype, np.integer) or not np.isin(mask, (0, 1)).all():
            raise CaseError(f"{region.path.name}: electrode '{name}' mask must be boolean or 0/1")
        mask = mask.astype(bool)
    if not mask.any():
        raise CaseError(f"{region.path.name}: electrode '{name}' mask selects no voxel")
    return mask


# --------------------------------------------------------------------------- synthetic maps


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


def _merge(base: GrainOrientations, override: GrainOrientations | None) -> GrainOrientations:
    """Union of two tables; rows of ``override`` win for ids present in both."""
    if override is None or len(override) == 0:
        return base
    keep = ~np.isin(base.grain_ids, override.grain_ids)
    ids = np.concatenate([base.grain_ids[keep], override.grain_ids])
    order = np.argsort(ids)

    def cat(a, b):
        return np.concatenate([a[keep], b])[order]

    return GrainOrientations(ids[order], cat(base.c_axis, override.c_axis),
                             cat(base.euler_rad, override.euler_rad),
                             cat(base.theta_rad, override.theta_rad),
                             cat(base.alpha_rad, override.alpha_rad))


def _placeholder(ids: np.ndarray) -> GrainOrientations:
    """Orientation rows for grains whose orientation does not matter (isotropic model)."""
    n = len(ids)
    c = np.tile([0.0, 0.0, 1.0], (n, 1))
    return GrainOrientations(np.asarray(ids, np.int64), c, np.full((n, 3), np.nan),
                             np.zeros(n), np.zeros(n))

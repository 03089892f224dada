"""Stage 1: case -> :class:`Microstructure` (labels + phases + grain orientations).

Label convention: values > 0 are grain ids; values <= 0 name phases through
``[microstructure.phases]`` (ZrO2, backbone, void) or electrode voxels (``region = {label=..}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from .case import Case, Grid
from .errors import CaseError
from .orientation import GrainOrientations, orientations_from_case
from .sources import SOURCES


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
    source = SOURCES[spec.source].load(spec.options, case)
    labels = source.labels
    given = orientations_from_case(case.grains, origin)
    orientations = given if source.orientations is None else _merge(source.orientations, given)
    phases = {**spec.phases, **source.phases}
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
        where = spec.options["path"].name if "path" in spec.options else origin
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


def _merge(base: GrainOrientations, override: GrainOrientations) -> GrainOrientations:
    """Union of two tables; rows of ``override`` win for ids present in both."""
    if len(override) == 0:
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

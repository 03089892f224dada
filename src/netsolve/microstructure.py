"""Stage 1: case -> :class:`Microstructure` (labels + phases + grain orientations).

Label convention: values > 0 are grain ids; values <= 0 name phases through
``[microstructure.phases]`` (ZrO2, backbone, void) or electrode voxels (``region = {label=..}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import math

import numpy as np
from .case import NM, Case, Grid
from .errors import CaseError
from .orientation import GrainOrientations, orientations_from_case
from .sources import SOURCES
from .symmetry import BETA_ALUMINA, CrystalSymmetry


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
    ``unoriented_grain_ids``: grains present in the map that were given no orientation (allowed
    by the isotropic model; they carry the placeholder c = z in ``orientations``).
    ``voxel_c_axis``: None, or grid shape + (3,) float64: the crystal c-axis of every grain voxel
    that has an orientation of its own (unit vectors in the sample frame, c_z >= 0, as
    ``orientations.c_axis``), NaN in voxels that take their grain's orientation (and in all
    other voxels). Only the conductivity uses it; the grain graph and the GB classification use
    the grains' mean orientations.
    ``symmetry``: the crystal symmetry of the grains (misorientations; a cubic crystal conducts
    isotropically, see ``uniaxial``); ``source_report``: what the source did and the symmetry
    used, JSON-ready (summary.json ``microstructure_source``).
    """

    grid: Grid
    labels: np.ndarray
    phase: np.ndarray
    grain_index: np.ndarray
    electrode_index: np.ndarray
    orientations: GrainOrientations
    unoriented_grain_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    voxel_c_axis: np.ndarray | None = None
    symmetry: CrystalSymmetry = BETA_ALUMINA
    source_report: dict = field(default_factory=dict)

    @property
    def uniaxial(self) -> bool:
        """True when the grains conduct uniaxially about their c-axis (tetragonal, trigonal,
        hexagonal crystals); else (cubic crystals, and biaxial ones, which a source admits
        under the isotropic model only) they conduct isotropically and GBs get no type
        I-III."""
        return self.symmetry.conduction == "uniaxial"

    @property
    def voxel_oriented(self) -> np.ndarray | None:
        """Grain voxels with an orientation of their own (grid shape, bool), or None."""
        if self.voxel_c_axis is None:
            return None
        return (self.phase == Phase.GRAIN) & np.isfinite(self.voxel_c_axis[..., 0])

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
    labels, phases = apply_phase_regions(spec.regions, source.labels,
                                         {**spec.phases, **source.phases}, case)
    given = orientations_from_case(case.grains, origin)
    orientations = given if source.orientations is None else _merge(source.orientations, given)
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
    symmetry = source.symmetry or BETA_ALUMINA
    phase_name = source.report.get("conducting_phase",
                                   "Na-beta''-alumina (assumed)" if source.symmetry is None
                                   else None)
    report = {"source": spec.source,
              "crystal_symmetry": {"phase": phase_name, **symmetry.as_dict()},
              **source.report}
    return Microstructure(grid, labels, phase, grain_index, electrode_index, orientations,
                          unoriented_grain_ids=np.asarray(missing, np.int64),
                          voxel_c_axis=_voxel_c_axis(source.voxel_c_axis, labels, grain_mask,
                                                     given.grain_ids),
                          symmetry=symmetry, source_report=report)


def apply_phase_regions(regions, labels: np.ndarray, phases: dict[str, int],
                        case: Case) -> tuple[np.ndarray, dict[str, int]]:
    """Overlay the ``[[microstructure.regions]]`` on a source's label map, in file order.

    Each region's voxels get its phase's label value: the one in ``phases`` (declared, or
    introduced by the source), else a fresh value <= 0 (see ``sources.phase_values``). Returns
    the new label map and the phase values extended by the fresh ones.
    """
    if not regions:
        return labels, phases
    from .sources import phase_values

    electrode_labels = [e.region.label for e in case.electrodes if e.region.kind == "label"]
    values = phase_values({r.phase for r in regions}, phases,
                          [*electrode_labels, int(labels.min())])
    labels = labels.copy()
    for region in regions:
        labels[phase_region_mask(region, case.grid, case.label)] = values[region.phase]
    return labels, {**phases, **values}


def phase_region_mask(region, grid: Grid, origin: str) -> np.ndarray:
    """Voxels of one ``[[microstructure.regions]]`` entry (a non-empty boolean grid array)."""
    if region.kind == "box":
        return _box_mask(region.box, grid)
    if region.kind == "mask":
        return _load_mask(region.path, grid, f"'{region.key}'")
    if region.kind == "polygon":
        mask = _polygon_mask(region.polygon, grid)
        if not mask.any():
            raise CaseError(f"{origin}: '{region.key}.polygon' contains no voxel centre")
        return mask
    # frame: voxel centres within the width of the chosen faces (centre on the edge included)
    layers = int(math.floor(region.frame_width_m / grid.voxel_size_m + 0.5 + 1e-9))
    mask = np.zeros(grid.shape, dtype=bool)
    for side in region.sides:
        axis, high = {"left": (0, False), "right": (0, True), "bottom": (1, False),
                      "top": (1, True), "front": (2, False), "back": (2, True)}[side]
        index = [slice(None)] * grid.ndim
        index[axis] = slice(grid.shape[axis] - layers, None) if high else slice(0, layers)
        mask[tuple(index)] = True
    return mask


def electrode_voxel_mask(region, labels: np.ndarray, grid: Grid, name: str) -> np.ndarray | None:
    """Voxels occupied by an electrode (None for edge electrodes, which sit outside the grid)."""
    if region.kind == "edge":
        return None
    if region.kind == "box":
        return _box_mask(region.box, grid)
    if region.kind == "polygon":
        mask = _polygon_mask(region.polygon, grid)
        if not mask.any():
            raise CaseError(f"electrode '{name}': region.polygon contains no voxel centre")
        return mask
    if region.kind == "label":
        mask = labels == region.label
        if not mask.any():
            raise CaseError(f"electrode '{name}': region.label = {region.label}, but no voxel of "
                            f"the label map has that value")
        return mask
    return _load_mask(region.path, grid, f"electrode '{name}'")


def _box_mask(box, grid: Grid) -> np.ndarray:
    mask = np.zeros(grid.shape, dtype=bool)
    mask[tuple(slice(lo, hi) for lo, hi in box)] = True
    return mask


def _polygon_mask(wkt: str, grid: Grid) -> np.ndarray:
    """Voxel centres inside or on a WKT polygon (nm, grid lower-left corner at the origin)."""
    import shapely

    from .sources.polygons import voxel_mask

    h_nm = float(f"{grid.voxel_size_m / NM:.12g}")  # the voxel_size_nm as written
    return voxel_mask(shapely.from_wkt(wkt), grid.shape, h_nm)


def _load_mask(path, grid: Grid, what: str) -> np.ndarray:
    """A boolean (or 0/1) .npy of the grid shape that selects at least one voxel."""
    from .input_files import load_array

    mask = load_array(path, f"mask file of {what}", grid.shape, f"{what} mask")
    if mask.dtype != bool:
        if not np.issubdtype(mask.dtype, np.integer) or not np.isin(mask, (0, 1)).all():
            raise CaseError(f"{path.name}: {what} mask must be boolean or 0/1")
        mask = mask.astype(bool)
    if not mask.any():
        raise CaseError(f"{path.name}: {what} mask selects no voxel")
    return mask


def _voxel_c_axis(c_axis: np.ndarray | None, labels: np.ndarray, grain_mask: np.ndarray,
                  overridden_ids: np.ndarray) -> np.ndarray | None:
    """The source's per-voxel c-axes, NaN where a voxel is no longer a grain voxel (regions,
    electrodes) or its grain's orientation is set by a [[grains]] entry (which wins)."""
    if c_axis is None:
        return None
    keep = grain_mask & ~np.isin(labels, overridden_ids)
    return np.where(keep[..., None], c_axis, np.nan)


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

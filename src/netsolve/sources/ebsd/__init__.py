"""``source = "ebsd"``: grains segmented from an orientation map (.ang, .ctf, EDAX / Bruker /
EMsoft HDF5), with the crystal symmetry the file declares.

orix (GPL-3) is an optional extra: ``pip install 'netsolve[ebsd]'``; it is imported only when
a case uses this source. The pieces: :mod:`.readers` (+ :mod:`.text_maps`, :mod:`.hdf5`) read a
file into a :class:`RawMap` with each vendor's not-indexed convention; :mod:`.grid` puts its
pixels on the netsolve grid (x along the map, y up the map; hexagonal grids resampled on
request); :mod:`.phases` maps the file's phases to netsolve phases
(``[microstructure.phase_map]``) and picks the conducting phase and its symmetry;
:mod:`.segmentation` joins pixels into grains with that symmetry, fills bad pixels and small
grains from their neighbours and merges the grains filling made neighbours; :mod:`.frames`
turns the file's Euler frame into netsolve's.

The Euler angles are Bunge angles (passive, sample -> crystal) in the frame ``euler_frame``
names; every pixel's orientation is turned into netsolve's sample frame before anything else.
A grain's orientation is the mean over its own segmented pixels (filled pixels do not count),
each taken as its symmetry equivalent closest to the grain's orientation. With ``orientation =
"voxel"`` the measured pixels of a uniaxial crystal also keep their own c-axes
(``SourceMap.voxel_c_axis``). Cubic crystals conduct isotropically (no c-axis is used).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import CaseError, NetsolveWarning
from ...input_files import input_path, regular_file
from ...orientation import (GrainOrientations, canonical_c_axis, euler_from_matrix,
                            theta_alpha_from_c)
from ...symmetry import (conjugate, matrix_from_quaternion, quaternion_from_euler,
                         quaternion_from_matrix, quaternion_multiply)
from .frames import EULER_FRAMES, read_euler_frame
from .grid import place_on_grid, square_from_hexagonal
from .phases import PhaseRoles, read_phase_map, resolve_phases
from .readers import EXTRA_MESSAGE, MAP_SUFFIXES, RawMap, read_raw
from .segmentation import (Grains, face_pairs, fill_from_neighbours, grains_of,
                           mean_orientations, segment_grains)
from .writer import write_ang

__all__ = ["read_options", "load", "inspect_map", "inspect_map_labels", "read_raw",
           "place_on_grid", "write_ang", "EULER_FRAMES", "segment_grains", "grains_of",
           "mean_orientations", "fill_from_neighbours", "face_pairs", "square_from_hexagonal", "RawMap",
           "EXTRA_MESSAGE"]

STEP_RTOL = 1e-3  # relative agreement of the map's pixel step with grid.voxel_size_nm
FIXED_PHASES = ("zro2", "backbone", "void")  # file phases that stay a netsolve phase
QUALITY_KEYS = {".ang": ("min_confidence",), ".ctf": ("max_mad_deg", "min_bands")}


def read_options(t, base_dir: Path, grid) -> dict:
    if grid.ndim != 2:
        t.fail(f"source 'ebsd' needs a 2D grid (an orientation map is one layer), got "
               f"grid.shape {list(grid.shape)}")
    path = input_path(base_dir, t.string("path"))
    kind = path.suffix.lower()
    if kind not in MAP_SUFFIXES:
        t.fail(f"'microstructure.path' must be an .ang, .ctf or HDF5 (.h5, .hdf5, .h5ebsd) "
               f"orientation map for source 'ebsd', got '{path.name}'")
    threshold = t.number("threshold_deg", 5.0, positive=True)
    if threshold >= 180:
        t.fail(f"'microstructure.threshold_deg' must be < 180, got {threshold:g}")
    orientation = t.string("orientation", "grain_mean", choices=("grain_mean", "voxel"))
    fill_warning = t.number("fill_warning_fraction", 0.05, nonnegative=True)
    if fill_warning > 1:
        t.fail(f"'microstructure.fill_warning_fraction' must be in [0, 1], got {fill_warning:g}")
    options = {"path": path, "threshold_deg": threshold,
               "hex_grid": t.string("hex_grid", "refuse", choices=("refuse", "nearest")),
               "euler_frame": read_euler_frame(t),
               "min_grain_voxels": t.integer("min_grain_voxels", 1, minimum=1),
               "bad_pixels": t.string("bad_pixels", "merge", choices=("merge", "void")),
               "phase_map": read_phase_map(t), "phase": t.string("phase", None),
               "orientation": orientation, "fill_warning_fraction": fill_warning,
               "min_confidence": None, "max_mad_deg": None, "min_bands": 0}
    if kind in QUALITY_KEYS:
        own = QUALITY_KEYS[kind]
        other_kind = ".ctf" if kind == ".ang" else ".ang"
        for key in QUALITY_KEYS[other_kind]:
            if t.has(key):
                t.fail(f"'microstructure.{key}' applies to {other_kind} (and HDF5) maps, not "
                       f"to '{path.name}' (use {' / '.join(own)})")
    options["min_confidence"] = t.number("min_confidence", None)
    options["max_mad_deg"] = t.number("max_mad_deg", None, nonnegative=True)
    options["min_bands"] = t.integer("min_bands", 0, minimum=0)
    return options


def load(options: dict, case):
    from .. import SourceMap, phase_values

    grid = case.grid
    regular_file(options["path"], "orientation map")  # a FIFO or a link loop: one line, at once
    raw = read_raw(options["path"])
    name = raw.name
    placed = place_on_grid(raw, options["hex_grid"])
    if placed.shape != tuple(grid.shape):
        raise CaseError(f"{name}: the map has {placed.shape[0]} x {placed.shape[1]} pixels "
                        f"(x by y), but grid.shape is {list(grid.shape)}")
    h_nm = grid.voxel_size_m * 1e9
    for axis, step in zip("xy", placed.step_nm):
        if step is not None and abs(step - h_nm) > STEP_RTOL * h_nm:
            raise CaseError(f"{name}: the map's {axis} step is {step:g} nm, but "
                            f"grid.voxel_size_nm is {h_nm:g} (they must agree)")
    seg = _segment(raw, placed, options, case.materials.conductivity_model)
    grains, symmetry, shape = seg.grains, seg.roles.symmetry, placed.shape
    labels = grains.labels
    used = {FIXED_PHASES[-2 - v] for v in np.unique(labels[labels < -1])}
    if (labels == -1).any():  # bad pixels that were not filled
        used.add("void")
    electrode_labels = [e.region.label for e in case.electrodes if e.region.kind == "label"]
    phases = phase_values(used, case.microstructure.phases, electrode_labels)
    out = np.where(labels > 0, labels, 0)
    out[labels == -1] = phases.get("void", 0)
    for k, value in enumerate(FIXED_PHASES):
        out[labels == -2 - k] = phases.get(value, 0)

    ids = np.arange(1, len(grains.mean) + 1)
    euler = euler_from_matrix(grains.mean)
    c = canonical_c_axis(grains.mean[:, 2, :])
    theta, alpha = theta_alpha_from_c(c)
    voxel_c = None
    if options["orientation"] == "voxel" and symmetry.conduction == "uniaxial":
        measured = seg.good & (labels > 0)  # measured pixels keep their own c; filled: NaN
        voxel_c = np.full(shape + (3,), np.nan)
        voxel_c[measured] = canonical_c_axis(matrix_from_quaternion(seg.q[measured])[:, 2, :])
    report = _report(raw, placed, seg, options)
    for message in report["warnings"]:
        warnings.warn(message, NetsolveWarning, stacklevel=2)
    return SourceMap(out.astype(np.int32), GrainOrientations(ids, c, euler, theta, alpha),
                     phases, voxel_c, symmetry=symmetry, report=report)


@dataclass(frozen=True)
class _Segmented:
    """The map on the grid (``phase``, ``indexed``, ``usable``: indexed and of good quality,
    ``good``: usable pixels of the conducting phase, ``q`` orientations in netsolve's frame),
    the phase roles and the grains."""

    phase: np.ndarray
    indexed: np.ndarray
    usable: np.ndarray
    good: np.ndarray
    q: np.ndarray
    roles: PhaseRoles
    grains: Grains


def _segment(raw: RawMap, placed, options: dict, model: str) -> _Segmented:
    shape, order = placed.shape, placed.order

    def on_grid(values):
        return values[order].reshape(shape + values.shape[1:])

    phase, indexed = on_grid(raw.phase), on_grid(raw.indexed)
    roles = resolve_phases(raw.name, raw.phases, phase, indexed, options, model)
    usable = indexed & on_grid(_quality_ok(raw, options))
    target = np.full(phase.shape, "", dtype=object)
    for pid, value in roles.target.items():
        target[phase == pid] = value
    good = usable & (phase == roles.grain_id)
    fixed = np.zeros(shape, np.int64)
    for k, value in enumerate(FIXED_PHASES):
        fixed[usable & (target == value)] = k + 1
    # Bunge g maps Euler-frame vectors to the crystal: g R^T maps netsolve-frame vectors.
    frame = conjugate(quaternion_from_matrix(options["euler_frame"]))
    q = quaternion_multiply(quaternion_from_euler(on_grid(raw.euler_rad)), frame)
    grains = grains_of(q, good, fixed, options["bad_pixels"] == "merge",
                       np.radians(options["threshold_deg"]), options["min_grain_voxels"],
                       roles.symmetry.quaternions)
    return _Segmented(phase, indexed, usable, good, q, roles, grains)


def inspect_map(path, phase_map: dict[str, str] | None = None, threshold_deg: float = 5.0,
                hex_grid: str = "nearest") -> dict:
    """What an orientation map holds, before a case is written for it (the same JSON-ready
    report as ``summary.json``'s ``microstructure_source``, with the grid a case needs):
    vendor, grid shape and step (nm), phases with their symmetry and pixel fractions, the
    not-indexed fraction, notes, and the grains of the conducting phase (the only phase, or
    the one ``phase_map`` maps to "grain"; threshold in degrees, bad pixels filled). When no
    conducting phase can be chosen, ``grains`` is None and ``no_grains_because`` says why."""
    return inspect_map_labels(path, phase_map, threshold_deg, hex_grid)[0]


def inspect_map_labels(path, phase_map: dict[str, str] | None = None,
                       threshold_deg: float = 5.0, hex_grid: str = "nearest"):
    """:func:`inspect_map`'s report and the segmented grid (grain ids 1..m, ``-1 - k`` for the
    k-th fixed phase of ``FIXED_PHASES``; None when no conducting phase could be chosen)."""
    raw = read_raw(Path(path))
    placed = place_on_grid(raw, hex_grid)
    options = {"phase_map": phase_map, "phase": None, "threshold_deg": threshold_deg,
               "bad_pixels": "merge", "min_grain_voxels": 1, "euler_frame": np.eye(3),
               "min_confidence": None, "max_mad_deg": None, "min_bands": 0,
               "fill_warning_fraction": 1.0}
    try:
        seg = _segment(raw, placed, options, "isotropic")
    except CaseError as exc:
        indexed = raw.indexed
        ids, counts = np.unique(raw.phase[indexed], return_counts=True)
        fractions = dict(zip(ids.tolist(), (counts / raw.size).tolist()))
        return {"file": raw.name, "vendor": raw.vendor,
                "grid": {"shape": list(placed.shape), "step_nm": list(placed.step_nm),
                         "resampled_from_hexagonal": placed.hexagonal},
                "phases": [{"id": pid, "name": p.name, "symmetry": p.declared,
                            "laue_class": None if p.symmetry is None else p.symmetry.laue,
                            "pixel_fraction": fractions.get(pid, 0.0)}
                           for pid, p in raw.phases.items()],
                "not_indexed_fraction": float(1 - indexed.mean()),
                "notes": list(raw.notes) + list(placed.notes),
                "grains": None, "no_grains_because": str(exc)}, None
    report = _report(raw, placed, seg, options)
    report["crystal_symmetry"] = {"phase": seg.roles.grain_name, **seg.roles.symmetry.as_dict()}
    return report, seg.grains.labels


def _quality_ok(raw: RawMap, options: dict) -> np.ndarray:
    """Pixels that pass ``min_confidence`` / ``max_mad_deg`` / ``min_bands`` (file order)."""
    ok = np.ones(raw.size, bool)
    for key, column, keep in (("min_confidence", "confidence", lambda v, lim: v >= lim),
                              ("max_mad_deg", "mad_deg", lambda v, lim: v <= lim),
                              ("min_bands", "bands", lambda v, lim: v >= lim)):
        limit = options[key]
        if limit is None or (key == "min_bands" and limit == 0):
            continue
        if column not in raw.quality:
            raise CaseError(f"{raw.name}: microstructure.{key} is set, but the file has no "
                            f"{column.replace('_deg', '')} column ({raw.vendor} layout)")
        ok &= keep(raw.quality[column], limit)
    return ok


def _report(raw: RawMap, placed, seg: _Segmented, options: dict) -> dict:
    """What the source did, JSON-ready (summary.json ``microstructure_source``): phases and
    their mapping, fractions of the map's pixels filled (or made void) per cause, grain counts,
    notes and warnings."""
    phase, indexed, usable, good = seg.phase, seg.indexed, seg.usable, seg.good
    roles, grains = seg.roles, seg.grains
    size = indexed.size

    def fraction(mask) -> float:
        return float(np.count_nonzero(mask) / size)

    causes = {"not_indexed": ~indexed, "low_quality": indexed & ~usable}
    for pid, value in roles.target.items():
        if value == "fill":
            causes[f"phase {raw.phases[pid].name}"] = usable & (phase == pid)
    merge = options["bad_pixels"] == "merge"
    filled = {k: fraction(v) for k, v in causes.items()} if merge else {}
    filled["small_grains"] = fraction(good & (grains.own == 0))
    filled = {k: v for k, v in filled.items() if v > 0}
    filled["total"] = float(sum(filled.values()))
    report = {
        "file": raw.name, "vendor": raw.vendor,
        "grid": {"shape": list(placed.shape), "step_nm": list(placed.step_nm),
                 "resampled_from_hexagonal": placed.hexagonal},
        "conducting_phase": roles.grain_name,
        "phases": [{"id": pid, "name": p.name, "symmetry": p.declared,
                    "laue_class": None if p.symmetry is None else p.symmetry.laue,
                    "maps_to": roles.target.get(pid),
                    "pixel_fraction": roles.fractions.get(pid, 0.0)}
                   for pid, p in raw.phases.items()],
        "not_indexed_fraction": fraction(~indexed),
        "filled_fraction": filled,
        "segments": grains.n_segments, "small_grains_merged": grains.n_small,
        "merged_after_filling": grains.n_merged, "grains": len(grains.mean),
        "notes": list(raw.notes) + list(placed.notes), "warnings": [],
    }
    if not merge:
        report["void_fraction"] = {k: fraction(v) for k, v in causes.items()}
    limit = options["fill_warning_fraction"]
    if filled["total"] > limit:
        parts = ", ".join(f"{k} {100 * v:.1f} %" for k, v in filled.items() if k != "total")
        report["warnings"].append(
            f"{raw.name}: {100 * filled['total']:.1f} % of the map's pixels were filled from "
            f"their neighbours ({parts}), more than microstructure.fill_warning_fraction = "
            f"{limit:g}: check the map (bad_pixels = \"void\" keeps them out of the grains)")
    return report

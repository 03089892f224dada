"""``source = "ebsd"``: grains segmented from an orientation map (.ang or .ctf, read with orix).

orix (GPL-3) is an optional extra: ``pip install 'netsolve[ebsd]'``; it is imported only when
a case uses this source.

Pixel grid -> netsolve grid: the map's x (columns) is grid axis 0; the map's y increases
downwards (row 0 at the top), so pixel (x index i, y index r) becomes voxel ``[i, ny - 1 - r]``
and grid y points up the map. A hexagonal .ang grid is resampled to square pixels of its x
step with ``hex_grid = "nearest"`` (each square pixel takes the nearest hexagonal pixel; orix
reads such files but has no resampling, hence a k-d tree query here). The Euler angles are Bunge angles (passive, sample -> crystal,
as orix reads them, unchanged) in the frame ``euler_frame`` names; every pixel's orientation is
turned into netsolve's sample frame (x along the map's x, y up the map, z out of the surface)
before anything else (presets after MTEX's importers, see ``docs/case-format.md``).

Segmentation: face-neighbour pixel pairs whose -3m misorientation is below ``threshold_deg``
are joined; the connected components are the grains (ids 1..n in the order of their first
voxel, C order). Bad pixels (not indexed, below the quality limits, or of another phase) and
grains smaller than ``min_grain_voxels`` are then filled from the face neighbours (the grain
sharing most faces wins, repeated until nothing changes) or, with ``bad_pixels = "void"``, bad
pixels become the void phase. A grain's orientation is the mean over its own segmented pixels
(filled pixels do not count), taken with the symmetry-equivalent of each pixel closest to the
grain's reference orientation and projected back onto SO(3). With ``orientation = "voxel"``
the measured pixels also keep their own c-axes (``SourceMap.voxel_c_axis``) for per-voxel
conductivities; the grains and their mean orientations are the same.
"""

from __future__ import annotations

import re
import warnings
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..errors import CaseError
from ..orientation import (GrainOrientations, c_axis_from_euler, canonical_c_axis,
                           euler_from_matrix, theta_alpha_from_c)
from ..symmetry import TRIGONAL_32, axis_rotation, misorientation_angle

EXTRA_MESSAGE = ("needs the optional extra: pip install 'netsolve[ebsd]' (orix, GPL-3)")
STEP_RTOL = 1e-3  # relative agreement of the map's pixel step with grid.voxel_size_nm
ANG_CONFIDENCE = ("ci", "rel", "dp")  # TSL/orix CI, ASTAR reliability, EMsoft dot product


def read_options(t, base_dir: Path, grid) -> dict:
    if grid.ndim != 2:
        t.fail(f"source 'ebsd' needs a 2D grid (an orientation map is one layer), got "
               f"grid.shape {list(grid.shape)}")
    path = (base_dir / t.string("path")).resolve()
    kind = path.suffix.lower()
    if kind not in (".ang", ".ctf"):
        t.fail(f"'microstructure.path' must be an .ang or .ctf orientation map for source "
               f"'ebsd', got '{path.name}'")
    threshold = t.number("threshold_deg", 5.0, positive=True)
    if threshold >= 180:
        t.fail(f"'microstructure.threshold_deg' must be < 180, got {threshold:g}")
    orientation = t.string("orientation", "grain_mean", choices=("grain_mean", "voxel"))
    options = {"path": path, "threshold_deg": threshold,
               "hex_grid": t.string("hex_grid", "refuse", choices=("refuse", "nearest")),
               "euler_frame": read_euler_frame(t),
               "min_grain_voxels": t.integer("min_grain_voxels", 1, minimum=1),
               "bad_pixels": t.string("bad_pixels", "merge", choices=("merge", "void")),
               "phase": t.string("phase", None), "orientation": orientation,
               "min_confidence": None, "max_mad_deg": None, "min_bands": None}
    own, other = (("min_confidence",), ("max_mad_deg", "min_bands")) if kind == ".ang" else (
        ("max_mad_deg", "min_bands"), ("min_confidence",))
    for key in other:
        if t.has(key):
            t.fail(f"'microstructure.{key}' applies to {'.ctf' if kind == '.ang' else '.ang'} "
                   f"maps, not to '{path.name}' (use {' / '.join(own)})")
    if kind == ".ang":
        options["min_confidence"] = t.number("min_confidence", 0.0)
    else:
        options["max_mad_deg"] = t.number("max_mad_deg", None, nonnegative=True)
        options["min_bands"] = t.integer("min_bands", 0, minimum=0)
    return options


def load(options: dict, case):
    from . import SourceMap, phase_values

    grid = case.grid
    emap = read_map(options)
    name = options["path"].name
    if emap.shape != tuple(grid.shape):
        raise CaseError(f"{name}: the map has {emap.shape[0]} x {emap.shape[1]} pixels "
                        f"(x by y), but grid.shape is {list(grid.shape)}")
    h_nm = grid.voxel_size_m * 1e9
    for axis, step in zip("xy", emap.step_nm):
        if step is not None and abs(step - h_nm) > STEP_RTOL * h_nm:
            raise CaseError(f"{name}: the map's {axis} step is {step:g} nm, but "
                            f"grid.voxel_size_nm is {h_nm:g} (they must agree)")
    if not emap.good.any():
        raise CaseError(f"{name}: no pixel is indexed with the requested quality "
                        f"(check min_confidence / max_mad_deg / min_bands and phase)")
    segments = segment_grains(emap.g, emap.good, np.radians(options["threshold_deg"]))
    labels, own = clean_grains(segments, emap.good, options["min_grain_voxels"],
                               options["bad_pixels"] == "merge")
    phases = {}
    if (labels == 0).any():  # bad_pixels = "void"
        electrode_labels = [e.region.label for e in case.electrodes if e.region.kind == "label"]
        phases.update(phase_values(["void"], case.microstructure.phases, electrode_labels))
        labels[labels == 0] = phases["void"]
    ids = np.arange(1, labels.max() + 1)
    mean = mean_orientations(emap.g[own > 0], own[own > 0] - 1, len(ids))
    euler = euler_from_matrix(mean)
    c = c_axis_from_euler(euler)
    theta, alpha = theta_alpha_from_c(c)
    voxel_c = None
    if options["orientation"] == "voxel":  # measured pixels keep their own c; filled ones NaN
        measured = emap.good & (labels > 0)
        voxel_c = np.full(labels.shape + (3,), np.nan)
        voxel_c[measured] = canonical_c_axis(emap.g[measured][:, 2, :])
    return SourceMap(labels.astype(np.int32), GrainOrientations(ids, c, euler, theta, alpha),
                     phases, voxel_c)


# --- Euler reference frames ------------------------------------------------------------------

def _half_turn(axis) -> np.ndarray:
    n = np.asarray(axis, float) / np.linalg.norm(axis)
    return 2 * np.outer(n, n) - np.eye(3)


# The map frame of .ang/.ctf files: x along the map, y down the map (rows), z = x cross y into
# the surface; netsolve's frame is it turned 180 degrees about x (y up, z out of the surface).
MAP_TO_NETSOLVE = _half_turn([1, 0, 0])
# Rotation R with c_netsolve = R c_euler for the Euler reference frame of each preset: the
# vendor's Euler frame -> map frame as MTEX's importers define it (loadEBSD_ang "setting 1..4":
# 180 degrees about x+y, x-y, x, y; loadEBSD_ctf: 180 degrees about x), then map -> netsolve.
EULER_FRAMES = {
    "netsolve": np.eye(3),
    "map": MAP_TO_NETSOLVE,
    "tsl_setting1": MAP_TO_NETSOLVE @ _half_turn([1, 1, 0]),
    "tsl_setting2": MAP_TO_NETSOLVE @ _half_turn([1, -1, 0]),
    "tsl_setting3": MAP_TO_NETSOLVE @ _half_turn([1, 0, 0]),
    "tsl_setting4": MAP_TO_NETSOLVE @ _half_turn([0, 1, 0]),
    "oxford": MAP_TO_NETSOLVE @ _half_turn([1, 0, 0]),
}


def read_euler_frame(t) -> np.ndarray:
    """The rotation R (c_netsolve = R c_file) of ``euler_frame`` or of the explicit
    ``euler_rotation_axis`` + ``euler_rotation_deg``."""
    explicit = t.has("euler_rotation_axis") or t.has("euler_rotation_deg")
    if explicit and t.has("euler_frame"):
        t.fail("give either 'microstructure.euler_frame' or 'microstructure.euler_rotation_axis'"
               " + 'euler_rotation_deg', not both")
    if not explicit:
        return EULER_FRAMES[t.string("euler_frame", "netsolve", choices=tuple(EULER_FRAMES))]
    if not (t.has("euler_rotation_axis") and t.has("euler_rotation_deg")):
        t.fail("'microstructure.euler_rotation_axis' and 'microstructure.euler_rotation_deg' "
               "go together (a rotation axis and its angle)")
    axis = t.numbers("euler_rotation_axis", 3)
    if not any(axis):
        t.fail("'microstructure.euler_rotation_axis' must not be [0, 0, 0]")
    return axis_rotation(axis, np.radians(t.number("euler_rotation_deg")))


# --- reading ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class EbsdMap:
    """An orientation map on the netsolve grid: ``g`` (nx, ny, 3, 3) passive matrices,
    ``good`` (nx, ny) usable pixels, ``step_nm`` (x, y) pixel steps (None: single column/row)."""

    g: np.ndarray
    good: np.ndarray
    step_nm: tuple[float | None, float | None]

    @property
    def shape(self) -> tuple[int, int]:
        return self.good.shape


def _import_orix_io():
    try:
        from orix import io as orix_io
    except ImportError:
        raise CaseError(f"source 'ebsd' {EXTRA_MESSAGE}") from None
    return orix_io


def read_map(options: dict) -> EbsdMap:
    """Read an .ang/.ctf map with orix and put it on the netsolve grid (checks every column)."""
    path: Path = options["path"]
    name = path.name
    orix_io = _import_orix_io()
    if not path.is_file():
        raise CaseError(f"{name}: orientation map not found ({path})")
    kind = path.suffix.lower()
    header_points, hexagonal = _header_info(path, kind)
    if hexagonal and options["hex_grid"] != "nearest":
        raise CaseError(f"{name}: the map is on a hexagonal pixel grid (GRID: HexGrid); set "
                        f"microstructure.hex_grid = \"nearest\" to resample it to square pixels "
                        f"of its x step (nearest neighbour)")
    kwargs = {"autogen_names": False} if kind == ".ang" else {}
    with warnings.catch_warnings(record=True) as caught, redirect_stdout(StringIO()):
        warnings.simplefilter("always")
        try:
            xmap = orix_io.load(str(path), **kwargs)
        except Exception as exc:  # a third-party parser: any failure is a bad file
            _check_warnings(caught, name, kind)
            changed = re.search(r"columns changed from (\d+) to (\d+) at row (\d+)", str(exc))
            if changed:
                a, b, row = changed.groups()
                raise CaseError(f"{name}: data row {row} has {b} columns instead of {a} "
                                f"(truncated or damaged file)") from None
            if kind == ".ctf":
                _check_ctf_columns(path)
            raise CaseError(f"{name}: not a readable {kind} orientation map "
                            f"({_short(exc)}; truncated or wrong column count?)") from None
    _check_warnings(caught, name, kind)
    n = xmap.size
    if header_points is not None and n != header_points:
        raise CaseError(f"{name}: {n} data rows, but the header announces {header_points} "
                        f"pixels (truncated file?)")

    x, y = np.asarray(xmap.x, float), np.asarray(xmap.y, float)
    unit_nm = {"nm": 1.0, "um": 1e3, "µm": 1e3, "mm": 1e6}.get(str(xmap.scan_unit))
    if unit_nm is None:
        raise CaseError(f"{name}: unknown scan unit {xmap.scan_unit!r}")
    if hexagonal:
        order, (nx, ny), step_x = square_from_hexagonal(x, y, name)
        step_y = step_x
    else:
        ix, step_x = _grid_index(x, name, "x")
        iy, step_y = _grid_index(y, name, "y")
        nx, ny = int(ix.max()) + 1, int(iy.max()) + 1
        flat = ix * ny + (ny - 1 - iy)  # grid index [i, ny - 1 - r]: grid y points up the map
        if n != nx * ny or np.bincount(flat, minlength=nx * ny).max() != 1:
            raise CaseError(f"{name}: {n} pixels do not fill the {nx} x {ny} grid their "
                            f"coordinates span (truncated file, or a hexagonal grid?)")
        order = np.empty(n, dtype=np.int64)
        order[flat] = np.arange(n)

    _check_euler_angles(path, kind, np.asarray(xmap.phase_id) != -1)
    # Bunge g maps Euler-frame vectors to the crystal: g R^T maps netsolve-frame vectors.
    g = xmap.rotations.to_matrix().reshape(n, 3, 3)[order] @ options["euler_frame"].T
    g = g.reshape(nx, ny, 3, 3)
    good = _good_pixels(xmap, options, name, kind)[order].reshape(nx, ny)
    steps = tuple(None if s is None else s * unit_nm for s in (step_x, step_y))
    return EbsdMap(g, good, steps)


# Largest |Euler angle| accepted in an indexed pixel: one turn, in the file's unit. TSL writes
# 4 pi for pixels it could not index (CI = -1): those are bad pixels and not checked.
EULER_LIMIT = {".ang": (2 * np.pi, "rad"), ".ctf": (360.0, "degrees")}


def _check_euler_angles(path: Path, kind: str, indexed: np.ndarray) -> None:
    """NaN or out-of-range Euler angles in indexed pixels are an error naming the data row
    (orix turns any number into a rotation, so the file's own values are checked)."""
    if kind == ".ang":
        euler = np.loadtxt(path, comments="#", usecols=(0, 1, 2), ndmin=2)
    else:
        with open(path, errors="replace") as f:
            skip = next(k for k, line in enumerate(f) if line.startswith("Phase\tX\tY")) + 1
        euler = np.loadtxt(path, skiprows=skip, usecols=(5, 6, 7), ndmin=2)
    limit, unit = EULER_LIMIT[kind]
    bad = indexed & ~(np.abs(euler) <= limit * (1 + 1e-6)).all(axis=1)  # NaN fails too
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        values = ", ".join(f"{v:g}" for v in euler[row])
        problem = ("not a number" if np.isnan(euler[row]).any() else
                   f"outside [-{limit:g}, {limit:g}] {unit}"
                   + (" (degrees in a radians file?)" if kind == ".ang" else ""))
        raise CaseError(f"{path.name}: data row {row + 1} (of an indexed pixel) has Euler "
                        f"angles ({values}): {problem}; {int(bad.sum())} such pixel(s)")


CTF_COLUMNS = ("Phase", "X", "Y", "Bands", "Error", "Euler1", "Euler2", "Euler3", "MAD", "BC",
               "BS")


def _check_ctf_columns(path: Path) -> None:
    """A .ctf whose data rows do not have the 11 columns orix reads is an error saying so."""
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("Phase\tX\tY"):
                row = next(f, "")
                n = len(row.split())
                if n and n < len(CTF_COLUMNS):
                    raise CaseError(f"{path.name}: the data rows have {n} columns, expected "
                                    f"{len(CTF_COLUMNS)} ({' '.join(CTF_COLUMNS)})")
                return


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def _check_warnings(caught, name: str, kind: str) -> None:
    """Turn orix's warnings about the data layout into errors."""
    for w in caught:
        text = str(w.message)
        match = re.search(r"Number of columns, (\d+), .*?columns, (\[[\d, ]*\])", text, re.S)
        if match:
            raise CaseError(f"{name}: the data rows have {match.group(1)} columns, expected "
                            f"{match.group(2)} for this {kind} layout")
        if "no data" in text.lower():
            raise CaseError(f"{name}: the file holds no data rows (truncated?)")


def _header_info(path: Path, kind: str) -> tuple[int | None, bool]:
    """Pixel count the header announces (.ang: NCOLS_ODD x NROWS, on a hexagonal grid
    NCOLS_ODD and NCOLS_EVEN alternately; .ctf: XCells x YCells) and whether it declares a
    hexagonal grid (.ang)."""
    keys = ("NCOLS_ODD", "NROWS", "NCOLS_EVEN") if kind == ".ang" else ("XCells", "YCells")
    found = {}
    hexagonal = False
    with open(path, errors="replace") as f:
        for count, line in enumerate(f):
            if count > 1000 or (line.startswith("Phase\tX\tY") if kind == ".ctf"
                                else not line.startswith("#")):
                break
            hexagonal |= "HexGrid" in line
            match = re.match(r"#?\s*(\w+)\s*:?\s*(-?\d+)\s*$", line)
            if match and match.group(1) in keys:
                found[match.group(1)] = int(match.group(2))
    if not (keys[0] in found and keys[1] in found):
        return None, hexagonal
    odd, rows = found[keys[0]], found[keys[1]]
    even = found.get("NCOLS_EVEN", odd) if hexagonal else odd
    return (rows + 1) // 2 * odd + rows // 2 * even, hexagonal


def square_from_hexagonal(x: np.ndarray, y: np.ndarray, name: str):
    """Resample a hexagonal pixel grid (rows ``step * sqrt(3) / 2`` apart, every other row
    shifted by half a step) to square pixels of the x step: each square pixel takes the
    nearest hexagonal pixel (scipy's k-d tree; ties to the lower index).

    x, y: pixel coordinates of the file (y grows downwards). Returns (order, (nx, ny), step):
    ``order`` (nx * ny,) the index of the file pixel of each grid voxel (grid C order, grid y
    up the map, as for square maps), the grid shape and the step (file unit).
    """
    from scipy.spatial import cKDTree

    first_row = np.isclose(y, y.min())
    xs = np.unique(x[first_row])
    rows = np.unique(y)
    if len(xs) < 2 or len(rows) < 2:
        raise CaseError(f"{name}: a hexagonal grid needs at least two pixels per row and two "
                        f"rows")
    step = float(np.min(np.diff(xs)))
    pitch = float(np.min(np.diff(rows)))
    if abs(pitch - step * np.sqrt(3) / 2) > 0.05 * step:
        raise CaseError(f"{name}: rows {pitch:g} apart with pixels {step:g} apart are not a "
                        f"hexagonal grid (rows step * sqrt(3) / 2 = {step * np.sqrt(3) / 2:g} "
                        f"apart expected)")
    nx = int(np.rint((x.max() - x.min()) / step)) + 1
    ny = int(np.rint((y.max() - y.min()) / step)) + 1
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")  # grid order, y up
    centres = np.column_stack([x.min() + i.ravel() * step,
                               y.min() + (ny - 1 - j.ravel()) * step])
    distance, order = cKDTree(np.column_stack([x, y])).query(centres)
    # Inside a complete hexagonal grid no point is farther than step / sqrt(3) from a pixel.
    far = distance > 0.6 * step
    if far.any():
        k = int(np.flatnonzero(far)[0])
        raise CaseError(f"{name}: the hexagonal grid has a hole: no pixel within "
                        f"{0.6 * step:g} of ({centres[k, 0]:g}, {centres[k, 1]:g}) "
                        f"(truncated file?)")
    return order.astype(np.int64), (nx, ny), step


def _grid_index(coord: np.ndarray, name: str, axis: str) -> tuple[np.ndarray, float | None]:
    """Integer pixel index along one map axis and the step (None if there is one pixel)."""
    values = np.unique(coord)
    if len(values) == 1:
        return np.zeros(len(coord), dtype=np.int64), None
    step = float(np.min(np.diff(values)))
    index = np.rint((coord - values[0]) / step)
    if np.abs(index * step - (coord - values[0])).max() > 0.05 * step:
        raise CaseError(f"{name}: the {axis} coordinates are not on a regular grid of step "
                        f"{step:g} (hexagonal grids are not supported: resample to a square "
                        f"grid first)")
    return index.astype(np.int64), float((values[-1] - values[0]) / index.max())


def _good_pixels(xmap, options: dict, name: str, kind: str) -> np.ndarray:
    """Pixels indexed as the grain phase that pass the quality limits."""
    phase_id = np.asarray(xmap.phase_id)
    ids = [int(i) for i in xmap.phases.ids if i != -1]
    names = [xmap.phases[i].name for i in ids]
    wanted = options["phase"]
    if wanted is None:
        present = [i for i in ids if (phase_id == i).any()]
        if len(present) > 1:
            raise CaseError(f"{name}: the map holds several phases {names}: choose the "
                            f"Na-beta''-alumina one with microstructure.phase")
        good = phase_id != -1
    else:
        if wanted not in names:
            raise CaseError(f"{name}: no phase named {wanted!r} in the file (phases: {names})")
        good = phase_id == ids[names.index(wanted)]
    prop = xmap.prop
    if kind == ".ang" and options["min_confidence"]:
        column = next((c for c in ANG_CONFIDENCE if c in prop), None)
        if column is None:
            raise CaseError(f"{name}: min_confidence is set, but the file has no confidence "
                            f"column (columns: {sorted(prop)})")
        good &= np.asarray(prop[column]) >= options["min_confidence"]
    if kind == ".ctf":
        if options["max_mad_deg"] is not None:
            good &= np.asarray(prop["MAD"]) <= options["max_mad_deg"]
        if options["min_bands"]:
            good &= np.asarray(prop["bands"]) >= options["min_bands"]
    return good


# --- segmentation ----------------------------------------------------------------------------

def face_pairs(shape: tuple[int, ...]):
    """(a, b) flat indices of face-neighbour voxel pairs, one array pair per axis."""
    index = np.arange(int(np.prod(shape))).reshape(shape)
    for axis in range(len(shape)):
        lo = [slice(None)] * len(shape)
        hi = [slice(None)] * len(shape)
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        yield index[tuple(lo)].ravel(), index[tuple(hi)].ravel()


def segment_grains(g: np.ndarray, good: np.ndarray, threshold_rad: float) -> np.ndarray:
    """Connected components of good pixels joined across faces with misorientation below
    the threshold. Returns int64 ids 1..n (by first pixel in C order) and 0 for bad pixels."""
    shape = good.shape
    n = good.size
    gf = g.reshape(n, 3, 3)
    goodf = good.ravel()
    rows, cols = [], []
    for a, b in face_pairs(shape):
        keep = goodf[a] & goodf[b]
        a, b = a[keep], b[keep]
        close = misorientation_angle(gf[a], gf[b]) < threshold_rad
        rows.append(a[close])
        cols.append(b[close])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = sp.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, component = connected_components(graph.tocsr(), directed=False)
    # scipy numbers components in order of their lowest node: renumber the good ones 1..n
    _, ids = np.unique(component[goodf], return_inverse=True)
    out = np.zeros(n, dtype=np.int64)
    out[goodf] = ids + 1
    return out.reshape(shape)


def clean_grains(segments: np.ndarray, good: np.ndarray, min_voxels: int,
                 merge_bad: bool) -> tuple[np.ndarray, np.ndarray]:
    """Drop grains below ``min_voxels`` into their neighbours; fill or void bad pixels.

    Returns (labels, own): ``labels`` grain ids 1..m (renumbered by first voxel), 0 where a
    pixel stays void; ``own`` the same ids on the pixels that define each grain's orientation
    (its own segmented pixels), 0 elsewhere.
    """
    sizes = np.bincount(segments.ravel())
    small = sizes < min_voxels
    small[0] = False
    labels = np.where(small[segments], 0, segments)
    if merge_bad:
        fill = labels == 0
    else:
        fill = (labels == 0) & good
    labels = fill_from_neighbours(labels, fill)
    if not merge_bad:  # small grains that touch no grain stay what they were
        stuck = fill & (labels == 0)
        labels[stuck] = segments[stuck]
    elif (labels == 0).any():
        raise CaseError("no grain of at least min_grain_voxels pixels to merge the bad pixels "
                        "into")
    own = np.where((labels == segments) & (labels > 0), labels, 0)
    present, new = np.unique(labels, return_inverse=True)
    first = np.full(present.size, labels.size)
    np.minimum.at(first, new.ravel(), np.arange(labels.size))
    rank = np.empty(present.size, dtype=np.int64)
    grains = present > 0
    order = np.argsort(np.where(grains, first, -1), kind="stable")
    rank[order] = np.arange(present.size) - (~grains).sum()
    lookup = np.zeros(int(present.max()) + 1, dtype=np.int64)
    lookup[present] = np.where(grains, rank + 1, 0)
    return lookup[labels], lookup[own]


def fill_from_neighbours(labels: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Give pixels with ``fill`` (and label 0) the label (> 0) shared by most of their face
    neighbours (ties: the smaller id), repeating until no pixel changes."""
    labels = labels.copy()
    shape = labels.shape
    flat = labels.reshape(-1)
    coords = np.indices(shape).reshape(len(shape), -1)
    strides = np.array([int(np.prod(shape[k + 1:])) for k in range(len(shape))])
    todo = np.flatnonzero(fill.ravel() & (flat == 0))
    while todo.size:
        neighbours = []
        for axis in range(len(shape)):  # 2 (or 3) axes, 2 sides each
            c = coords[axis, todo]
            for side, inside in ((-1, c > 0), (1, c < shape[axis] - 1)):
                j = np.where(inside, todo + side * strides[axis], 0)
                neighbours.append(np.where(inside, flat[j], 0))
        cand = np.stack(neighbours, axis=1)
        cand = np.where(cand > 0, cand, 0)
        votes = (cand[:, :, None] == cand[:, None, :]).sum(axis=2)
        votes[cand == 0] = 0
        big = int(cand.max()) + 1
        key = votes * big - cand
        key[votes == 0] = -1
        best = key.argmax(axis=1)
        winner = cand[np.arange(len(todo)), best]
        done = winner > 0
        if not done.any():
            break
        flat[todo[done]] = winner[done]
        todo = todo[~done]
    return flat.reshape(shape)


def mean_orientations(g: np.ndarray, grain: np.ndarray, n: int, passes: int = 2) -> np.ndarray:
    """Mean orientation matrix (n, 3, 3) of pixels ``g`` (m, 3, 3) of grains ``grain`` (0..n-1),
    each pixel taken as its -3m equivalent closest to the grain's current estimate (first
    pixel, then the mean), the matrix average projected onto SO(3) by SVD."""
    _, first = np.unique(grain, return_index=True)
    ref = g[first]
    member = sp.csr_matrix((np.ones(len(grain)), (grain, np.arange(len(grain)))),
                           shape=(n, len(grain)))
    for _ in range(passes):
        delta = g @ np.swapaxes(ref[grain], -1, -2)
        best = np.einsum("sij,mji->ms", TRIGONAL_32, delta).argmax(axis=1)
        aligned = TRIGONAL_32[best] @ g
        total = (member @ aligned.reshape(-1, 9)).reshape(n, 3, 3)
        u, _, vt = np.linalg.svd(total)
        d = np.sign(np.linalg.det(u @ vt))
        u[:, :, 2] *= d[:, None]
        ref = u @ vt
    return ref


# --- writing synthetic maps ------------------------------------------------------------------

ANG_HEADER = """\
# TEM_PIXperUM          1.000000
# x-star                0.000000
# y-star                0.000000
# z-star                0.000000
# WorkingDistance       0.000000
#
# Phase 1
# MaterialName  	{phase}
# Formula     	{formula}
# Info
# Symmetry              32
# LatticeConstants      5.610 5.610 33.500  90.000  90.000 120.000
# NumberFamilies        0
#
# GRID: {grid}
# XSTEP: {step_um:.6f}
# YSTEP: {ystep_um:.6f}
# NCOLS_ODD: {nx}
# NCOLS_EVEN: {nx_even}
# NROWS: {ny}
#
# OPERATOR: netsolve
#
# SAMPLEID: {sample}
#
# SCANID:
#
"""


def write_ang(path, euler_rad: np.ndarray, step_nm: float, ci: np.ndarray | None = None,
              phase: str = "Na-beta-alumina", sample: str = "synthetic",
              hexagonal: bool = False) -> None:
    """Write a TSL-style .ang file (10 columns: phi1 Phi phi2 x y IQ CI phase_id SEM fit).

    ``euler_rad`` (ny, nx, 3): Bunge angles per pixel in image order, row 0 at the top (the
    file's y = row * step grows downwards); ``ci`` (ny, nx) confidence index (default 1; -1
    marks a pixel as not indexed). Point group -3m (TSL symmetry code 32). Coordinates in um.
    ``hexagonal``: a TSL hexagonal grid, rows step * sqrt(3) / 2 apart, the odd rows (1, 3,
    ...) shifted right by half a step and one pixel shorter (their last column is not
    written).
    """
    euler_rad = np.asarray(euler_rad, dtype=float)
    ny, nx = euler_rad.shape[:2]
    ci = np.ones((ny, nx)) if ci is None else np.asarray(ci, dtype=float)
    step_um = step_nm * 1e-3
    ystep_um = step_um * np.sqrt(3) / 2 if hexagonal else step_um
    rows, cols = np.indices((ny, nx))
    shifted = (rows % 2 == 1) if hexagonal else np.zeros((ny, nx), bool)
    keep = ~(shifted & (cols == nx - 1))
    data = np.column_stack([
        np.mod(euler_rad[keep], 2 * np.pi), (cols[keep] + 0.5 * shifted[keep]) * step_um,
        rows[keep] * ystep_um, np.full(keep.sum(), 100.0), ci[keep], np.ones(keep.sum()),
        np.zeros(keep.sum()), np.zeros(keep.sum())])
    header = ANG_HEADER.format(phase=phase, formula=phase.split("-")[0], step_um=step_um,
                               ystep_um=ystep_um, nx=nx, nx_even=nx - 1 if hexagonal else nx,
                               ny=ny, sample=sample,
                               grid="HexGrid" if hexagonal else "SqrGrid")
    fmt = "%.5f %.5f %.5f %.5f %.5f %.1f %.3f %d %.1f %.1f"
    with open(path, "w", newline="\n") as f:
        f.write(header)
        np.savetxt(f, data, fmt=fmt)

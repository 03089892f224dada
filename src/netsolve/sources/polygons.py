"""``source = "polygons"``: grains traced as polygons (GeoJSON or WKT in a CSV), rasterized.

Each feature is a Polygon or MultiPolygon (holes allowed) with either a grain id (> 0, several
features may share one id) or a phase name, and optionally the grain's orientation. The
polygons are rasterized onto the 2D grid by voxel centre:

- a voxel belongs to the polygon that contains its centre;
- a centre exactly on a polygon's boundary belongs to that polygon; if it lies on the boundary
  of several polygons (a shared edge or vertex), the feature that comes first in the file wins.
  So polygons that share an edge exactly neither overlap nor leave a gap there;
- a centre inside one polygon and inside (or on the boundary of) another is an overlap error;
  a centre covered by no polygon is a hole error, unless ``fill`` names a phase for it.

Coordinates: x right, y up (grid axis 0 and 1); the grid's lower-left corner sits at
``origin_nm`` of the file's coordinate system. The work is vectorized per polygon: each one
tests only the voxel centres of its bounding box, with a prepared geometry.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from scipy import ndimage
from shapely.errors import GEOSException
from shapely.geometry import mapping, shape

from ..case import PHASE_ALIASES, GrainOrientation
from ..errors import CaseError
from ..orientation import orientations_from_case
from ..input_files import input_path, parse_json, read_text
from ..tables import Table, canonical_columns, csv_records
from .orientation_table import FORMS

NM = 1e-9
UNITS = ("nm", "um", "voxel")
FEATURE_PHASES = ("zro2", "backbone", "frame", "void")
GEOJSON_KEYS = ("id", "phase", "euler_deg", "theta_deg", "alpha_deg", "c_axis")
SUFFIXES = (".geojson", ".json", ".csv")
CSV_COLUMNS = ("wkt", "id", "phase") + tuple(c for cols in FORMS.values() for c in cols)


def read_options(t, base_dir: Path, grid) -> dict:
    path = input_path(base_dir, t.string("path"))
    if path.suffix.lower() not in SUFFIXES:
        t.fail(f"'microstructure.path' = {path.name!r}: polygons are read from GeoJSON "
               f"(.geojson, .json) or from a CSV with a 'wkt' column (.csv)")
    units = t.string("units", "nm", choices=UNITS)
    origin = t.numbers("origin_nm", 2, (0.0, 0.0))
    fill = t.string("fill", None, choices=FEATURE_PHASES)
    if grid.ndim != 2:
        t.fail(f"source \"polygons\" ({path.name}) needs a 2D grid: polygons are traced on the "
               f"lamella surface, but grid.shape = {list(grid.shape)} is 3D")
    return {"path": path, "units": units, "origin_nm": origin,
            "fill": None if fill is None else PHASE_ALIASES.get(fill, fill)}


def load(options: dict, case):
    from . import SourceMap

    path = options["path"]
    polygons = read_polygons(path)
    grid = case.grid
    h_nm = float(f"{grid.voxel_size_m / NM:.12g}")  # the voxel_size_nm as written
    x, y = voxel_centres_in_file(grid.shape, h_nm, options["units"], options["origin_nm"])
    owner, overlap = rasterize(polygons.geometries, x, y)
    frame = _Frame(path.name, h_nm, options["units"], options["origin_nm"])
    if overlap.any():
        raise _overlap_error(frame, polygons, overlap, x, y)
    uncovered = owner < 0
    if uncovered.any() and options["fill"] is None:
        raise _hole_error(frame, uncovered)

    used = {p for p in polygons.phases if p is not None}
    if options["fill"] is not None and uncovered.any():
        used.add(options["fill"])
    phases = phase_values(used, case)
    feature_label = np.array([phases[p] if p is not None else g
                              for g, p in zip(polygons.grain_ids, polygons.phases)], dtype=np.int64)
    labels = np.empty(grid.shape, dtype=np.int32)
    labels[~uncovered] = feature_label[owner[~uncovered]]
    if uncovered.any():
        labels[uncovered] = phases[options["fill"]]

    present = np.unique(labels[labels > 0])
    lacking = np.setdiff1d(present, [*polygons.orientations, *(g.grain_id for g in case.grains)])
    if lacking.size and case.materials.conductivity_model != "isotropic":
        first = int(np.flatnonzero(polygons.grain_ids == lacking[0])[0])
        forms = ("columns phi1, Phi, phi2 or theta, alpha or cx, cy, cz" if polygons.is_csv
                 else "properties euler_deg, theta_deg + alpha_deg or c_axis")
        raise CaseError(f"{path.name}: grain ids {lacking[:10].tolist()}"
                        f"{' ...' if lacking.size > 10 else ''} have no orientation (first: "
                        f"{polygons.names[first]}): give {forms}, or a [[grains]] entry in the "
                        f"case file")
    orientations = None
    if polygons.orientations:
        orientations = orientations_from_case(tuple(polygons.orientations.values()), path.name)
    return SourceMap(labels, orientations, phases)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Polygons:
    """Features of a polygon file, in file order. ``grain_ids[k]`` is 0 for a phase feature;
    ``phases[k]`` the canonical phase name or None; ``names[k]`` says where the feature is
    (``features[3]`` or ``line 5``); ``orientations`` maps a grain id to its orientation."""

    geometries: np.ndarray
    grain_ids: np.ndarray
    phases: tuple[str | None, ...]
    names: tuple[str, ...]
    orientations: dict[int, GrainOrientation]
    is_csv: bool = False

    def describe(self, k: int) -> str:
        what = f"phase {self.phases[k]}" if self.phases[k] else f"grain {self.grain_ids[k]}"
        return f"{self.names[k]} ({what})"


def read_polygons(path: Path) -> Polygons:
    """Read and check a GeoJSON FeatureCollection or a WKT CSV (see ``docs/case-format.md``)."""
    path = Path(path)
    text = read_text(path, "polygon file")
    if path.suffix.lower() == ".csv":
        records = _csv_records(text, path.name)
    else:
        records = _geojson_records(text, path.name)
    if not records:
        raise CaseError(f"{path.name}: contains no polygons")

    geometries = np.array([r[0] for r in records], dtype=object)
    names = tuple(r[1] for r in records)
    grain_ids = np.array([r[2] for r in records], dtype=np.int64)
    phases = tuple(r[3] for r in records)
    _check_geometries(path.name, geometries, names)
    orientations: dict[int, GrainOrientation] = {}
    given_by: dict[int, str] = {}
    for (_, name, gid, _, orientation) in records:  # one pass over features (table rows)
        if orientation is None:
            continue
        if gid in orientations and orientations[gid] != orientation:
            raise CaseError(f"{path.name}: grain {gid} has two different orientations: "
                            f"{_describe_orientation(orientations[gid])} in {given_by[gid]}, "
                            f"{_describe_orientation(orientation)} in {name}")
        orientations.setdefault(gid, orientation)
        given_by.setdefault(gid, name)
    return Polygons(geometries, grain_ids, phases, names, orientations,
                    path.suffix.lower() == ".csv")


def _geojson_records(text: str, file: str) -> list:
    data = parse_json(text, file)
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise CaseError(f"{file}: expected a GeoJSON FeatureCollection (an object with "
                        f"\"type\": \"FeatureCollection\" and \"features\")")
    features = data.get("features")
    if not isinstance(features, list):
        raise CaseError(f"{file}: 'features' must be a list of GeoJSON Features")
    records = []
    for k, feature in enumerate(features):  # one pass over features (table rows)
        name = f"features[{k}]"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise CaseError(f"{file}: {name} is not a GeoJSON Feature (\"type\": \"Feature\")")
        geometry = feature.get("geometry")
        kind = geometry.get("type") if isinstance(geometry, dict) else geometry
        if kind not in ("Polygon", "MultiPolygon"):
            raise CaseError(f"{file}: {name}: geometry must be a Polygon or MultiPolygon, "
                            f"got {kind!r}")
        try:
            geom = shape(geometry)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError, GEOSException) as exc:
            raise CaseError(f"{file}: {name}: geometry is not a valid GeoJSON "
                            f"{geometry['type']} ({type(exc).__name__}: {exc})") from None
        props = feature.get("properties")
        t = Table({} if props is None else props, "properties", f"{file}: {name}")
        gid, phase = _id_or_phase(t)
        orientation = _orientation_geojson(t, gid)
        t.used.update(GEOJSON_KEYS)  # so that a misspelled key gets a suggestion
        t.finish()
        records.append((geom, name, gid, phase, orientation))
    return records


def _csv_records(text: str, file: str) -> list:
    rows = csv_records(text, file)  # blank rows are skipped
    if not rows:
        raise CaseError(f"{file}: the CSV is empty (expected a header such as "
                        f"'wkt,id,phi1,Phi,phi2')")
    # the header: names as in orientation tables, any case
    columns = canonical_columns(f"{file}: line {rows[0][0]} (header)", rows[0][1], CSV_COLUMNS)
    if "wkt" not in columns:
        raise CaseError(f"{file}: needs a 'wkt' column with the polygons as WKT (found columns "
                        f"{', '.join(columns)})")
    records = []
    for line, cells in rows[1:]:  # one pass over rows (table rows)
        name = f"line {line}"
        if len(cells) != len(columns):
            raise CaseError(f"{file}: {name}: {len(cells)} values, but the header has "
                            f"{len(columns)} columns ({','.join(columns)})")
        values = {c: _cell(v) for c, v in zip(columns, cells) if v != ""}
        wkt = values.pop("wkt", None)
        t = Table(values, "", f"{file}: {name}")
        if not isinstance(wkt, str):
            t.fail("'wkt' must be a polygon as WKT, e.g. \"POLYGON ((0 0, 10 0, 10 10, 0 10, "
                   f"0 0))\", got {wkt!r}")
        geom = wkt_geometry(wkt, f"{file}: {name}: 'wkt'")
        gid, phase = _id_or_phase(t)
        orientation = _orientation_csv(t, gid)
        t.finish()
        records.append((geom, name, gid, phase, orientation))
    return records


def _cell(text: str):
    """A CSV cell as int, float or (stripped) string, so that Table checks its type."""
    if "_" in text:  # Python would read 1_000 as a number; a CSV cell does not
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _id_or_phase(t: Table) -> tuple[int, str | None]:
    if t.has("id") == t.has("phase"):
        t.fail(f"give either '{t._key('id')}' (a grain id >= 1) or '{t._key('phase')}' (one of "
               f"{', '.join(FEATURE_PHASES)}), not {'both' if t.has('id') else 'neither'}")
    if t.has("id"):
        gid = t.integer("id", minimum=1)
        if gid > np.iinfo(np.int32).max:
            t.fail(f"'{t._key('id')}' = {gid} is too large for the label map (int32)")
        return gid, None
    phase = t.string("phase", choices=FEATURE_PHASES)
    return 0, PHASE_ALIASES.get(phase, phase)


def _orientation_geojson(t: Table, gid: int) -> GrainOrientation | None:
    forms = [f for f in ("euler_deg", "theta_deg", "alpha_deg", "c_axis") if t.has(f)]
    if not forms:
        return None
    if gid == 0:
        t.fail(f"a phase feature takes no orientation (got {', '.join(forms)})")
    if forms == ["euler_deg"]:
        return GrainOrientation(gid, euler_deg=t.numbers("euler_deg", 3))
    if sorted(forms) == ["alpha_deg", "theta_deg"]:
        return _theta_alpha(t, gid, "theta_deg", "alpha_deg")
    if forms == ["c_axis"]:
        return _c_axis(t, gid, t.numbers("c_axis", 3))
    t.fail(f"grain {gid}: give exactly one orientation: euler_deg = [phi1, Phi, phi2], or "
           f"theta_deg and alpha_deg, or c_axis = [x, y, z] (got {', '.join(forms)})")


def _orientation_csv(t: Table, gid: int) -> GrainOrientation | None:
    groups = {form: [c for c in columns if t.has(c)] for form, columns in FORMS.items()}
    given = [form for form, present in groups.items() if present]
    cells = ", ".join(c for present in groups.values() for c in present)
    if not given:
        return None
    if gid == 0:
        t.fail(f"a phase row takes no orientation (got {cells})")
    if len(given) > 1:
        t.fail(f"grain {gid}: give exactly one orientation: phi1, Phi, phi2, or theta and alpha, "
               f"or cx, cy, cz (got {cells})")
    form = given[0]
    columns = FORMS[form]
    if len(groups[form]) != len(columns):
        t.fail(f"grain {gid}: give all of {', '.join(columns)} (got {', '.join(groups[form])})")
    if form == "euler":
        return GrainOrientation(gid, euler_deg=tuple(t.number(c) for c in columns))
    if form == "theta_alpha":
        return _theta_alpha(t, gid, "theta", "alpha")
    return _c_axis(t, gid, tuple(t.number(c) for c in columns))


def _theta_alpha(t: Table, gid: int, theta_key: str, alpha_key: str) -> GrainOrientation:
    theta, alpha = t.number(theta_key), t.number(alpha_key)
    if not 0.0 <= alpha <= 90.0:
        t.fail(f"grain {gid}: '{t._key(alpha_key)}' must be in [0, 90], got {alpha}")
    return GrainOrientation(gid, theta_alpha_deg=(theta, alpha))


def _c_axis(t: Table, gid: int, c: tuple[float, ...]) -> GrainOrientation:
    if math.hypot(*c) == 0:
        t.fail(f"grain {gid}: the c-axis must not be the zero vector")
    return GrainOrientation(gid, c_axis=c)


def _describe_orientation(g: GrainOrientation) -> str:
    if g.euler_deg is not None:
        return f"euler_deg = {list(g.euler_deg)}"
    if g.theta_alpha_deg is not None:
        return f"theta/alpha = {list(g.theta_alpha_deg)}"
    return f"c_axis = {list(g.c_axis)}"


def _check_geometries(file: str, geometries: np.ndarray, names: tuple[str, ...]) -> None:
    """Polygons only, not empty, finite coordinates, valid (vectorized over features)."""
    kinds = shapely.get_type_id(geometries)
    bad = np.flatnonzero(~np.isin(kinds, (3, 6)))  # 3 Polygon, 6 MultiPolygon
    if bad.size:
        k = int(bad[0])
        raise CaseError(f"{file}: {names[k]}: must be a Polygon or MultiPolygon, got "
                        f"{geometries[k].geom_type}")
    bad = np.flatnonzero(shapely.is_empty(geometries))
    if bad.size:
        raise CaseError(f"{file}: {names[int(bad[0])]}: the polygon is empty")
    coords, index = shapely.get_coordinates(geometries, return_index=True)
    bad = index[~np.isfinite(coords).all(axis=1)]
    if bad.size:
        raise CaseError(f"{file}: {names[int(bad[0])]}: coordinates must be finite numbers")
    bad = np.flatnonzero(~shapely.is_valid(geometries))
    if bad.size:
        k = int(bad[0])
        reason = shapely.is_valid_reason(geometries[k])
        raise CaseError(f"{file}: {names[k]}: invalid polygon ({reason}); rings must not cross "
                        f"themselves or each other")


# --------------------------------------------------------------------------- rasterizing


def voxel_centres_in_file(shape: tuple[int, int], h_nm: float, units: str,
                          origin_nm: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """x and y of the voxel centres in the file's coordinates (x = axis 0, y = axis 1, y up)."""
    out = []
    for n, x0 in zip(shape, origin_nm):
        if units == "voxel":
            out.append(np.arange(n) + 0.5 + x0 / h_nm)
        else:
            out.append(((np.arange(n) + 0.5) * h_nm + x0) / (1000.0 if units == "um" else 1.0))
    return out[0], out[1]


def rasterize(geometries: np.ndarray, x: np.ndarray,
              y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Assign the grid points (x[i], y[j]) (ascending) to polygons by the rule of the module doc.

    Returns ``owner`` (int32, index of the owning geometry, -1 where none covers the point) and
    ``overlap`` (bool: the point is inside one polygon and inside or on another).
    """
    geometries = np.asarray(geometries, dtype=object)
    owner = np.full((len(x), len(y)), -1, dtype=np.int32)
    claims = np.zeros((len(x), len(y)), dtype=np.int32)
    shapely.prepare(geometries)
    bounds = shapely.bounds(geometries)
    i0 = np.searchsorted(x, bounds[:, 0], side="left")
    i1 = np.searchsorted(x, bounds[:, 2], side="right")
    j0 = np.searchsorted(y, bounds[:, 1], side="left")
    j1 = np.searchsorted(y, bounds[:, 3], side="right")
    for k in np.flatnonzero((i1 > i0) & (j1 > j0)):  # a loop over polygons, vectorized inside
        window = (slice(i0[k], i1[k]), slice(j0[k], j1[k]))
        hit = shapely.intersects_xy(geometries[k], x[window[0], None], y[None, window[1]])
        claims[window] += hit
        own = owner[window]
        own[hit & (own < 0)] = k
    overlap = np.zeros(owner.shape, dtype=bool)
    ii, jj = np.nonzero(claims >= 2)
    if ii.size:  # centres on shared boundaries (or overlaps): inside any polygon's interior?
        pairs = claimants(geometries, x[ii], y[jj])
        inside = shapely.contains_xy(geometries[pairs[1]], x[ii][pairs[0]], y[jj][pairs[0]])
        overlap[ii, jj] = np.bincount(pairs[0][inside], minlength=ii.size) > 0
    return owner, overlap


def voxel_mask(geometry, shape: tuple[int, int], h_nm: float) -> np.ndarray:
    """Voxels of a 2D grid whose centre lies inside or on the boundary of ``geometry`` (nm, grid
    lower-left corner at (0, 0)): the rule of :func:`rasterize` for one polygon."""
    x, y = voxel_centres_in_file(shape, h_nm, "nm", (0.0, 0.0))
    owner, _ = rasterize(np.array([geometry], dtype=object), x, y)
    return owner >= 0


def parse_wkt_polygon(text, origin: str, key: str):
    """A (Multi)Polygon from the WKT string of case key ``key``; CaseError if it is not one."""
    if not isinstance(text, str):
        raise CaseError(f"{origin}: '{key}' must be a WKT string (\"POLYGON ((x y, ...))\"), "
                        f"got {text!r}")
    geometry = wkt_geometry(text, f"{origin}: '{key}'")
    _check_geometries(origin, np.array([geometry], dtype=object), (f"'{key}'",))
    return geometry


# A (Multi)Polygon nests three levels of parentheses. GEOS parses WKT recursively and crashes
# the process (a C stack overflow, not an exception) on deep nesting, so it is bounded first.
MAX_WKT_DEPTH = 3


def wkt_geometry(text: str, where: str):
    """The geometry of a WKT string; ``where`` ("file: line 3: 'wkt'") starts every message."""
    chars = np.frombuffer(text.encode(), np.uint8)
    depth = np.cumsum((chars == ord("(")).astype(np.int64) - (chars == ord(")")))
    if depth.size and depth.max() > MAX_WKT_DEPTH:
        raise CaseError(f"{where} nests {int(depth.max())} levels of parentheses: not a "
                        f"Polygon or MultiPolygon (at most {MAX_WKT_DEPTH})")
    try:
        with np.errstate(all="ignore"):  # overflowing coordinates: reported as not finite
            geometry = shapely.from_wkt(text)
    except (GEOSException, ValueError) as exc:
        raise CaseError(f"{where} is not valid WKT ({exc})") from None
    if geometry is None:
        raise CaseError(f"{where} is not valid WKT (empty string)")
    return geometry


def claimants(geometries: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pairs [point index, geometry index] of points and the polygons covering them (closed)."""
    tree = shapely.STRtree(geometries)
    pairs = tree.query(shapely.points(xs, ys), predicate="intersects")
    order = np.lexsort((pairs[1], pairs[0]))
    return pairs[:, order]


def phase_values(names: set[str], case) -> dict[str, int]:
    """Label values of the phases the polygons use: the declared ones, else new values below
    every declared phase value, electrode label and 0."""
    from . import phase_values as shared

    return shared(names, case.microstructure.phases,
                  [e.region.label for e in case.electrodes if e.region.kind == "label"])


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class _Frame:
    """How to describe voxel regions in the file's coordinates."""

    file: str
    h_nm: float
    units: str
    origin_nm: tuple[float, float]

    def region(self, mask: np.ndarray) -> str:
        n = int(mask.sum())
        ii, jj = np.nonzero(mask)
        scale = {"nm": 1.0, "um": 1000.0, "voxel": self.h_nm}[self.units]

        def faces(lo, hi, x0):
            return f"{(lo * self.h_nm + x0) / scale:.6g}..{((hi + 1) * self.h_nm + x0) / scale:.6g}"

        return (f"{n} voxel{'s' if n != 1 else ''} ({n * self.h_nm**2:.4g} nm^2) within "
                f"x = {faces(ii.min(), ii.max(), self.origin_nm[0])}, "
                f"y = {faces(jj.min(), jj.max(), self.origin_nm[1])} "
                f"{'voxels' if self.units == 'voxel' else self.units}")


def _largest_region(mask: np.ndarray) -> tuple[np.ndarray, int]:
    regions, count = ndimage.label(mask, structure=np.ones((3, 3)))
    sizes = np.bincount(regions.ravel())[1:]
    return regions == (int(np.argmax(sizes)) + 1), count


def _overlap_error(frame: _Frame, polygons: Polygons, overlap: np.ndarray, x: np.ndarray,
                   y: np.ndarray) -> CaseError:
    region, count = _largest_region(overlap)
    i, j = (int(v[0]) for v in np.nonzero(region))
    who = claimants(polygons.geometries, x[[i]], y[[j]])[1][:2]
    total = (f"; overlaps cover {int(overlap.sum())} voxels in {count} places in all"
             if count > 1 else "")
    return CaseError(f"{frame.file}: polygons overlap: {polygons.describe(int(who[0]))} and "
                     f"{polygons.describe(int(who[1]))} both cover {frame.region(region)}{total}")


def _hole_error(frame: _Frame, uncovered: np.ndarray) -> CaseError:
    region, count = _largest_region(uncovered)
    n = int(uncovered.sum())
    where = (f"{frame.region(region)}" if count == 1 else
             f"{n} voxels ({n * frame.h_nm**2:.4g} nm^2) in {count} places; the largest: "
             f"{frame.region(region)}")
    return CaseError(f"{frame.file}: the polygons leave a hole: no polygon covers {where}. "
                     f"Close the gap, or set microstructure.fill to a phase (e.g. \"void\") for "
                     f"uncovered voxels")


# --------------------------------------------------------------------------- writing


def polygons_from_labels(labels: np.ndarray, voxel_size: float = 1.0) -> dict[int, object]:
    """The region of each label value of a 2D label map as a (Multi)Polygon, in units of
    ``voxel_size`` (x = axis 0, y = axis 1): the union of the runs of equal labels along y."""
    labels = np.asarray(labels)
    ny = labels.shape[1]
    start = np.ones(labels.shape, dtype=bool)
    start[:, 1:] = labels[:, 1:] != labels[:, :-1]
    flat = np.flatnonzero(start)
    end = np.append(flat[1:], labels.size)
    i, j0 = np.divmod(flat, ny)
    j1 = end - i * ny
    boxes = shapely.box(i * voxel_size, j0 * voxel_size, (i + 1) * voxel_size, j1 * voxel_size)
    values = labels.ravel()[flat]
    order = np.argsort(values, kind="stable")
    uniq, first = np.unique(values[order], return_index=True)
    groups = np.split(order, first[1:])
    return {int(v): shapely.union_all(boxes[g]) for v, g in zip(uniq, groups)}  # per label


def write_geojson(path: str | Path, geometries, properties) -> None:
    """Write polygons and their properties (dicts) as a GeoJSON FeatureCollection."""
    features = [{"type": "Feature", "properties": dict(p), "geometry": mapping(g)}
                for g, p in zip(geometries, properties)]
    Path(path).write_text(json.dumps({"type": "FeatureCollection", "features": features}))

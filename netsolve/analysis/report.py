"""Per-GB (and per-segment) and per-grain tables: classification + metrics, CSV output.

See ``docs/gb-classification.md`` for every column, sign convention and formula.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from dataclasses import dataclass, field, fields as dataclass_fields
from pathlib import Path

import numpy as np

from ..case import Case
from ..errors import CaseError
from ..microstructure import Microstructure
from .classify import ISOTROPIC, NOT_CLASSIFIED, classify, drift_tensors, unit
from .geometry import WHOLE_GB, GBGeometry, gb_geometry
from .metrics import (band_mean, electrode_distance, group_mean, group_sum, local_field,
                      risk_score)

AXES = "xyz"
_HIDDEN = {"csv": False}  # dataclass fields that are not CSV columns


@dataclass(frozen=True)
class GBTable:
    """One row per grain boundary (``segment`` = -1), per straight segment of it (``segment``
    = 0, 1, ...) and per grain|phase interface (``grain_b`` = -1, ``other_phase`` the phase,
    not classified). Vector columns are (n, ndim). SI units, angles in degrees.

    ``face_*``: the GB voxel faces (sorted like ``Fields.gb_face_*``) and the segment row each
    belongs to (for maps; not CSV columns).
    """

    grain_a: np.ndarray
    grain_b: np.ndarray
    other_phase: np.ndarray
    segment: np.ndarray
    n_faces: np.ndarray
    length_m: np.ndarray
    area_m2: np.ndarray
    centroid_m: np.ndarray
    normal: np.ndarray
    misorientation_deg: np.ndarray
    path_misorientation_deg: np.ndarray
    psi_deg: np.ndarray
    gb_type: np.ndarray
    letter: np.ndarray
    suffix: np.ndarray
    behaviour: np.ndarray
    blocking: np.ndarray
    field_source: np.ndarray
    field_direction: np.ndarray
    field_normal_cos: np.ndarray
    current_A: np.ndarray
    abs_current_A: np.ndarray
    n_solved_faces: np.ndarray
    current_density_A_m2: np.ndarray
    jump_V: np.ndarray
    drop_V: np.ndarray
    gb_field_V_m: np.ndarray
    j_band_a_A_m2: np.ndarray
    j_band_b_A_m2: np.ndarray
    j_contrast: np.ndarray
    drop_share: np.ndarray
    distance_negative_m: np.ndarray
    risk_score: np.ndarray
    face_lower_voxel: np.ndarray = field(metadata=_HIDDEN)
    face_axis: np.ndarray = field(metadata=_HIDDEN)
    face_segment_row: np.ndarray = field(metadata=_HIDDEN)

    def __len__(self) -> int:
        return len(self.grain_a)

    @property
    def subtype(self) -> np.ndarray:
        """"II b1" etc. ("not_classified" for grain|phase rows, "isotropic" between isotropic
        crystals, "" when undetermined)."""
        return np.array([t if t in (NOT_CLASSIFIED, ISOTROPIC) else (f"{t} {lt}{s}" if lt else "")
                         for t, lt, s in zip(self.gb_type, self.letter, self.suffix)],
                        dtype=object)

    def row(self, grain_a: int, grain_b: int, segment: int = WHOLE_GB) -> int:
        """Index of the row of the GB between two grains (either order)."""
        a, b = min(grain_a, grain_b), max(grain_a, grain_b)
        hit = np.flatnonzero((self.grain_a == a) & (self.grain_b == b) & (self.segment == segment))
        if len(hit) != 1:
            raise KeyError(f"no grain boundary G{a}/G{b} segment {segment} in the table")
        return int(hit[0])

    def write_csv(self, path: str | Path) -> Path:
        return write_csv(self, path)


@dataclass(frozen=True)
class GrainTable:
    """One row per grain present in the map. SI units, angles in degrees."""

    grain_id: np.ndarray
    n_voxels: np.ndarray
    size_m2_or_m3: np.ndarray
    centroid_m: np.ndarray
    c_axis: np.ndarray
    theta_deg: np.ndarray
    alpha_deg: np.ndarray
    mean_potential_V: np.ndarray
    mean_abs_j_A_m2: np.ndarray
    max_abs_j_A_m2: np.ndarray
    current_share: np.ndarray
    mean_abs_e_V_m: np.ndarray
    n_gb: np.ndarray
    n_blocking_gb: np.ndarray

    def __len__(self) -> int:
        return len(self.grain_id)

    def row(self, grain_id: int) -> int:
        hit = np.flatnonzero(self.grain_id == grain_id)
        if len(hit) != 1:
            raise KeyError(f"no grain G{grain_id} in the table")
        return int(hit[0])

    def write_csv(self, path: str | Path) -> Path:
        return write_csv(self, path)


@dataclass(frozen=True)
class Headline:
    """The answers of a GB table in a few names (whole GBs between two grains, e.g.
    ``"G11/G16"``): the blocking ones with their subtypes, most at risk first; the GB with the
    largest |GB field|; the ``top_k`` GBs by risk score (``docs/gb-classification.md``)."""

    n_gbs: int
    blocking: list[tuple[str, str]]
    max_field: tuple[str, float] | None  # (GB, |gb_field_V_m| in V/m); None without a solve
    top_risk: list[tuple[str, float]]


def headline(table: GBTable, top_k: int = 5) -> Headline:
    """:class:`Headline` of ``table``; risk ties keep the table order."""
    whole = np.flatnonzero((table.segment == WHOLE_GB) & (table.grain_b > 0))
    names = [f"G{a}/G{b}" for a, b in zip(table.grain_a[whole].tolist(),
                                          table.grain_b[whole].tolist())]
    score = table.risk_score[whole]
    order = np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")
    subtype, is_blocking = table.subtype[whole], table.blocking[whole]
    blocking = [(names[k], str(subtype[k])) for k in order if is_blocking[k]]
    field = np.abs(table.gb_field_V_m[whole])
    max_field = None
    if np.isfinite(field).any():
        k = int(np.nanargmax(field))
        max_field = (names[k], float(field[k]))
    top = [(names[k], float(score[k])) for k in order if np.isfinite(score[k])][:top_k]
    return Headline(len(whole), blocking, max_field, top)


def table_columns(table) -> dict[str, np.ndarray]:
    """The CSV columns of a table dataclass: vector columns split into ``name_x``, ``name_y``,
    ...; hidden fields left out (``GBTable`` adds ``subtype``)."""
    columns: dict[str, np.ndarray] = {}
    for f in dataclass_fields(table):
        if f.metadata.get("csv", True):
            value = np.asarray(getattr(table, f.name))
            if value.ndim == 2:
                columns.update({f"{f.name}_{AXES[d]}": value[:, d] for d in range(value.shape[1])})
            else:
                columns[f.name] = value
    if isinstance(table, GBTable):
        columns["subtype"] = table.subtype
    return columns


def read_csv_table(cls, path: str | Path, **hidden: np.ndarray):
    """Read a table written by :func:`write_csv` back into ``cls`` (GBTable, GrainTable);
    ``hidden``: the fields that are not CSV columns. Columns are typed by content: true/false
    -> bool, integers -> int64, numbers (and ``nan``) -> float, anything else text. A
    CaseError names the file and a missing column."""
    path = Path(path)
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"{path}: cannot read the table ({exc})") from None
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    if any(len(row) != len(header) for row in body):
        raise CaseError(f"{path}: rows of different lengths (a damaged table? run the case "
                        f"again)")
    columns = list(zip(*body)) if body else [()] * len(header)
    text = {name: np.array(column, dtype=str) for name, column in zip(header, columns)}
    values = {}
    for f in dataclass_fields(cls):
        if not f.metadata.get("csv", True):
            values[f.name] = hidden[f.name]
        elif f.name in text:
            values[f.name] = _typed(text[f.name])
        elif f"{f.name}_x" in text:
            parts = [text[f"{f.name}_{a}"] for a in AXES if f"{f.name}_{a}" in text]
            values[f.name] = np.stack([_typed(p) for p in parts], axis=1).astype(float)
        else:
            raise CaseError(f"{path}: missing column '{f.name}' (written by an older netsolve? "
                            f"run the case again)")
    return cls(**values)


def _typed(cells: np.ndarray) -> np.ndarray:
    """A text column as bool, int64, float or (anything else) object array."""
    if cells.size and np.isin(cells, ("true", "false")).all():
        return cells == "true"
    for dtype in (np.int64, float):
        try:
            return cells.astype(dtype)
        except ValueError:
            continue
    return cells.astype(object)


def write_csv(table, path: str | Path, extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write a table dataclass as CSV (:func:`table_columns`, plus ``extra``), atomically;
    floats with 10 significant digits, NaN as ``nan``."""
    columns = {**table_columns(table), **(extra or {})}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    cells = [[_cell(v) for v in col.tolist()] for col in columns.values()]
    writer.writerows(zip(*cells))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")  # same folder: atomic
    try:
        tmp.write_text(buffer.getvalue())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def require_orientations(case: Case, micro: Microstructure) -> None:
    """The classification needs every grain's c-axis: refuse grains without one."""
    missing = micro.unoriented_grain_ids
    if len(missing):
        raise CaseError(f"{case.label}: grain-boundary classification needs the orientation of "
                        f"every grain, but grain ids {missing[:10].tolist()}"
                        f"{' ...' if len(missing) > 10 else ''} have none (allowed by the "
                        f"isotropic model); add a [[grains]] entry for each")


def gb_table(case: Case, micro: Microstructure, graph, fields=None,
             electrode_potentials: np.ndarray | None = None, direction_fields=None,
             unoriented: str = "refuse", geometry: GBGeometry | None = None) -> GBTable:
    """Classify every GB (and segment) and, given solved ``fields``, compute its metrics.

    graph: the grain graph (:func:`netsolve.graph.build_grain_graph`); fields: solved voxel
    fields (None: classification only, metric columns NaN); electrode_potentials: V per case
    electrode (for the drop share and the negative electrode); direction_fields: the fields
    whose local E gives the field direction (default: ``fields`` when
    ``[analysis] field = "solved"``, else the applied field, :mod:`.applied`);
    unoriented: "refuse" grains without an orientation (CaseError), or report the GBs of such
    grains as "undetermined" (no type, not blocking; geometry and metrics kept), as the result
    directory does; geometry: :func:`.geometry.gb_geometry` of the same microstructure, graph
    and geometry options (built here when None).
    """
    if unoriented == "refuse":
        require_orientations(case, micro)
    if geometry is None:
        geometry = gb_geometry(case, micro, graph)
    g = geometry
    options = case.analysis
    grid = case.grid
    h, ndim = grid.voxel_size_m, grid.ndim
    face, group, n_rows = g.member_face, g.member_row, g.n_rows

    if direction_fields is None:
        if fields is not None and options.field == "solved":
            direction_fields, source = fields, "solved"
        else:
            from .applied import applied_fields

            direction_fields, source = applied_fields(case, micro), "applied"
    else:
        source = "applied" if direction_fields is not fields else "solved"
    e_row = local_field(direction_fields.electric_field, g.faces.gb_lower_voxel[face],
                        g.face_upper_voxel[face], group, n_rows)

    rows_a, rows_b = g.row_grain_a, g.row_grain_b
    orient = micro.orientations
    drift = drift_tensors(orient.c_axis, case.materials.ratio_ip_op, ndim)
    cls = classify(orient.c_axis[rows_a], orient.c_axis[rows_b], g.row_normal, e_row,
                   drift[rows_a], drift[rows_b], options.type_tolerance_deg,
                   options.across_angle_deg)
    if len(micro.unoriented_grain_ids):
        cls = _without_unoriented(cls, micro, rows_a, rows_b)
    if not micro.uniaxial:
        cls = _isotropic(cls)

    metrics = _metrics(case, micro, fields, electrode_potentials, g, cls.blocking)
    ids = orient.grain_ids
    counts = g.row_n_faces
    columns = dict(
        grain_a=ids[rows_a], grain_b=ids[rows_b], other_phase=np.full(n_rows, "grain", object),
        segment=g.row_segment, n_faces=counts,
        length_m=counts * h if ndim == 2 else np.full(n_rows, np.nan),
        area_m2=counts * grid.face_area_m2, centroid_m=g.row_centroid_m, normal=g.row_normal,
        misorientation_deg=g.row_misorientation_deg,
        path_misorientation_deg=g.row_path_misorientation_deg, psi_deg=cls.psi_deg,
        gb_type=cls.gb_type, letter=cls.letter, suffix=cls.suffix, behaviour=cls.behaviour,
        blocking=cls.blocking, field_source=np.full(n_rows, source, object),
        field_direction=unit(e_row), field_normal_cos=cls.field_normal_cos, **metrics)
    columns = _append(columns, _interface_rows(g.interface, ndim))
    return GBTable(**columns, face_lower_voxel=g.faces.gb_lower_voxel,
                   face_axis=g.faces.gb_axis, face_segment_row=g.face_segment_row)


def _isotropic(cls):
    """The classification of GBs between isotropic (cubic) crystals: type "isotropic", no
    letter or suffix, behaviour "none" (a GB resistor, nothing the crystal planes decide)."""
    from dataclasses import replace

    from .classify import NONE

    n = len(cls.psi_deg)
    return replace(cls, psi_deg=np.full(n, np.nan), gb_type=np.full(n, ISOTROPIC, object),
                   letter=np.full(n, "", object), suffix=np.zeros(n, np.int8),
                   behaviour=np.full(n, NONE, object), blocking=np.zeros(n, bool))


def _without_unoriented(cls, micro: Microstructure, rows_a, rows_b):
    """The classification with every row touching a grain without orientation undetermined."""
    from dataclasses import replace

    from .classify import UNDETERMINED

    placeholder = np.isin(micro.orientations.grain_ids, micro.unoriented_grain_ids)
    bad = placeholder[rows_a] | placeholder[rows_b]
    return replace(cls, psi_deg=np.where(bad, np.nan, cls.psi_deg),
                   gb_type=np.where(bad, "", cls.gb_type).astype(object),
                   letter=np.where(bad, "", cls.letter).astype(object),
                   suffix=np.where(bad, 0, cls.suffix).astype(np.int8),
                   behaviour=np.where(bad, UNDETERMINED, cls.behaviour).astype(object),
                   blocking=cls.blocking & ~bad)


METRIC_COLUMNS = ("current_A", "abs_current_A", "n_solved_faces", "current_density_A_m2",
                  "jump_V", "drop_V", "gb_field_V_m",
                  "j_band_a_A_m2", "j_band_b_A_m2", "j_contrast", "drop_share",
                  "distance_negative_m", "risk_score")


def _metrics(case, micro, fields, electrode_potentials, geometry: GBGeometry,
             blocking) -> dict[str, np.ndarray]:
    """The metric columns (all NaN without solved fields)."""
    g = geometry
    faces, face, group, n_rows = g.faces, g.member_face, g.member_row, g.n_rows
    if fields is None:
        return {name: np.full(n_rows, np.nan) for name in METRIC_COLUMNS}
    grid = case.grid
    n_vox = int(np.prod(grid.shape))
    sign = faces.gb_sign.astype(float)
    # Faces of the field contract, matched by (axis, lower voxel); unsolved faces stay NaN.
    key = faces.gb_axis.astype(np.int64) * n_vox + faces.gb_lower_voxel
    solved_key = fields.gb_face_axis.astype(np.int64) * n_vox + fields.gb_face_voxels[:, 0]
    where = np.minimum(np.searchsorted(solved_key, key), max(len(solved_key) - 1, 0))
    found = (solved_key[where] == key) if len(solved_key) else np.zeros(len(key), bool)
    current = np.where(found, fields.gb_face_current[where] if len(solved_key) else 0, np.nan)
    jump = np.where(found, fields.gb_face_jump[where] if len(solved_key) else 0, np.nan)
    current_ab, jump_ab = (current * sign)[face], (jump * sign)[face]

    total_current, n_solved = group_sum(current_ab, group, n_rows)
    abs_current = group_sum(np.abs(current_ab), group, n_rows)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        current_A = np.where(n_solved > 0, total_current, np.nan)
        density = current_A / (n_solved * grid.face_area_m2)
    jump_V = group_mean(jump_ab, group, n_rows)
    potential = fields.potential.ravel()
    drop_V = group_mean((potential[g.voxel_a] - potential[g.voxel_b])[face], group, n_rows)
    t_gb = case.materials.gb_thickness_m
    gb_field = jump_V / t_gb if t_gb > 0 else np.full(n_rows, np.nan)

    j_mag = np.linalg.norm(fields.current_density, axis=-1)
    j_a = band_mean(j_mag, g.band_a, face, group, n_rows)
    j_b = band_mean(j_mag, g.band_b, face, group, n_rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        contrast = np.maximum(j_a, j_b) / np.minimum(j_a, j_b)

    potentials = np.asarray(electrode_potentials, float)
    spread = float(potentials.max() - potentials.min())
    drop_share = np.abs(jump_V) / spread if spread > 0 else np.full(n_rows, np.nan)
    names = [e.name for e in case.electrodes]
    options = case.analysis
    negative = (names.index(options.negative_electrode) if options.negative_electrode
                else int(np.argmin(potentials)))
    face_distance = electrode_distance(case, micro, negative, g.face_centre_m,
                                       (g.voxel_a, g.voxel_b))
    distance = np.full(n_rows, np.inf)
    np.minimum.at(distance, group, face_distance[face])
    diagonal = float(np.linalg.norm(grid.extent_m))
    risk = np.empty(n_rows)
    for whole in (True, False):  # ranks among whole GBs, and among segments
        rows = (g.row_segment == WHOLE_GB) == whole
        risk[rows] = risk_score(blocking[rows], gb_field[rows], contrast[rows], distance[rows],
                                diagonal)
    return dict(current_A=current_A, abs_current_A=np.where(n_solved > 0, abs_current, np.nan),
                n_solved_faces=n_solved, current_density_A_m2=density, jump_V=jump_V,
                drop_V=drop_V,
                gb_field_V_m=gb_field, j_band_a_A_m2=j_a, j_band_b_A_m2=j_b, j_contrast=contrast,
                drop_share=drop_share, distance_negative_m=distance, risk_score=risk)


def _interface_rows(interface: dict[str, np.ndarray], ndim: int) -> dict[str, np.ndarray]:
    """Grain|phase interfaces (:attr:`GBGeometry.interface`): geometry only, reported as not
    classified."""
    n = len(interface["grain_a"])
    nan = np.full(n, np.nan)
    out = dict(interface, misorientation_deg=nan, path_misorientation_deg=nan, psi_deg=nan,
               gb_type=np.full(n, NOT_CLASSIFIED, object), letter=np.full(n, "", object),
               suffix=np.zeros(n, np.int8), behaviour=np.full(n, NOT_CLASSIFIED, object),
               blocking=np.zeros(n, bool), field_source=np.full(n, "", object),
               field_direction=np.full((n, ndim), np.nan), field_normal_cos=nan)
    out.update({name: nan for name in METRIC_COLUMNS})
    return out


def _append(first: dict, second: dict) -> dict:
    return {k: np.concatenate([np.asarray(first[k]), np.asarray(second[k])]) for k in first}


def grain_table(case: Case, micro: Microstructure, graph, fields,
                gb: GBTable | None = None) -> GrainTable:
    """Per-grain metrics from solved fields: mean and max |J| (A/m^2), current share (the
    grain's sum of |J| over the sum over all conducting voxels), mean |E| (V/m); GB counts
    from ``gb`` (whole-GB rows) when given."""
    grid = case.grid
    ids = np.array(sorted(graph.nodes), np.int64)
    rows = np.searchsorted(micro.orientations.grain_ids, ids)
    n_rows = len(micro.orientations)
    gi = micro.grain_index.ravel()
    inside = gi >= 0
    j = np.linalg.norm(fields.current_density, axis=-1).ravel()
    e = np.linalg.norm(fields.electric_field, axis=-1).ravel()
    mean_j = group_mean(j[inside], gi[inside], n_rows)[rows]
    max_j = np.full(n_rows, -np.inf)
    finite = inside & np.isfinite(j)
    np.maximum.at(max_j, gi[finite], j[finite])
    max_j = np.where(np.isfinite(max_j), max_j, np.nan)[rows]
    sum_j = group_sum(j[inside], gi[inside], n_rows)[0][rows]
    total_j = float(np.nansum(j))
    mean_e = group_mean(e[inside], gi[inside], n_rows)[rows]
    mean_potential = group_mean(fields.potential.ravel()[inside], gi[inside], n_rows)[rows]
    nodes = [graph.nodes[int(g)] for g in ids]  # table-sized loop over grains
    size_key = "area_m2" if grid.ndim == 2 else "volume_m3"
    n_gb = np.zeros(len(ids), np.int64)
    n_blocking = np.zeros(len(ids), np.int64)
    if gb is not None:
        whole = (gb.segment == WHOLE_GB) & (gb.grain_b > 0)
        for column in (gb.grain_a[whole], gb.grain_b[whole]):
            position = np.searchsorted(ids, column)
            np.add.at(n_gb, position, 1)
            np.add.at(n_blocking, position, gb.blocking[whole].astype(np.int64))
    return GrainTable(
        grain_id=ids, n_voxels=np.array([d["n_voxels"] for d in nodes], np.int64),
        size_m2_or_m3=np.array([d[size_key] for d in nodes], float),
        centroid_m=np.array([d["centroid_m"] for d in nodes], float).reshape(len(ids), -1),
        c_axis=np.array([d["c_axis"] for d in nodes], float).reshape(len(ids), 3),
        theta_deg=np.array([d["theta_deg"] for d in nodes], float),
        alpha_deg=np.array([d["alpha_deg"] for d in nodes], float),
        mean_potential_V=mean_potential, mean_abs_j_A_m2=mean_j, max_abs_j_A_m2=max_j,
        current_share=sum_j / total_j if total_j > 0 else np.full(len(ids), np.nan),
        mean_abs_e_V_m=mean_e, n_gb=n_gb, n_blocking_gb=n_blocking)

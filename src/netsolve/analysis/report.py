"""Per-GB (and per-segment) and per-grain tables: classification + metrics (CSV output:
:mod:`.table_csv`).

See ``docs/gb-classification.md`` for every column, sign convention and formula.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..case import Case
from ..errors import CaseError
from ..microstructure import Microstructure, Phase
from .classify import (ISOTROPIC, NOT_CLASSIFIED, classify, drift_tensors, isotropic_conduction,
                       unit, without_plane_rules)
from .explain import reasons
from .geometry import WHOLE_GB, GBGeometry, gb_geometry
from .metrics import (band_mean, electrode_distance, group_mean, group_sum, local_field,
                      risk_score)
from .table_csv import read_csv_table, table_columns, write_csv  # noqa: F401 (re-exported)

_HIDDEN = {"csv": False}  # dataclass fields that are not CSV columns


@dataclass(frozen=True)
class GBTable:
    """One row per grain boundary (``segment`` = -1), per straight segment of it (``segment``
    = 0, 1, ...) and per grain|phase interface (``grain_b`` = -1, ``other_phase`` the phase,
    not classified). Vector columns are (n, ndim). SI units, angles in degrees.

    ``blocking``: a blocking subtype (II b1, III a2) that carries more than negligible current
    (``negligible_current``: band |J| below ``[analysis] negligible_current_rel`` of the
    grains' median |J|; such rows are not ranked, ``risk_score`` NaN); never at isotropic
    conduction. ``applied_subtype``: the subtype under the applied field ("" when not
    computed); ``reason``: why, in words and numbers (:mod:`.explain`).

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
    c_normal_angle_a_deg: np.ndarray
    c_normal_angle_b_deg: np.ndarray
    gb_type: np.ndarray
    letter: np.ndarray
    suffix: np.ndarray
    behaviour: np.ndarray
    blocking: np.ndarray
    negligible_current: np.ndarray
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
    applied_subtype: np.ndarray
    reason: np.ndarray
    face_lower_voxel: np.ndarray = field(metadata=_HIDDEN)
    face_axis: np.ndarray = field(metadata=_HIDDEN)
    face_segment_row: np.ndarray = field(metadata=_HIDDEN)

    def __len__(self) -> int:
        return len(self.grain_a)

    @property
    def subtype(self) -> np.ndarray:
        """"II b1" etc. ("not_classified" for grain|phase rows, "isotropic" between isotropic
        crystals, "" when undetermined)."""
        return subtypes(self.gb_type, self.letter, self.suffix)

    @property
    def whole_gbs(self) -> np.ndarray:
        """Mask of the rows of whole GBs between two grains (not segments, not grain|phase
        interfaces): what ``netsolve run`` counts and lists."""
        return (self.segment == WHOLE_GB) & (self.grain_b > 0)

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
             unoriented: str = "refuse", geometry: GBGeometry | None = None,
             applied_fields=None, explained: bool = True) -> GBTable:
    """Classify every GB (and segment) and, given solved ``fields``, compute its metrics.

    graph: the grain graph (:func:`netsolve.graph.build_grain_graph`); fields: solved voxel
    fields (None: classification only, metric columns NaN); electrode_potentials: V per case
    electrode (for the drop share and the negative electrode); direction_fields: the fields
    whose local E gives the field direction (default: ``fields`` when
    ``[analysis] field = "solved"``, else the applied field, :mod:`.applied`);
    unoriented: "refuse" grains without an orientation (CaseError), or report the GBs of such
    grains as "undetermined" (no type, not blocking; geometry and metrics kept), as the result
    directory does; geometry: :func:`.geometry.gb_geometry` of the same microstructure, graph
    and geometry options (built here when None); applied_fields: the applied field
    (:func:`.applied.applied_fields`) for the ``applied_subtype`` column of a table classified
    under the solved field (None: that column is "", unless the table itself uses the applied
    field); explained: False leaves the ``reason`` of the GB rows "" (for a sweep row, which
    reads the headline only, :func:`.headline.headline`; never for a table that is written).
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
    cls = _classification(case, micro, g, e_row)
    if source == "applied":
        applied_subtype = subtypes(cls.gb_type, cls.letter, cls.suffix)
    elif applied_fields is not None:
        e_applied = local_field(applied_fields.electric_field, g.faces.gb_lower_voxel[face],
                                g.face_upper_voxel[face], group, n_rows)
        applied = _classification(case, micro, g, e_applied)
        applied_subtype = subtypes(applied.gb_type, applied.letter, applied.suffix)
    else:
        applied_subtype = np.full(n_rows, "", object)

    metrics, idle, median_j = _metrics(case, micro, fields, electrode_potentials, g,
                                       cls.blocking)
    rows_a, rows_b = g.row_grain_a, g.row_grain_b
    ids = micro.orientations.grain_ids
    reason = (reasons(cls, ids[rows_a], ids[rows_b], options, source,
                      isotropic_conduction(case.materials), idle,
                      np.fmax(metrics["j_band_a_A_m2"], metrics["j_band_b_A_m2"]), median_j)
              if explained else np.full(n_rows, "", object))
    counts = g.row_n_faces
    columns = dict(
        grain_a=ids[rows_a], grain_b=ids[rows_b], other_phase=np.full(n_rows, "grain", object),
        segment=g.row_segment, n_faces=counts,
        length_m=counts * h if ndim == 2 else np.full(n_rows, np.nan),
        area_m2=counts * grid.face_area_m2, centroid_m=g.row_centroid_m, normal=g.row_normal,
        misorientation_deg=g.row_misorientation_deg,
        path_misorientation_deg=g.row_path_misorientation_deg, psi_deg=cls.psi_deg,
        c_normal_angle_a_deg=cls.c_normal_deg_a, c_normal_angle_b_deg=cls.c_normal_deg_b,
        gb_type=cls.gb_type, letter=cls.letter, suffix=cls.suffix, behaviour=cls.behaviour,
        blocking=cls.blocking & ~idle, negligible_current=idle,
        field_source=np.full(n_rows, source, object),
        field_direction=unit(e_row), field_normal_cos=cls.field_normal_cos, **metrics,
        applied_subtype=applied_subtype, reason=reason)
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


def _classification(case: Case, micro: Microstructure, g: GBGeometry, field: np.ndarray):
    """The classification of every GB and segment row of ``g`` under the field direction
    ``field`` (n_rows, ndim): the rules, then grains without orientation (undetermined) and
    isotropic conduction (no plane rules)."""
    rows_a, rows_b = g.row_grain_a, g.row_grain_b
    orient = micro.orientations
    drift = drift_tensors(orient.c_axis, case.materials.ratio_ip_op, case.grid.ndim)
    options = case.analysis
    cls = classify(orient.c_axis[rows_a], orient.c_axis[rows_b], g.row_normal, field,
                   drift[rows_a], drift[rows_b], options.type_tolerance_deg,
                   options.across_angle_deg)
    if len(micro.unoriented_grain_ids):
        cls = _without_unoriented(cls, micro, rows_a, rows_b)
    if not micro.uniaxial:
        cls = _isotropic(cls)
    elif isotropic_conduction(case.materials) is not None:
        cls = without_plane_rules(cls)
    return cls


def subtypes(gb_type, letter, suffix) -> np.ndarray:
    """"II b1" etc. per row ("not_classified" for grain|phase rows, "isotropic" between
    isotropic crystals, "" when undetermined)."""
    gb_type, letter = np.asarray(gb_type).astype(object), np.asarray(letter).astype(object)
    suffix = np.array([format(s) for s in np.asarray(suffix).tolist()], dtype=object)
    named = (gb_type == NOT_CLASSIFIED) | (gb_type == ISOTROPIC)
    return np.where(named, gb_type,
                    np.where(letter != "", gb_type + " " + letter + suffix, "")).astype(object)


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
                   blocking=cls.blocking & ~bad,
                   c_normal_deg_a=np.where(placeholder[rows_a], np.nan, cls.c_normal_deg_a),
                   c_normal_deg_b=np.where(placeholder[rows_b], np.nan, cls.c_normal_deg_b))


METRIC_COLUMNS = ("current_A", "abs_current_A", "n_solved_faces", "current_density_A_m2",
                  "jump_V", "drop_V", "gb_field_V_m",
                  "j_band_a_A_m2", "j_band_b_A_m2", "j_contrast", "drop_share",
                  "distance_negative_m", "risk_score")


def _metrics(case, micro, fields, electrode_potentials, geometry: GBGeometry,
             blocking) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """The metric columns (all NaN without solved fields), the negligible-current flag per row
    (False without solved fields) and the median |J| of the grain voxels (A/m^2)."""
    g = geometry
    faces, face, group, n_rows = g.faces, g.member_face, g.member_row, g.n_rows
    if fields is None:
        return ({name: np.full(n_rows, np.nan) for name in METRIC_COLUMNS},
                np.zeros(n_rows, bool), float("nan"))
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
    # Idle GBs (no solved face, or both bands far below the grains' typical |J|) are still
    # classified, but neither blocking nor ranked: their contrast is a ratio of tiny numbers.
    grain_j = j_mag[(micro.phase == Phase.GRAIN) & np.isfinite(j_mag)]
    median_j = float(np.median(grain_j)) if grain_j.size else float("nan")
    idle = (n_solved == 0) | (np.fmax(j_a, j_b)
                              < case.analysis.negligible_current_rel * median_j)

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
    risk = np.full(n_rows, np.nan)
    for whole in (True, False):  # ranks among whole GBs, and among segments
        rows = ((g.row_segment == WHOLE_GB) == whole) & ~idle
        risk[rows] = risk_score(blocking[rows], gb_field[rows], contrast[rows], distance[rows],
                                diagonal)
    columns = dict(current_A=current_A,
                   abs_current_A=np.where(n_solved > 0, abs_current, np.nan),
                   n_solved_faces=n_solved, current_density_A_m2=density, jump_V=jump_V,
                   drop_V=drop_V, gb_field_V_m=gb_field, j_band_a_A_m2=j_a, j_band_b_A_m2=j_b,
                   j_contrast=contrast, drop_share=drop_share, distance_negative_m=distance,
                   risk_score=risk)
    return columns, idle, median_j


def _interface_rows(interface: dict[str, np.ndarray], ndim: int) -> dict[str, np.ndarray]:
    """Grain|phase interfaces (:attr:`GBGeometry.interface`): geometry only, reported as not
    classified."""
    n = len(interface["grain_a"])
    nan = np.full(n, np.nan)
    out = dict(interface, misorientation_deg=nan, path_misorientation_deg=nan, psi_deg=nan,
               c_normal_angle_a_deg=nan, c_normal_angle_b_deg=nan,
               gb_type=np.full(n, NOT_CLASSIFIED, object), letter=np.full(n, "", object),
               suffix=np.zeros(n, np.int8), behaviour=np.full(n, NOT_CLASSIFIED, object),
               blocking=np.zeros(n, bool), negligible_current=np.zeros(n, bool),
               field_source=np.full(n, "", object),
               field_direction=np.full((n, ndim), np.nan), field_normal_cos=nan)
    out.update({name: nan for name in METRIC_COLUMNS})
    out.update(applied_subtype=np.full(n, NOT_CLASSIFIED, object),
               reason=np.array([f"grain|{p} interface: reported, not classified (no "
                                f"orientation on the {p} side)" for p in interface["other_phase"]],
                               dtype=object))
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

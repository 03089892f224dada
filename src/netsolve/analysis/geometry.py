"""The field-free part of the grain-boundary analysis (:class:`GBGeometry`): the GB voxel faces
grouped per GB and per straight segment, their centres and normals, the voxels on both sides,
the band voxels walked into each grain, the misorientations from the grain graph and the
grain|phase interface rows.

It depends on the microstructure, its grain graph and three analysis options
(``segment_angle_deg``, ``segment_smoothing_nm``, ``band_width_nm``) only, never on a solved
field: :func:`netsolve.analysis.gb_table` adds the classification and the metrics of a solved
point to it, and a parameter sweep builds it once per microstructure
(:mod:`netsolve.sweep.engine`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..case import Case
from ..graph import BoundaryFaces, boundary_faces
from ..microstructure import Microstructure, Phase
from .classify import unit
from .metrics import band_voxels, face_geometry, face_voxels, mean_vector
from .segments import split_segments

WHOLE_GB = -1  # the ``segment`` value of a row describing a whole boundary

# The analysis options (keys of [analysis]) the geometry depends on; the others only change
# the field step.
GEOMETRY_OPTIONS = ("segment_angle_deg", "segment_smoothing_nm", "band_width_nm")
# Default simplification tolerance of the traced GBs (voxels): above the sqrt(2) voxels a
# digital straight line deviates from its chord, below a real corner's few voxels.
SEGMENT_TOLERANCE_VOX = 1.5


@dataclass(frozen=True)
class GBGeometry:
    """The geometry of the GB table's rows: first one row per GB (``row_segment`` = -1), then
    one per straight segment of a GB (2D; in 3D a GB is its one segment). Every GB face
    belongs to two rows (its GB's and its segment's): the memberships ``member_face`` (index
    into the faces) and ``member_row``. Lengths in m.

    faces: the GB and grain|phase voxel faces; per face (sorted like ``faces.gb_*``):
    ``face_centre_m`` (n, ndim), ``face_normal`` (unit, from grain a to grain b), the flat
    voxels ``face_upper_voxel`` (the + neighbour of ``faces.gb_lower_voxel``), ``voxel_a`` and
    ``voxel_b`` (in grain a and b), ``face_segment_row``; per row: ``row_edge`` (the GB, an
    index into ``faces.edge_rows``), ``row_segment``, ``row_n_faces``, ``row_centroid_m``,
    ``row_normal``, ``row_grain_a`` / ``row_grain_b`` (rows of the orientation table),
    ``row_misorientation_deg``, ``row_path_misorientation_deg``; ``band_a`` / ``band_b``
    (n_layers, n_faces): the flat voxels of the band walked from each face into grain a / b,
    layer by layer, -1 where the band has left the grain or the grid.
    ``interface``: the geometry columns of the grain|phase interface rows.
    """

    faces: BoundaryFaces
    face_centre_m: np.ndarray
    face_normal: np.ndarray
    face_upper_voxel: np.ndarray
    voxel_a: np.ndarray
    voxel_b: np.ndarray
    face_segment_row: np.ndarray
    member_face: np.ndarray
    member_row: np.ndarray
    row_edge: np.ndarray
    row_segment: np.ndarray
    row_n_faces: np.ndarray
    row_centroid_m: np.ndarray
    row_normal: np.ndarray
    row_grain_a: np.ndarray
    row_grain_b: np.ndarray
    row_misorientation_deg: np.ndarray
    row_path_misorientation_deg: np.ndarray
    band_a: np.ndarray
    band_b: np.ndarray
    interface: dict[str, np.ndarray]

    @property
    def n_rows(self) -> int:
        return len(self.row_edge)


def gb_geometry(case: Case, micro: Microstructure, graph) -> GBGeometry:
    """The geometry of every GB, segment and grain|phase interface of ``micro`` (``graph``:
    its grain graph, :func:`netsolve.graph.build_grain_graph`), with the analysis options of
    ``case`` (:data:`GEOMETRY_OPTIONS`)."""
    options = case.analysis
    grid = case.grid
    h, ndim, shape = grid.voxel_size_m, grid.ndim, grid.shape
    faces = boundary_faces(micro)
    n_edges, n_gb_faces = len(faces.edge_rows), len(faces.gb_edge)
    centre, normal = face_geometry(faces.gb_lower_voxel, faces.gb_axis, faces.gb_sign, shape, h)
    if ndim == 2:
        tolerance = (options.segment_smoothing_m or SEGMENT_TOLERANCE_VOX * h) / h
        segment, segment_edge, segment_index = split_segments(
            faces.gb_lower_voxel, faces.gb_axis, faces.gb_edge, shape, tolerance,
            options.segment_angle_deg)
    else:  # 3D boundaries are surfaces: one segment per GB (not split)
        segment, segment_edge = faces.gb_edge, np.arange(n_edges)
        segment_index = np.zeros(n_edges, np.int64)
    n_rows = n_edges + len(segment_edge)
    # Every face twice: once in its GB's row, once in its segment's row.
    face = np.concatenate([np.arange(n_gb_faces)] * 2)
    group = np.concatenate([faces.gb_edge, n_edges + segment])
    row_edge = np.concatenate([np.arange(n_edges), segment_edge])

    lower = faces.gb_lower_voxel
    upper = face_voxels(lower, faces.gb_axis, shape)
    a_is_lower = faces.gb_sign > 0
    voxel_a, voxel_b = np.where(a_is_lower, lower, upper), np.where(a_is_lower, upper, lower)

    ids = micro.orientations.grain_ids
    edge_attrs = [graph.edges[int(ids[a]), int(ids[b])] for a, b in faces.edge_rows]  # per GB
    misorientation = np.array([d["misorientation_deg"] for d in edge_attrs], float)
    path = np.array([d["path_misorientation_deg"] for d in edge_attrs], float)

    n_layers = max(1, int(round((options.band_width_m or 3 * h) / h)))
    step_a = np.where(faces.gb_sign > 0, -1, 1)  # away from the face, into grain a
    grain_of_voxel = micro.grain_index.ravel()
    bands = [band_voxels(micro.grain_index, voxel, faces.gb_axis, step, grain_of_voxel[voxel],
                         n_layers) for voxel, step in ((voxel_a, step_a), (voxel_b, -step_a))]

    return GBGeometry(
        faces=faces, face_centre_m=centre, face_normal=normal, face_upper_voxel=upper,
        voxel_a=voxel_a, voxel_b=voxel_b, face_segment_row=n_edges + segment,
        member_face=face, member_row=group, row_edge=row_edge,
        row_segment=np.concatenate([np.full(n_edges, WHOLE_GB), segment_index]),
        row_n_faces=np.bincount(group, minlength=n_rows),
        row_centroid_m=mean_vector(centre[face], group, n_rows),
        row_normal=unit(mean_vector(normal[face], group, n_rows)),
        row_grain_a=faces.edge_rows[row_edge, 0], row_grain_b=faces.edge_rows[row_edge, 1],
        row_misorientation_deg=misorientation[row_edge],
        row_path_misorientation_deg=path[row_edge], band_a=bands[0], band_b=bands[1],
        interface=_interface_geometry(micro, faces, h, grid.face_area_m2))


def _interface_geometry(micro: Microstructure, faces: BoundaryFaces, h: float,
                        face_area: float) -> dict[str, np.ndarray]:
    """Grain|phase interfaces, one row per (grain, phase): the GB-table geometry columns."""
    shape = micro.grid.shape
    key = faces.interface_grain_row * len(Phase) + faces.interface_phase
    pairs, group = np.unique(key, return_inverse=True)
    group = group.ravel()
    n = len(pairs)
    centre, normal = face_geometry(faces.interface_lower_voxel, faces.interface_axis,
                                   faces.interface_sign, shape, h)
    counts = np.bincount(group, minlength=n)
    names = np.array([p.name.lower() for p in Phase], dtype=object)
    return dict(grain_a=micro.orientations.grain_ids[pairs // len(Phase)],
                grain_b=np.full(n, -1), other_phase=names[pairs % len(Phase)],
                segment=np.full(n, WHOLE_GB), n_faces=counts,
                length_m=counts * h if len(shape) == 2 else np.full(n, np.nan),
                area_m2=counts * face_area, centroid_m=mean_vector(centre, group, n),
                normal=unit(mean_vector(normal, group, n)))

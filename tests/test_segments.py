"""Straight GB segments (docs/gb-classification.md, "Straight segments"): a straight GB at any
angle is one segment, whatever its voxel staircase; a real corner cuts it; a voxel of a third
grain pinching a GB does not; every straight edge of a Voronoi map is one segment."""

from __future__ import annotations

import math

import numpy as np
import pytest

import netsolve
from netsolve.analysis import gb_geometry
from netsolve.graph import build_grain_graph
from netsolve.microstructure import build_microstructure

from conftest import base_case, with_labels


def _geometry(labels, tmp_path, **analysis):
    ids = np.unique(labels[labels > 0])
    grains = [{"id": int(g), "c_axis": [0.0, 0.0, 1.0]} for g in ids]
    data = with_labels(base_case(labels.shape, model="tensor"), labels, tmp_path, grains=grains)
    if analysis:
        data["analysis"] = analysis
    case = netsolve.case_from_dict(data, base_dir=tmp_path)
    micro = build_microstructure(case)
    return micro, gb_geometry(case, micro, build_grain_graph(micro))


def _segments(micro, geometry, a=1, b=2):
    """(n_faces, unit normal) of the segment rows of the GB between grains a and b."""
    ids = micro.orientations.grain_ids
    rows = np.flatnonzero((ids[geometry.row_grain_a] == a) & (ids[geometry.row_grain_b] == b)
                          & (geometry.row_segment >= 0))
    return geometry.row_n_faces[rows], geometry.row_normal[rows]


def _half_planes(shape, angle_deg, offset=0.37):
    """Grain 1 below, grain 2 above the line through the grid centre at angle_deg to x."""
    i, j = np.indices(shape) + 0.5
    t = math.radians(angle_deg)
    side = -(i - shape[0] / 2) * math.sin(t) + (j - shape[1] / 2) * math.cos(t)
    return np.where(side > offset, 2, 1).astype(np.int32)


@pytest.mark.parametrize("angle", [0.0, 7.0, 26.57, 30.0, 45.0, 60.0, 83.0, 90.0, 120.0,
                                   150.0, 172.0])
def test_straight_gb_is_one_segment_at_any_angle(tmp_path, angle):
    micro, geometry = _geometry(_half_planes((64, 48), angle), tmp_path)
    n_faces, normal = _segments(micro, geometry)
    assert len(n_faces) == 1
    # Its one segment holds every face of the GB, and its normal is the line's normal.
    assert n_faces[0] == geometry.row_n_faces[geometry.row_segment == -1][0]
    expected = [-math.sin(math.radians(angle)), math.cos(math.radians(angle))]
    assert float(np.dot(normal[0, :2], expected)) > math.cos(math.radians(5.0))


def test_l_shaped_gb_is_two_segments_at_the_corner(tmp_path):
    labels = np.ones((40, 32), np.int32)
    labels[20:, 16:] = 2  # legs x = 20 (y in 16..31, 16 faces) and y = 16 (x in 20..39, 20)
    micro, geometry = _geometry(labels, tmp_path)
    n_faces, normal = _segments(micro, geometry)
    assert sorted(zip(n_faces.tolist(), np.round(normal[:, :2], 12).tolist())) == [
        (16, [1.0, 0.0]), (20, [0.0, 1.0])]


def test_a_slanted_l_is_cut_at_its_corner_only(tmp_path):
    """Two staircase legs (30 and 120 degrees): two segments, every face on the leg it lies on."""
    i, j = np.indices((80, 80)) + 0.5
    t1, t2 = math.radians(30.0), math.radians(120.0)
    centre = np.array([40.0, 40.0])
    side1 = -(i - centre[0]) * math.sin(t1) + (j - centre[1]) * math.cos(t1)
    side2 = -(i - centre[0]) * math.sin(t2) + (j - centre[1]) * math.cos(t2)
    labels = np.where((side1 > 0) & (side2 < 0), 2, 1).astype(np.int32)
    micro, geometry = _geometry(labels, tmp_path)
    n_faces, normal = _segments(micro, geometry)
    assert len(n_faces) == 2
    angles = sorted(np.degrees(np.arctan2(normal[:, 1], normal[:, 0])) % 360)
    assert angles == pytest.approx([30.0, 120.0], abs=4.0)


def test_a_gentle_bend_splits_only_when_it_exceeds_the_split_angle(tmp_path):
    """A 20 degree bend (like G6/G10 of the ding2023 lamella) is one segment at the default
    split angle (30) and two at 15."""
    i, j = np.indices((60, 90)) + 0.5
    t = np.where(j < 45, math.radians(80.0), math.radians(100.0))  # bend at y = 45
    side = -(i - 30.0) * np.sin(t) + (j - 45.0) * np.cos(t)
    labels = np.where(side > 0.3, 2, 1).astype(np.int32)
    micro, geometry = _geometry(labels, tmp_path)
    assert len(_segments(micro, geometry)[0]) == 1
    micro, geometry = _geometry(labels, tmp_path, segment_angle_deg=15.0)
    assert len(_segments(micro, geometry)[0]) == 2


def test_a_voxel_pinch_does_not_split_a_straight_gb(tmp_path):
    labels = _half_planes((64, 48), 30.0)
    line = np.argwhere(labels[:, :-1] != labels[:, 1:])[20]  # a voxel next to the GB
    labels[line[0], line[1]] = 3
    labels[line[0], line[1] + 1] = 3
    micro, geometry = _geometry(labels, tmp_path)
    assert len(_segments(micro, geometry)[0]) == 1


def test_every_voronoi_gb_is_one_segment():
    """A Voronoi map's GBs are straight edges (the cells are convex): one segment each."""
    data = base_case((300, 300))
    data["microstructure"] = {"source": "voronoi", "n_grains": 60, "seed": 3}
    case = netsolve.case_from_dict(data)
    micro = build_microstructure(case)
    geometry = gb_geometry(case, micro, build_grain_graph(micro))
    segments = np.bincount(geometry.row_edge[geometry.row_segment >= 0])
    assert len(segments) > 100 and (segments == 1).all()

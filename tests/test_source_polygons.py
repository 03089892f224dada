"""source = "polygons": rasterization rule, round trips, orientations and every bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import shapely

import netsolve
from netsolve import cli
from netsolve.case import GrainOrientation
from netsolve.errors import CaseError
from netsolve.microstructure import Phase, build_microstructure
from netsolve.orientation import orientations_from_case
from netsolve.sources.polygons import polygons_from_labels, write_geojson
from netsolve.sources.voronoi import voronoi_labels

H = 10.0  # voxel size, nm
ELECTRODES = [{"name": "source", "region": "left", "potential_V": 1.0},
              {"name": "sink", "region": "right", "potential_V": 0.0}]


def case_dict(path, shape=(8, 6), model="isotropic", grains=None, **micro) -> dict:
    data = {"grid": {"shape": list(shape), "voxel_size_nm": H},
            "microstructure": {"source": "polygons", "path": str(path), **micro},
            "materials": {"conductivity_model": model},
            "electrodes": ELECTRODES}
    if grains is not None:
        data["grains"] = grains
    return data


def write(tmp_path, features, name="grains.geojson"):
    """features: (shapely geometry, properties) pairs."""
    path = tmp_path / name
    write_geojson(path, [g for g, _ in features], [p for _, p in features])
    return path


def write_csv(tmp_path, header, rows, name="grains.csv"):
    path = tmp_path / name
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def build(path, tmp_path, **kw):
    return build_microstructure(netsolve.case_from_dict(case_dict(path, **kw), base_dir=tmp_path))


def centres(shape):
    """Voxel centres in nm as exact integers-plus-half: x[i, j], y[i, j]."""
    return np.meshgrid((np.arange(shape[0]) + 0.5) * H, (np.arange(shape[1]) + 0.5) * H,
                       indexing="ij")


# --------------------------------------------------------------------------- rasterization


@pytest.mark.parametrize("units, origin, scale", [("nm", (0.0, 0.0), 1.0),
                                                  ("um", (0.0, 0.0), 1e-3),
                                                  ("voxel", (0.0, 0.0), 1 / H),
                                                  ("nm", (100.0, -200.0), 1.0)])
def test_face_aligned_rectangle_gives_exactly_its_voxels(tmp_path, units, origin, scale):
    x0, y0 = origin
    rect = shapely.box((20 + x0) * scale, (10 + y0) * scale, (50 + x0) * scale,
                       (40 + y0) * scale)
    path = write(tmp_path, [(rect, {"id": 3})])
    micro = build(path, tmp_path, units=units, origin_nm=list(origin), fill="void")
    expected = np.full((8, 6), -1)
    expected[2:5, 1:4] = 3
    np.testing.assert_array_equal(micro.labels, expected)
    assert (micro.phase[expected == -1] == Phase.VOID).all()


@pytest.mark.parametrize("a, b", [(80, 60), (60, 60)])
def test_triangle_takes_the_voxels_whose_centre_it_covers(tmp_path, a, b):
    path = write(tmp_path, [(shapely.Polygon([(0, 0), (a, 0), (0, b)]), {"id": 1})])
    labels = build(path, tmp_path, fill="void").labels
    x, y = centres((8, 6))
    inside = b * x + a * y <= a * b  # the closed triangle; exact in floating point here
    assert (b * x + a * y == a * b).any() == (a == b)  # (60, 60): centres on the hypotenuse
    np.testing.assert_array_equal(labels, np.where(inside, 1, -1))


def test_polygon_with_a_hole(tmp_path):
    ring = shapely.Polygon(shapely.box(0, 0, 80, 60).exterior.coords,
                           [shapely.box(20, 10, 50, 40).exterior.coords])
    inner = shapely.box(20, 10, 50, 40)
    labels = build(write(tmp_path, [(ring, {"id": 1}), (inner, {"id": 2})]), tmp_path).labels
    expected = np.ones((8, 6), dtype=int)
    expected[2:5, 1:4] = 2
    np.testing.assert_array_equal(labels, expected)

    filled = build(write(tmp_path, [(ring, {"id": 1})], "ring.geojson"), tmp_path,
                   fill="backbone")
    np.testing.assert_array_equal(filled.labels, np.where(expected == 2, -1, 1))
    assert (filled.phase[2:5, 1:4] == Phase.BACKBONE).all()

    with pytest.raises(CaseError, match=r"ring\.geojson: the polygons leave a hole: no polygon "
                                        r"covers 9 voxels \(900 nm\^2\) within x = 20\.\.50, "
                                        r"y = 10\.\.40 nm"):
        build(tmp_path / "ring.geojson", tmp_path)


def test_edges_through_voxel_centres_go_to_the_first_feature(tmp_path):
    # Four squares meeting at the centre (25, 25) of voxel (2, 2); their shared edges run
    # through the centres of column 2 and row 2.
    boxes = [shapely.box(25, 25, 50, 50), shapely.box(0, 0, 25, 25), shapely.box(25, 0, 50, 25),
             shapely.box(0, 25, 25, 50)]
    path = write(tmp_path, [(b, {"id": k + 1}) for k, b in enumerate(boxes)])
    labels = build(path, tmp_path, shape=(5, 5)).labels
    x, y = centres((5, 5))
    expected = np.zeros((5, 5), dtype=int)
    for k, b in reversed(list(enumerate(boxes))):  # the first closed box wins
        lo_x, lo_y, hi_x, hi_y = b.bounds
        expected[(lo_x <= x) & (x <= hi_x) & (lo_y <= y) & (y <= hi_y)] = k + 1
    np.testing.assert_array_equal(labels, expected)
    assert labels[2, 2] == 1 and labels[2, 0] == 2 and labels[0, 2] == 2


@pytest.mark.parametrize("h", [15.0, 60.0, 7.5])
def test_voxel_size_does_not_move_centres_off_shared_edges(tmp_path, h):
    # h * 1e-9 / 1e-9 != h for these sizes: the edge x = 1.5 h must still hit column 1's centres
    path = write(tmp_path, [(shapely.box(0, 0, 1.5 * h, 2 * h), {"id": 1}),
                            (shapely.box(1.5 * h, 0, 4 * h, 2 * h), {"id": 2})])
    data = case_dict(path, shape=(4, 2))
    data["grid"]["voxel_size_nm"] = h
    labels = build_microstructure(netsolve.case_from_dict(data, base_dir=tmp_path)).labels
    np.testing.assert_array_equal(labels, [[1, 1], [1, 1], [2, 2], [2, 2]])


def test_diagonal_shared_edge_neither_overlaps_nor_leaves_holes(tmp_path):
    lower = shapely.Polygon([(0, 0), (60, 0), (60, 60)])
    upper = shapely.Polygon([(0, 0), (60, 60), (0, 60)])
    for order in ([(upper, {"id": 1}), (lower, {"id": 2})],
                  [(lower, {"id": 2}), (upper, {"id": 1})]):
        labels = build(write(tmp_path, order), tmp_path, shape=(6, 6)).labels
        i, j = np.indices((6, 6))
        first = order[0][1]["id"]
        np.testing.assert_array_equal(labels[i == j], first)  # centres on the diagonal
        assert (labels[i < j] == 1).all() and (labels[i > j] == 2).all()


def test_polygons_beyond_the_grid_are_clipped(tmp_path):
    path = write(tmp_path, [(shapely.box(-100, -100, 45, 1000), {"id": 1}),
                            (shapely.box(45, -5, 1000, 60), {"id": 2})])
    labels = build(path, tmp_path).labels
    assert (labels[:5] == 1).all() and (labels[5:] == 2).all()


# --------------------------------------------------------------------------- round trips


def grain_map():
    labels = voronoi_labels((30, 20), 12, np.random.default_rng(5))
    labels[labels == 3] = 4  # grain 4 now in one piece or two, grain 3 gone
    labels[12:16, 5:9] = -1  # a ZrO2 particle
    return labels


@pytest.mark.parametrize("units, scale", [("nm", H), ("um", H / 1000), ("voxel", 1.0)])
def test_round_trip_labels_polygons_geojson_labels(tmp_path, units, scale):
    labels = grain_map()
    regions = polygons_from_labels(labels, scale)
    props = [{"phase": "zro2"} if v < 0 else {"id": v} for v in regions]
    path = tmp_path / "map.geojson"
    write_geojson(path, regions.values(), props)
    micro = build(path, tmp_path, shape=labels.shape, units=units, phases={"zro2": -1})
    np.testing.assert_array_equal(micro.labels, labels)
    assert (micro.phase[labels == -1] == Phase.ZRO2).all()


def test_grain_traced_in_pieces(tmp_path):
    labels = grain_map()
    regions = polygons_from_labels(labels, H)
    features = []
    for value, geom in regions.items():
        props = {"phase": "zro2"} if value < 0 else {"id": value, "c_axis": [0, value, 1]}
        pieces = [shapely.clip_by_rect(geom, -1, -1, 150, 500),
                  shapely.clip_by_rect(geom, 150, -1, 500, 500)]
        features += [(p, props) for p in pieces if not p.is_empty]
    micro = build(write(tmp_path, features), tmp_path, shape=labels.shape, model="tensor")
    np.testing.assert_array_equal(micro.labels, np.where(labels == -1, -1, labels))
    assert len(features) > len(regions)


def test_wkt_csv_equals_geojson(tmp_path):
    labels = grain_map()
    regions = polygons_from_labels(labels, H)
    rng = np.random.default_rng(1)
    euler = {v: np.round(rng.random(3) * 90, 2).tolist() for v in regions if v > 0}
    write_geojson(tmp_path / "map.geojson", regions.values(),
                  [{"phase": "zro2"} if v < 0 else {"id": v, "euler_deg": euler[v]}
                   for v in regions])
    rows = [[shapely.to_wkt(g, rounding_precision=-1), "" if v < 0 else v,
             "zro2" if v < 0 else "", *(euler[v] if v > 0 else ["", "", ""])]
            for v, g in regions.items()]
    path = write_csv(tmp_path, ["wkt", "id", "phase", "phi1", "PHI", "phi2"], rows)
    a = build(tmp_path / "map.geojson", tmp_path, shape=labels.shape, model="tensor")
    b = build(path, tmp_path, shape=labels.shape, model="tensor")
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.orientations.grain_ids, b.orientations.grain_ids)
    np.testing.assert_array_equal(a.orientations.c_axis, b.orientations.c_axis)
    np.testing.assert_array_equal(a.orientations.euler_rad, b.orientations.euler_rad)


# --------------------------------------------------------------------------- orientations, phases


def three_grains():
    return [shapely.box(0, 0, 30, 60), shapely.box(30, 0, 60, 60), shapely.box(60, 0, 80, 60)]


def test_orientations_from_properties_and_columns(tmp_path):
    given = [GrainOrientation(1, euler_deg=(10.0, 20.0, 30.0)),
             GrainOrientation(2, theta_alpha_deg=(120.0, 35.0)),
             GrainOrientation(3, c_axis=(1.0, 0.0, 1.0))]
    expected = orientations_from_case(tuple(given), "x")
    props = [{"id": 1, "euler_deg": [10.0, 20.0, 30.0]},
             {"id": 2, "theta_deg": 120.0, "alpha_deg": 35},
             {"id": 3, "c_axis": [1, 0, 1]}]
    geojson = write(tmp_path, list(zip(three_grains(), props)))
    rows = [[g.wkt, k + 1, *cells] for k, (g, cells) in enumerate(zip(three_grains(), [
        ["10", "20", "30", "", "", "", "", "", ""], ["", "", "", "120", "35", "", "", "", ""],
        ["", "", "", "", "", "1", "0", "1"] + [""]]))]
    table = write_csv(tmp_path, ["wkt", "id", "phi1", "Phi", "phi2", "theta", "alpha", "cx", "cy",
                                 "cz", "phase"], rows)
    for path in (geojson, table):
        got = build(path, tmp_path, model="tensor").orientations
        for field in ("grain_ids", "c_axis", "euler_rad", "theta_rad", "alpha_rad"):
            np.testing.assert_allclose(getattr(got, field), getattr(expected, field), atol=1e-15)


def test_grains_table_overrides_and_supplies_orientations(tmp_path):
    path = write(tmp_path, [(three_grains()[0], {"id": 1, "c_axis": [1, 0, 0]}),
                            (three_grains()[1], {"id": 2}),
                            (three_grains()[2], {"id": 3, "c_axis": [0, 1, 0]})])
    grains = [{"id": 1, "c_axis": [0, 0, 1]}, {"id": 2, "c_axis": [0, 1, 0]}]
    micro = build(path, tmp_path, model="tensor", grains=grains)
    np.testing.assert_array_equal(micro.orientations.c_axis, [[0, 0, 1], [0, 1, 0], [0, 1, 0]])


def test_phase_features_and_fill_values(tmp_path):
    path = write(tmp_path, [(three_grains()[0], {"id": 1}), (three_grains()[1], {"phase": "frame"})])
    micro = build(path, tmp_path, fill="void")
    assert (micro.phase[:3] == Phase.GRAIN).all()
    assert (micro.phase[3:6] == Phase.BACKBONE).all() and (micro.phase[6:] == Phase.VOID).all()
    assert set(np.unique(micro.labels)) == {1, -1, -2}  # new values below 0: backbone, void
    declared = build(path, tmp_path, fill="void", phases={"void": -7, "backbone": -4})
    np.testing.assert_array_equal(np.unique(declared.labels), [-7, -4, 1])


# --------------------------------------------------------------------------- bad input


def test_overlap_reports_the_polygons_area_and_location(tmp_path):
    path = write(tmp_path, [(shapely.box(0, 0, 50, 60), {"id": 1}),
                            (shapely.box(30, 0, 80, 60), {"id": 2})])
    with pytest.raises(CaseError) as err:
        build(path, tmp_path)
    assert str(err.value) == ("grains.geojson: polygons overlap: features[0] (grain 1) and "
                              "features[1] (grain 2) both cover 12 voxels (1200 nm^2) within "
                              "x = 30..50, y = 0..60 nm")


def test_overlap_of_a_centre_on_one_edge_inside_another_polygon(tmp_path):
    path = write(tmp_path, [(shapely.box(0, 0, 45, 60), {"phase": "void"}),
                            (shapely.box(44, 0, 80, 60), {"id": 2})])
    with pytest.raises(CaseError, match=r"features\[0\] \(phase void\) and features\[1\] \(grain "
                                        r"2\) both cover 6 voxels \(600 nm\^2\) within x = 40"):
        build(path, tmp_path)


def test_holes_report_total_and_largest(tmp_path):
    path = write(tmp_path, [(shapely.box(0, 0, 30, 60), {"id": 1}),
                            (shapely.box(50, 0, 80, 60), {"id": 2}),
                            (shapely.box(30, 0, 50, 50), {"id": 3})], "gaps.geojson")
    with pytest.raises(CaseError, match=r"gaps\.geojson: the polygons leave a hole: no polygon "
                                        r"covers 2 voxels \(200 nm\^2\) within x = 30\.\.50, "
                                        r"y = 50\.\.60 nm\. .*microstructure\.fill"):
        build(path, tmp_path)
    path = write(tmp_path, [(shapely.box(0, 0, 20, 60), {"id": 1}),
                            (shapely.box(30, 0, 60, 60), {"id": 2}),
                            (shapely.box(70, 0, 80, 60), {"id": 3})], "two.geojson")
    with pytest.raises(CaseError) as err:
        build(path, tmp_path)
    assert str(err.value).startswith(
        "two.geojson: the polygons leave a hole: no polygon covers 12 voxels (1200 nm^2) in 2 "
        "places; the largest: 6 voxels (600 nm^2) within x = 20..30, y = 0..60 nm.")


def test_missing_and_conflicting_orientations(tmp_path):
    path = write(tmp_path, [(three_grains()[0], {"id": 1, "c_axis": [0, 0, 1]}),
                            (three_grains()[1], {"id": 2}),
                            (three_grains()[2], {"id": 1, "c_axis": [0, 0, 1]})])
    with pytest.raises(CaseError, match=r"grains\.geojson: grain ids \[2\] have no orientation "
                                        r"\(first: features\[1\]\)"):
        build(path, tmp_path, model="tensor")
    build(path, tmp_path, model="isotropic")
    build(path, tmp_path, model="tensor", grains=[{"id": 2, "c_axis": [1, 0, 0]}])

    path = write(tmp_path, [(three_grains()[0], {"id": 1, "c_axis": [0, 0, 1]}),
                            (three_grains()[1], {"id": 2, "c_axis": [0, 0, 1]}),
                            (three_grains()[2], {"id": 1, "euler_deg": [0, 0, 0]})])
    with pytest.raises(CaseError, match=r"grains\.geojson: grain 1 has two different "
                                        r"orientations: c_axis = \[0\.0, 0\.0, 1\.0\] in "
                                        r"features\[0\], "
                                        r"euler_deg = \[0\.0, 0\.0, 0\.0\] in features\[2\]"):
        build(path, tmp_path)


def feature(geometry, properties):
    return {"type": "Feature", "geometry": geometry, "properties": properties}


SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [80, 0], [80, 60], [0, 60], [0, 0]]]}
BAD_GEOJSON = [
    ("{not json", r"not valid JSON"),
    (json.dumps({"type": "Feature"}), r"expected a GeoJSON FeatureCollection"),
    (json.dumps({"type": "FeatureCollection", "features": []}), r"contains no polygons"),
    (json.dumps({"type": "FeatureCollection", "features": [{"type": "Point"}]}),
     r"features\[0\] is not a GeoJSON Feature"),
    (json.dumps({"type": "FeatureCollection", "features": [
        feature({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, {"id": 1})]}),
     r"features\[0\]: geometry must be a Polygon or MultiPolygon, got 'LineString'"),
    (json.dumps({"type": "FeatureCollection", "features": [
        feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}, {"id": 1})]}),
     r"features\[0\]: geometry is not a valid GeoJSON Polygon"),
    (json.dumps({"type": "FeatureCollection", "features": [
        feature({"type": "Polygon", "coordinates": [[[0, 0], [80, 60], [80, 0], [0, 60],
                                                     [0, 0]]]}, {"id": 1})]}),
     r"features\[0\]: invalid polygon \(Self-intersection"),
    (json.dumps({"type": "FeatureCollection", "features": [
        feature({"type": "Polygon", "coordinates": []}, {"id": 1})]}),
     r"features\[0\]: the polygon is empty"),
    (json.dumps({"type": "FeatureCollection", "features": [feature(SQUARE, {"id": 0})]}),
     r"features\[0\]: 'properties\.id' must be >= 1, got 0"),
    (json.dumps({"type": "FeatureCollection", "features": [feature(SQUARE, {"id": 1.0})]}),
     r"'properties\.id' must be an integer, got 1\.0"),
    (json.dumps({"type": "FeatureCollection", "features": [feature(SQUARE, {})]}),
     r"features\[0\]: give either 'properties\.id' .* or 'properties\.phase' .*not neither"),
    (json.dumps({"type": "FeatureCollection", "features": [
        feature(SQUARE, {"id": 1, "phase": "void"})]}), r"not both"),
    (json.dumps({"type": "FeatureCollection", "features": [feature(SQUARE, {"phase": "pore"})]}),
     r"'properties\.phase' must be one of 'zro2', 'backbone', 'frame', 'void', got 'pore'"),
    (json.dumps({"type": "FeatureCollection", "features": [
        feature(SQUARE, {"phase": "void", "c_axis": [0, 0, 1]})]}),
     r"a phase feature takes no orientation"),
    (json.dumps({"type": "FeatureCollection", "features": [
        feature(SQUARE, {"id": 1, "eulr_deg": [0, 0, 0]})]}),
     r"unknown key 'properties\.eulr_deg' \(did you mean 'euler_deg'\?\)"),
    (json.dumps({"type": "FeatureCollection", "features": [
        feature(SQUARE, {"id": 1, "theta_deg": 10, "alpha_deg": 95})]}),
     r"grain 1: 'properties\.alpha_deg' must be in \[0, 90\], got 95"),
    (json.dumps({"type": "FeatureCollection", "features": [
        feature(SQUARE, {"id": 1, "theta_deg": 10})]}), r"give exactly one orientation"),
    (json.dumps({"type": "FeatureCollection", "features": [
        feature(SQUARE, {"id": 1, "c_axis": [0, 0, 0]})]}), r"must not be the zero vector"),
    (json.dumps({"type": "FeatureCollection", "features": [
        feature(SQUARE, {"id": 1, "euler_deg": [0, 0]})]}),
     r"'properties\.euler_deg' must be a list of 3 numbers"),
]


@pytest.mark.parametrize("text, message", BAD_GEOJSON)
def test_bad_geojson(tmp_path, text, message):
    (tmp_path / "bad.geojson").write_text(text)
    with pytest.raises(CaseError, match=r"^bad\.geojson: .*" + message):
        build(tmp_path / "bad.geojson", tmp_path)


WKT = "POLYGON ((0 0, 80 0, 80 60, 0 60, 0 0))"
BAD_CSV = [
    ("", r"the CSV is empty"),
    ("wkt,id,thetta\n", r"line 1 \(header\), column 'thetta': unknown column \(did you mean "
                         r"'theta'\?\)"),
    ("id,phi1\n1,2\n", r"needs a 'wkt' column"),
    (f'wkt,id\n"{WKT}",1,2\n', r"line 2: 3 values, but the header has 2 columns"),
    ('wkt,id\n"POLYGON ((0 0, 1 0)",1\n', r"line 2: 'wkt' is not valid WKT"),
    ("wkt,id\n,1\n", r"line 2: 'wkt' must be a polygon as WKT"),
    ('wkt,id\n"POINT (1 1)",1\n', r"line 2: must be a Polygon or MultiPolygon, got Point"),
    (f'wkt,id\n"{WKT}",x\n', r"line 2: 'id' must be an integer, got 'x'"),
    (f'wkt,id,phi1,Phi\n"{WKT}",1,10,20\n', r"line 2: grain 1: give all of phi1, Phi, phi2"),
    (f'wkt,id,phi1,Phi,phi2,cx,cy,cz\n"{WKT}",1,10,20,30,0,0,1\n',
     r"line 2: grain 1: give exactly one orientation"),
    (f'wkt,id,theta,alpha\n"{WKT}",1,10,nan\n', r"line 2: 'alpha' must be a finite number"),
    (f'wkt,phase,cx,cy,cz\n"{WKT}",void,0,0,1\n', r"line 2: a phase row takes no orientation"),
]


@pytest.mark.parametrize("text, message", BAD_CSV)
def test_bad_csv(tmp_path, text, message):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(CaseError, match=r"^bad\.csv: .*" + message):
        build(tmp_path / "bad.csv", tmp_path)


def test_bad_options(tmp_path):
    path = write(tmp_path, [(shapely.box(0, 0, 80, 60), {"id": 1})])
    with pytest.raises(CaseError, match=r"grains\.geojson\) needs a 2D grid"):
        netsolve.case_from_dict(case_dict(path, shape=(8, 6, 4)), base_dir=tmp_path)
    with pytest.raises(CaseError, match=r"'microstructure\.units' must be one of 'nm', 'um', "
                                        r"'voxel', got 'mm'"):
        netsolve.case_from_dict(case_dict(path, units="mm"), base_dir=tmp_path)
    with pytest.raises(CaseError, match=r"'microstructure\.path' = 'grains\.shp': polygons are "
                                        r"read from GeoJSON"):
        netsolve.case_from_dict(case_dict(tmp_path / "grains.shp"), base_dir=tmp_path)
    with pytest.raises(CaseError, match=r"unknown key 'microstructure\.n_grains'"):
        netsolve.case_from_dict(case_dict(path, n_grains=3), base_dir=tmp_path)
    with pytest.raises(CaseError, match=r"^nope\.geojson: polygon file not found"):
        build(tmp_path / "nope.geojson", tmp_path)


def test_cli_reports_overlap_with_status_2_and_writes_nothing(tmp_path, capsys):
    write(tmp_path, [(shapely.box(0, 0, 50, 60), {"id": 1}),
                     (shapely.box(30, 0, 80, 60), {"id": 2})])
    (tmp_path / "case.toml").write_text(
        '[grid]\nshape = [8, 6]\nvoxel_size_nm = 10.0\n\n'
        '[microstructure]\nsource = "polygons"\npath = "grains.geojson"\n\n'
        '[materials]\nconductivity_model = "isotropic"\n\n'
        '[[electrodes]]\nregion = "left"\npotential_V = 1.0\n\n'
        '[[electrodes]]\nregion = "right"\npotential_V = 0.0\n')
    out = tmp_path / "result"
    status = cli.main(["run", str(tmp_path / "case.toml"), "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("netsolve: error: grains.geojson: polygons overlap: features[0] "
                          "(grain 1) and features[1] (grain 2)") and err.count("\n") == 1
    assert not out.exists()

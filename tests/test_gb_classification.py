"""Grain-boundary classification (docs/gb-classification.md): canonical bicrystals for all 12
subtypes, the blocking physics of II b1, metrics against exact results, segments, the [analysis]
table, bad input and the outputs."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import netsolve
from netsolve.analysis.metrics import percentile_rank, risk_score
from netsolve.cli import main
from netsolve.errors import CaseError

from conftest import H, base_case, solve_dict, with_labels

S30, C30 = math.sin(math.radians(30)), math.cos(math.radians(30))
S75, C75 = math.sin(math.radians(75)), math.cos(math.radians(75))
X, Y, Z = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]
UP30, DOWN30, UP75 = [C30, S30, 0.0], [C30, -S30, 0.0], [C75, S75, 0.0]

# Grain 1 left of a straight GB at x = 6 voxels, grain 2 right: n = +x from 1 to 2. "across":
# source left, sink right (E = +x); "along": source bottom, sink top (E = +y).
CANONICAL = {
    "I a1": (X, X, "across"), "I a2": (X, X, "along"),
    "I b1": (Z, Z, "across"), "I b2": (Z, Z, "along"),
    "II a1": (Z, Y, "across"), "II a2": (Z, Y, "along"),
    "II b1": (Z, X, "across"), "II b2": (Z, X, "along"),
    "III a1": (UP30, DOWN30, "across"), "III a2": (DOWN30, UP30, "along"),
    "III b1": (UP30, UP75, "across"), "III b2": (UP30, DOWN30, "along"),
}
BEHAVIOUR = {"I a1": "none", "I a2": "none", "I b1": "across", "I b2": "none",
             "II a1": "across", "II a2": "none", "II b1": "blocking", "II b2": "none",
             "III a1": "across", "III a2": "blocking_along", "III b1": "across",
             "III b2": "none"}
EDGES = {"across": ("left", "right"), "along": ("bottom", "top")}


def bicrystal(tmp_path, c1, c2, drive="across", shape=(12, 8), **extra) -> dict:
    labels = np.ones(shape, dtype=np.int32)
    labels[shape[0] // 2:] = 2
    data = with_labels(base_case(shape, model="tensor"), labels, tmp_path,
                       grains=[{"id": 1, "c_axis": list(c1)}, {"id": 2, "c_axis": list(c2)}])
    source, sink = EDGES[drive]
    data["electrodes"][0]["region"], data["electrodes"][1]["region"] = source, sink
    data.update(extra)
    return data


def whole_gb(table, a=1, b=2) -> int:
    return table.row(a, b)


@pytest.mark.parametrize("subtype", list(CANONICAL))
def test_canonical_bicrystals_classify_as_their_subtype(subtype, tmp_path):
    c1, c2, drive = CANONICAL[subtype]
    data = bicrystal(tmp_path, c1, c2, drive)
    applied = netsolve.classify(netsolve.case_from_dict(data, base_dir=tmp_path))
    solved = solve_dict(data, tmp_path).gb_table
    for table, source in ((applied, "applied"), (solved, "solved")):
        k = whole_gb(table)
        assert table.subtype[k] == subtype, source
        assert table.behaviour[k] == BEHAVIOUR[subtype]
        assert table.blocking[k] == (subtype in ("II b1", "III a2"))
        assert table.field_source[k] == source
        np.testing.assert_allclose(table.normal[k], [1.0, 0.0])


def test_type_ii_downstream_grain_follows_the_field(tmp_path):
    # Planes of grain 1 parallel to the GB (c = x), grain 2 c = z: blocking only when the
    # field enters grain 1, i.e. runs from right to left.
    data = bicrystal(tmp_path, X, Z, "across")
    table = netsolve.classify(netsolve.case_from_dict(data, base_dir=tmp_path))
    assert table.subtype[whole_gb(table)] == "II a1"
    data["electrodes"][0]["region"], data["electrodes"][1]["region"] = "right", "left"
    table = netsolve.classify(netsolve.case_from_dict(data, base_dir=tmp_path))
    assert table.subtype[whole_gb(table)] == "II b1"
    assert table.field_normal_cos[whole_gb(table)] == pytest.approx(-1.0)


def test_type_tolerance_is_read_from_the_case(tmp_path):
    c2 = [math.cos(math.radians(20)), 0.0, math.sin(math.radians(20))]  # 20 deg from c1 = x
    data = bicrystal(tmp_path, X, c2, "along")
    default = netsolve.classify(netsolve.case_from_dict(data, base_dir=tmp_path))
    assert default.psi_deg[whole_gb(default)] == pytest.approx(20.0)
    assert default.gb_type[whole_gb(default)] == "III"
    data["analysis"] = {"type_tolerance_deg": 25.0}
    wide = netsolve.classify(netsolve.case_from_dict(data, base_dir=tmp_path))
    assert wide.subtype[whole_gb(wide)] == "I a2"


def test_three_dimensional_ii_b1(tmp_path):
    labels = np.ones((8, 4, 4), dtype=np.int32)
    labels[4:] = 2
    data = with_labels(base_case((8, 4, 4), model="tensor"), labels, tmp_path,
                       grains=[{"id": 1, "c_axis": Z}, {"id": 2, "c_axis": X}])
    table = solve_dict(data, tmp_path).gb_table
    k = whole_gb(table)
    assert table.subtype[k] == "II b1" and table.blocking[k]
    assert math.isnan(table.length_m[k]) and table.area_m2[k] == pytest.approx(16 * H * H)


def _current_driven(tmp_path, c1, c2, current):
    data = bicrystal(tmp_path, c1, c2, "across", shape=(20, 6))
    data["electrodes"][0] = {"name": "source", "region": "left", "current_A": current}
    return solve_dict(data, tmp_path)


def test_ii_b1_drop_far_exceeds_i_b1_at_the_same_current(tmp_path):
    """Same GB conductivity and current: the GB resistor carries the same jump, but across the
    II b1 boundary the potential falls by far more (the downstream grain's planes face the GB:
    ions cannot enter it)."""
    current = 2e-9
    blocking = _current_driven(tmp_path, Z, X, current)
    crossing = _current_driven(tmp_path, Z, Z, current)
    kb, kc = whole_gb(blocking.gb_table), whole_gb(crossing.gb_table)
    mat = blocking.case.materials
    thickness = blocking.case.grid.thickness_m
    area = H * thickness  # one face
    per_face = current / 6
    r_gb = mat.gb_thickness_m / (mat.sigma_gb * area)
    half = 0.5 * H / area
    for result, k in ((blocking, kb), (crossing, kc)):
        table = result.gb_table
        assert table.current_A[k] == pytest.approx(current, rel=1e-9)  # Kirchhoff
        assert table.current_density_A_m2[k] == pytest.approx(current / (6 * area), rel=1e-9)
        assert table.jump_V[k] == pytest.approx(per_face * r_gb, rel=1e-9)
        assert table.gb_field_V_m[k] == pytest.approx(per_face * r_gb / mat.gb_thickness_m,
                                                      rel=1e-9)
    drop_blocking = per_face * (half / mat.sigma_ip + r_gb + half / mat.sigma_op)
    drop_crossing = per_face * (2 * half / mat.sigma_ip + r_gb)
    assert blocking.gb_table.drop_V[kb] == pytest.approx(drop_blocking, rel=1e-9)
    assert crossing.gb_table.drop_V[kc] == pytest.approx(drop_crossing, rel=1e-9)
    assert blocking.gb_table.drop_V[kb] / crossing.gb_table.drop_V[kc] > 10
    v_source = blocking.electrode_potentials_V["source"]
    assert blocking.gb_table.drop_share[kb] == pytest.approx(per_face * r_gb / v_source)


def test_band_contrast_of_parallel_stripes_is_the_conductivity_ratio(tmp_path):
    # GB along the field: each stripe carries J = sigma_yy V / L, no current crosses the GB.
    data = bicrystal(tmp_path, Z, Y, "along")
    result = solve_dict(data, tmp_path)
    table = result.gb_table
    k = whole_gb(table)
    assert table.j_contrast[k] == pytest.approx(1000.0, rel=1e-9)
    assert table.j_band_a_A_m2[k] / table.j_band_b_A_m2[k] == pytest.approx(1000.0, rel=1e-9)
    assert abs(table.current_A[k]) < 1e-12 * result.total_current_A
    grains = result.grain_table
    # Every conducting voxel is a grain: the current shares add up to 1.
    assert grains.current_share.sum() == pytest.approx(1.0, rel=1e-12)
    assert grains.mean_abs_j_A_m2[grains.row(1)] / grains.mean_abs_j_A_m2[grains.row(2)] == \
        pytest.approx(1000.0, rel=1e-9)
    assert list(grains.n_gb) == [1, 1] and list(grains.n_blocking_gb) == [0, 0]


def test_band_width_limits_the_band_to_the_grain(tmp_path):
    data = bicrystal(tmp_path, Z, Z, "across", analysis={"band_width_nm": 100.0})
    table = solve_dict(data, tmp_path).gb_table  # 10 voxels asked, 6 per grain available
    assert table.j_contrast[whole_gb(table)] == pytest.approx(1.0, rel=1e-9)


def _segments(table, a=1, b=2):
    rows = np.flatnonzero((table.grain_a == a) & (table.grain_b == b) & (table.segment >= 0))
    return rows


def test_l_shaped_boundary_splits_into_two_straight_segments(tmp_path):
    labels = np.ones((20, 16), dtype=np.int32)
    labels[10:, 8:] = 2  # GB: x = 10 for y in [8, 16) (normal +x), y = 8 for x in [10, 20)
    data = with_labels(base_case((20, 16), model="tensor"), labels, tmp_path,
                       grains=[{"id": 1, "c_axis": Z}, {"id": 2, "c_axis": Z}])
    result = solve_dict(data, tmp_path)
    table = result.gb_table
    rows = _segments(table)
    assert len(rows) == 2
    normals = {tuple(np.round(table.normal[k], 9)): table.n_faces[k] for k in rows}
    assert normals == {(1.0, 0.0): 8, (0.0, 1.0): 10}
    k = whole_gb(table)
    assert table.n_faces[rows].sum() == table.n_faces[k] == 18
    assert table.current_A[rows].sum() == pytest.approx(table.current_A[k], rel=1e-12)
    assert sorted(table.segment[rows]) == [0, 1]
    face_rows = np.unique(table.face_segment_row)
    assert sorted(face_rows) == sorted(rows)


def test_straight_staircase_boundary_stays_one_segment(tmp_path):
    i, j = np.indices((40, 30))
    labels = np.where(j > 0.5 * i + 5, 2, 1).astype(np.int32)  # a GB at 26.6 deg to x
    data = with_labels(base_case((40, 30), model="tensor"), labels, tmp_path,
                       grains=[{"id": 1, "c_axis": Z}, {"id": 2, "c_axis": X}])
    table = netsolve.classify(netsolve.case_from_dict(data, base_dir=tmp_path))
    rows = _segments(table)
    assert len(rows) == 1
    angle = math.degrees(math.atan2(table.normal[rows[0], 1], table.normal[rows[0], 0]))
    assert angle == pytest.approx(90 + 26.57, abs=2.0)
    data["analysis"] = {"segment_angle_deg": 179.0, "segment_smoothing_nm": 20.0}
    assert len(_segments(netsolve.classify(netsolve.case_from_dict(data, base_dir=tmp_path)))) == 1


def test_interfaces_with_unoriented_phases_are_reported_not_classified(tmp_path):
    labels = np.ones((12, 8), dtype=np.int32)
    labels[6:] = 2
    labels[2:4, 2:4] = -1  # ZrO2 inside grain 1
    data = with_labels(base_case((12, 8), model="tensor"), labels, tmp_path,
                       phases={"zro2": -1},
                       grains=[{"id": 1, "c_axis": Z}, {"id": 2, "c_axis": X}])
    table = solve_dict(data, tmp_path).gb_table
    rows = np.flatnonzero(table.grain_b == -1)
    assert len(rows) == 1
    k = rows[0]
    assert (table.grain_a[k], table.other_phase[k], table.n_faces[k]) == (1, "zro2", 8)
    assert table.behaviour[k] == table.gb_type[k] == "not_classified"
    assert not table.blocking[k] and math.isnan(table.current_A[k])
    assert np.isnan(table.normal[k]).all()  # an enclosed particle: the face normals cancel


def test_grains_without_orientation_are_refused(tmp_path, capsys):
    labels = np.ones((12, 8), dtype=np.int32)
    labels[6:] = 2
    data = with_labels(base_case((12, 8), model="isotropic"), labels, tmp_path,
                       grains=[{"id": 1, "c_axis": Z}])
    case = netsolve.case_from_dict(data, base_dir=tmp_path)
    with pytest.raises(CaseError, match=r"grain ids \[2\] have none"):
        netsolve.classify(case)
    result = netsolve.solve(case)
    with pytest.raises(CaseError, match="needs the orientation of every grain"):
        result.gb_table
    assert result.grain_table.n_gb.tolist() == [0, 0]  # grain metrics need no orientation


@pytest.mark.parametrize("analysis, message", [
    ({"type_tolerance_deg": 50}, r"'analysis.type_tolerance_deg' must be in \(0, 45\)"),
    ({"across_angle_deg": 0}, r"'analysis.across_angle_deg' must be in \(0, 90\)"),
    ({"segment_angle_deg": "wide"}, "'analysis.segment_angle_deg' must be a number"),
    ({"band_width_nm": 5.0}, r"'analysis.band_width_nm' = 5 is less than one voxel \(10 nm\)"),
    ({"segment_smoothing_nm": -1.0}, "'analysis.segment_smoothing_nm' must be > 0"),
    ({"field": "local"}, "'analysis.field' must be one of 'solved', 'applied'"),
    ({"negative_electrode": "sinc"}, "is not an electrode; electrodes are source, sink "
                                     r"\(did you mean 'sink'\?\)"),
    ({"tolerance_deg": 10}, "unknown key 'analysis.tolerance_deg'"),
])
def test_bad_analysis_values(analysis, message):
    data = base_case()
    data["analysis"] = analysis
    with pytest.raises(CaseError, match=message):
        netsolve.case_from_dict(data)


def test_analysis_table_values_are_stored():
    data = base_case()
    data["analysis"] = {"field": "applied", "band_width_nm": 50, "segment_smoothing_nm": 40,
                        "negative_electrode": "source", "segment_angle_deg": 20}
    options = netsolve.case_from_dict(data).analysis
    assert options.field == "applied" and options.negative_electrode == "source"
    assert options.band_width_m == pytest.approx(50e-9)
    assert options.segment_smoothing_m == pytest.approx(40e-9)
    assert options.segment_angle_deg == 20.0 and options.type_tolerance_deg == 15.0


def test_applied_field_option_after_a_solve(tmp_path):
    data = bicrystal(tmp_path, Z, X, "across", analysis={"field": "applied"})
    table = solve_dict(data, tmp_path).gb_table
    assert set(table.field_source[table.grain_b > 0]) == {"applied"}


def test_risk_score_is_monotone_in_the_gb_field():
    rng = np.random.default_rng(4)
    n = 30
    blocking = rng.random(n) < 0.3
    field, contrast = rng.random(n) * 1e6, 1 + rng.random(n)
    distance = rng.random(n) * 1e-6
    base = risk_score(blocking, field, contrast, distance, 2e-6)
    assert np.all((base >= 0) & (base <= 2))
    for k in range(n):
        for new in (field[k] * 1.5, field.max() * 2):
            raised = field.copy()
            raised[k] = new
            score = risk_score(blocking, raised, contrast, distance, 2e-6)
            assert score[k] >= base[k] - 1e-15
            others = np.arange(n) != k
            assert np.all(score[others] <= base[others] + 1e-15)
    # Blocking doubles the score; the closest, highest-field, highest-contrast GB scores 1 or 2.
    flipped = risk_score(~blocking, field, contrast, distance, 2e-6)
    np.testing.assert_allclose(np.where(blocking, base / 2, base), np.where(blocking, flipped,
                                                                             flipped / 2))
    assert risk_score([True], [1.0], [2.0], [0.0], 1.0)[0] == pytest.approx(2.0)
    np.testing.assert_allclose(percentile_rank([3.0, np.nan, 1.0, 2.0]), [1.0, 0.0, 0.0, 0.5])


def test_run_writes_tables_and_map_and_csv_round_trips(tmp_path, capsys):
    data = bicrystal(tmp_path, Z, X, "across")
    case_path = tmp_path / "bi.toml"
    _write_toml(case_path, data)
    out = tmp_path / "out"
    assert main(["run", str(case_path), "-o", str(out), "-q"]) == 0
    assert {"gb_table.csv", "grain_table.csv", "gb_map.png"} <= {p.name for p in out.iterdir()}
    result = netsolve.solve(case_path)
    table = result.gb_table
    with open(out / "gb_table.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(table)
    k = whole_gb(table)
    assert rows[k]["subtype"] == "II b1" and rows[k]["blocking"] == "true"
    assert float(rows[k]["jump_V"]) == pytest.approx(table.jump_V[k], rel=1e-9)
    assert float(rows[k]["normal_x"]) == 1.0 and rows[k]["segment"] == "-1"
    with open(out / "grain_table.csv", newline="") as f:
        grains = list(csv.DictReader(f))
    assert [g["grain_id"] for g in grains] == ["1", "2"]
    assert float(grains[1]["mean_abs_j_A_m2"]) == pytest.approx(
        result.grain_table.mean_abs_j_A_m2[1], rel=1e-9)

    csv_path = tmp_path / "classified.csv"
    assert main(["classify", str(case_path), "-o", str(csv_path)]) == 0
    printed = capsys.readouterr().out
    assert "blocking: G1/G2 (II b1)" in printed
    with open(csv_path, newline="") as f:
        assert list(csv.DictReader(f))[k]["current_A"] == "nan"  # no solve, no metrics


def test_cli_classify_refuses_unoriented_grains(tmp_path, capsys):
    labels = np.ones((12, 8), dtype=np.int32)
    labels[6:] = 2
    data = with_labels(base_case((12, 8), model="isotropic"), labels, tmp_path)
    case_path = tmp_path / "iso.toml"
    _write_toml(case_path, data)
    assert main(["classify", str(case_path), "-o", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "grain ids [1, 2] have none" in err[0]
    assert not (tmp_path / "x.csv").exists()
    out = tmp_path / "out"
    assert main(["run", str(case_path), "-o", str(out), "-q"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"grain_table.csv", "gb_table.csv", "gb_map.png"} <= names
    with open(out / "gb_table.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["grain_b"] == "2" and r["segment"] == "-1")
    # The result keeps the geometry and metrics of a GB it cannot classify.
    assert row["behaviour"] == "undetermined" and row["gb_type"] == "" and row["blocking"] == "false"
    assert row["reason"] == "undetermined: a grain of this GB has no orientation"
    assert row["c_normal_angle_a_deg"] == row["c_normal_angle_b_deg"] == "nan"  # no c-axis
    assert int(row["n_faces"]) == 8 and int(row["n_solved_faces"]) == 8


def _write_toml(path, data: dict) -> None:
    """Minimal TOML writer for the test case dicts (tables, arrays of tables, scalars, lists)."""
    lines = []

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v + '"'
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    for key, table in data.items():
        entries = table if isinstance(table, list) else [table]
        for entry in entries:
            lines.append(f"[[{key}]]" if isinstance(table, list) else f"[{key}]")
            lines.extend(f"{k} = {value(v)}" for k, v in entry.items())
    path.write_text("\n".join(lines) + "\n")


def test_the_applied_field_on_the_solved_network_equals_a_fresh_build(tmp_path):
    from netsolve.analysis.applied import applied_fields
    from netsolve.discretization.tpfa import Network

    data = base_case((36, 28), "tensor", ratio_ip_op=1e3, ratio_ip_gb=20.0, gb_thickness_nm=1.0)
    data["microstructure"] = {"source": "voronoi", "n_grains": 12, "seed": 3,
                              "zro2_fraction": 0.05, "zro2_radius_nm": 20.0}
    result = solve_dict(data, tmp_path)
    # the links are reused: GB resistors and anisotropic conductances in the solved network
    assert isinstance(result.network, Network) and result.network.link_crosses_gb.any()
    fresh = applied_fields(result.case, result.microstructure)
    reused = applied_fields(result.case, result.microstructure, result.network)
    for name in ("potential", "current_density"):
        a, b = getattr(fresh, name), getattr(reused, name)
        assert np.array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(np.nan_to_num(b), np.nan_to_num(a), rtol=1e-9, atol=0)


def test_the_looser_applied_solve_turns_no_field_by_more_than_a_hundredth_degree(
        tmp_path, monkeypatch):
    from netsolve.analysis import applied

    data = base_case((72, 56), "tensor", ratio_ip_op=1e3, ratio_ip_gb=20.0, gb_thickness_nm=1.0)
    data["microstructure"] = {"source": "voronoi", "n_grains": 30, "seed": 3,
                              "zro2_fraction": 0.05, "zro2_radius_nm": 20.0}
    data["solver"] = {"method": "gmg", "discretization": "tpfa", "rtol": 1e-12}
    case = netsolve.case_from_dict(data, base_dir=tmp_path)
    from netsolve.microstructure import build_microstructure

    micro = build_microstructure(case)
    loose = applied.applied_fields(case, micro).electric_field.reshape(-1, 2)
    monkeypatch.setattr(applied, "APPLIED_TOLERANCE", 0.0)  # the case's rtol 1e-12
    tight = applied.applied_fields(case, micro).electric_field.reshape(-1, 2)
    size = np.linalg.norm(tight, axis=1)
    strong = np.isfinite(size) & (size > 0.01 * np.nanmedian(size))
    cos = np.sum(loose[strong] * tight[strong], axis=1) / (
        np.linalg.norm(loose[strong], axis=1) * size[strong])
    assert strong.sum() > 0.9 * np.isfinite(size).sum()
    assert np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).max() <= 1e-2
    assert not np.allclose(loose[strong], tight[strong], rtol=1e-12, atol=0)  # it was looser

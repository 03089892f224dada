"""Orientation maps with the symmetry and layout the file declares: symmetry-aware segmentation,
cubic (isotropic) and uniaxial phases, not-indexed conventions, merging after filling, fill
reports, vendor layouts, grids that are not what the header says, files that are not maps."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import netsolve
from netsolve.api import classify
from netsolve.errors import CaseError, NetsolveWarning
from netsolve.microstructure import Phase, build_microstructure
from netsolve.orientation import bunge_matrix, canonical_c_axis, euler_from_matrix
from netsolve.properties import compute_properties, crystal_tensor, thin_film_tensor
from netsolve.sources.ebsd import write_ang
from netsolve.symmetry import axis_rotation

STEP_NM = 50.0
E_A = np.radians([20.0, 35.0, 50.0])
SIGMA_IP, RATIO = 2.0, 10.0


@pytest.fixture
def orix():
    return pytest.importorskip("orix")


def image(a: np.ndarray) -> np.ndarray:
    """Grid order [x, y] (y up) -> image order [row, column] (row 0 at the top)."""
    return np.swapaxes(a[:, ::-1], 0, 1)


def rotated(euler, axis, angle_deg) -> np.ndarray:
    """Bunge angles of the crystal ``euler`` turned by ``angle_deg`` about a crystal axis."""
    return euler_from_matrix(axis_rotation(axis, np.radians(angle_deg)) @ bunge_matrix(euler))


def case_dict(path, shape, **micro) -> dict:
    return {"grid": {"shape": list(shape), "voxel_size_nm": STEP_NM},
            "microstructure": {"source": "ebsd", "path": str(path), **micro},
            "materials": {"sigma_ip_S_per_m": SIGMA_IP, "ratio_ip_op": RATIO},
            "electrodes": [{"name": "source", "region": "left", "potential_V": 1.0},
                           {"name": "sink", "region": "right", "potential_V": 0.0}],
            "solver": {"method": "direct"}}


def case_of(path, shape, materials=None, **micro):
    data = case_dict(path, shape, **micro)
    data["materials"].update(materials or {})
    return netsolve.case_from_dict(data, path.parent)


def micro_of(path, shape, **micro):
    return build_microstructure(case_of(path, shape, **micro))


def write_grid(path, euler_grid, ci_grid=None, symmetry="32"):
    """Write grid-order Euler angles (nx, ny, 3) as an .ang with the TSL symmetry code."""
    write_ang(path, image(euler_grid), STEP_NM,
              ci=None if ci_grid is None else image(ci_grid), symmetry=symmetry)
    return path


def halves(shape, euler_left, euler_right):
    euler = np.empty(shape + (3,))
    euler[: shape[0] // 2], euler[shape[0] // 2:] = euler_left, euler_right
    return euler


# --- one crystal, bad pixels, merging after filling --------------------------------------------

@pytest.mark.parametrize("bad", ["not_indexed", "low_quality"])
def test_single_crystal_with_a_bad_column_is_one_grain(orix, tmp_path, bad):
    shape = (40, 20)
    rng = np.random.default_rng(1)
    euler = E_A + rng.normal(0.0, np.radians(0.05), shape + (3,))
    ci = np.full(shape, 0.9)
    ci[17] = -1.0 if bad == "not_indexed" else 0.02  # one column across the whole map
    path = write_grid(tmp_path / "crystal.ang", euler, ci)
    keys = {"min_confidence": 0.1} if bad == "low_quality" else {}
    micro = micro_of(path, shape, **keys)
    assert np.unique(micro.labels).tolist() == [1]
    report = micro.source_report
    assert (report["segments"], report["merged_after_filling"], report["grains"]) == (2, 1, 1)
    assert report["filled_fraction"] == {bad: 20 / 800, "total": 20 / 800}
    assert report["not_indexed_fraction"] == (20 / 800 if bad == "not_indexed" else 0.0)
    # The merged grain's mean orientation is the crystal's (both halves' pixels count).
    delta = bunge_matrix(micro.orientations.euler_rad[0]) @ bunge_matrix(E_A).T
    assert np.degrees(np.arccos((np.trace(delta) - 1) / 2)) < 0.05


def test_grains_that_differ_stay_apart_after_filling(orix, tmp_path):
    """Two crystals 30 degrees apart, separated by a not-indexed column: filled, not merged."""
    shape = (21, 8)
    euler = halves(shape, E_A, rotated(E_A, [1, 0, 0], 30.0))
    ci = np.ones(shape)
    ci[10] = -1.0
    micro = micro_of(write_grid(tmp_path / "two.ang", euler, ci), shape)
    assert len(np.unique(micro.labels)) == 2
    assert micro.source_report["merged_after_filling"] == 0


# --- the phase's own symmetry --------------------------------------------------------------------

@pytest.mark.parametrize("code,axis,angle,grains", [
    ("43", [0, 0, 1], 90.0, 1),   # m-3m: 90 degrees about a cube axis is a symmetry
    ("32", [0, 0, 1], 90.0, 2),   # -3m: it is not (30 degrees after the 120-degree fold)
    ("62", [0, 0, 1], 60.0, 1),   # 6/mmm: 60 degrees about c is a symmetry
    ("32", [0, 0, 1], 60.0, 2),   # -3m: it is not
    ("42", [0, 0, 1], 90.0, 1),   # 4/mmm: 90 degrees about c
    ("43", [1, 1, 1], 120.0, 1),  # m-3m: the 3-fold body diagonal
])
def test_segmentation_uses_the_symmetry_of_the_file(orix, tmp_path, code, axis, angle, grains):
    shape = (12, 6)
    euler = halves(shape, E_A, rotated(E_A, axis, angle))
    micro = micro_of(write_grid(tmp_path / "map.ang", euler, symmetry=code), shape)
    assert len(np.unique(micro.labels)) == grains


def test_misorientations_of_the_grain_graph_use_the_file_symmetry(orix, tmp_path):
    from orix.quaternion import Orientation, symmetry

    from netsolve.graph import build_grain_graph

    shape = (12, 6)
    e_b = rotated(E_A, [1, 0, 0], 80.0)
    micro = micro_of(write_grid(tmp_path / "cubic.ang", halves(shape, E_A, e_b), symmetry="43"),
                     shape)
    (a, b, edge), = build_grain_graph(micro).edges(data=True)
    g = bunge_matrix(micro.orientations.euler_rad)
    expected = Orientation.from_matrix(g[0], symmetry.Oh).angle_with(
        Orientation.from_matrix(g[1], symmetry.Oh), degrees=True)[0]
    assert edge["misorientation_deg"] == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(10.0, abs=0.01)  # m-3m folds 80 degrees about a to 10


def test_cubic_phase_conducts_isotropically_and_has_isotropic_gbs(orix, tmp_path):
    shape = (12, 6)
    euler = halves(shape, E_A, rotated(E_A, [1, 2, 3], 40.0))
    path = write_grid(tmp_path / "garnet.ang", euler, symmetry="43")
    case = case_of(path, shape)
    micro = build_microstructure(case)
    assert not micro.uniaxial and len(micro.orientations) == 2
    props = compute_properties(micro, case.materials)
    np.testing.assert_array_equal(props.grain_tensor, np.broadcast_to(SIGMA_IP * np.eye(2),
                                                                      (2, 2, 2)))
    table = classify(case)
    whole = table.grain_b > 0
    assert whole.sum() >= 1
    assert set(table.gb_type[whole]) == {"isotropic"}
    assert set(table.subtype[whole]) == {"isotropic"}
    assert set(table.behaviour[whole]) == {"none"} and not table.blocking.any()
    assert np.isnan(table.psi_deg[whole]).all()
    result = netsolve.solve(case)
    assert result.summary()["microstructure_source"]["crystal_symmetry"] == {
        "phase": "Na-beta-alumina", "laue_class": "m-3m", "crystal_system": "cubic",
        "conduction": "isotropic"}
    # Isotropic grains, the GB resistors kept: the current is below the GB-free value.
    assert result.network.n_gb_links > 0
    no_gb = netsolve.solve(case_of(path, shape, materials={"gb_thickness_nm": 0.0}))
    assert result.total_current_A < no_gb.total_current_A


@pytest.mark.parametrize("code,laue", [("62", "6/mmm"), ("6", "6/m"), ("32", "-3m"),
                                       ("3", "-3"), ("42", "4/mmm")])
def test_uniaxial_phase_conducts_about_its_c_axis(orix, tmp_path, code, laue):
    shape = (8, 5)
    euler = np.broadcast_to(E_A, shape + (3,))
    case = case_of(write_grid(tmp_path / "map.ang", euler, symmetry=code), shape)
    micro = build_microstructure(case)
    assert micro.uniaxial and micro.symmetry.laue == laue
    c = canonical_c_axis(bunge_matrix(E_A)[2])  # crystal z = c, in the sample frame
    np.testing.assert_allclose(micro.orientations.c_axis, [c], atol=1e-5)  # 5-decimal file
    expected = thin_film_tensor(crystal_tensor(micro.orientations.c_axis, SIGMA_IP,
                                               SIGMA_IP / RATIO))
    np.testing.assert_allclose(compute_properties(micro, case.materials).grain_tensor, expected,
                               rtol=1e-12)


def test_orthorhombic_phase_is_refused_unless_isotropic(orix, tmp_path):
    shape = (8, 5)
    path = write_grid(tmp_path / "olivine.ang", np.broadcast_to(E_A, shape + (3,)),
                      symmetry="22")
    with pytest.raises(CaseError) as err:
        micro_of(path, shape)
    assert str(err.value) == (
        "olivine.ang: the conducting phase 'Na-beta-alumina' is orthorhombic (Laue class mmm): "
        "its conductivity tensor has three principal values, but netsolve's crystals conduct "
        "uniaxially (tetragonal, trigonal, hexagonal) or isotropically (cubic); use "
        "materials.conductivity_model = \"isotropic\" or map the phase to another netsolve "
        "phase")
    case = case_of(path, shape, materials={"conductivity_model": "isotropic"})
    micro = build_microstructure(case)
    assert micro.symmetry.laue == "mmm" and not micro.uniaxial


# --- phases without symmetry, unmapped phases ----------------------------------------------------

def test_phase_without_symmetry_is_refused(orix, tmp_path):
    shape = (6, 4)
    path = write_grid(tmp_path / "map.ang", np.broadcast_to(E_A, shape + (3,)), symmetry="99")
    with pytest.raises(CaseError) as err:
        micro_of(path, shape)
    assert str(err.value) == ("map.ang: the conducting phase 'Na-beta-alumina' declares no "
                              "crystal symmetry netsolve can read (TSL Symmetry 99)")


# --- fill report and warning ---------------------------------------------------------------------

def test_large_fills_warn_and_are_recorded(orix, tmp_path):
    shape = (20, 10)
    ci = np.ones(shape)
    ci[:, :2] = -1.0  # 20 % not indexed
    path = write_grid(tmp_path / "holes.ang", np.broadcast_to(E_A, shape + (3,)), ci)
    with pytest.warns(NetsolveWarning) as caught:
        micro = micro_of(path, shape)
    message = ("holes.ang: 20.0 % of the map's pixels were filled from their neighbours "
               "(not_indexed 20.0 %), more than microstructure.fill_warning_fraction = 0.05: "
               "check the map (bad_pixels = \"void\" keeps them out of the grains)")
    assert [str(w.message) for w in caught] == [message]
    assert micro.source_report["warnings"] == [message]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning when the case accepts the fill
        quiet = micro_of(path, shape, fill_warning_fraction=0.25)
    assert quiet.source_report["warnings"] == []
    void = micro_of(path, shape, bad_pixels="void")  # nothing filled: nothing to warn about
    assert void.source_report["void_fraction"] == {"not_indexed": 0.2, "low_quality": 0.0}
    assert (void.phase == Phase.VOID).sum() == 40


# --- layouts ---------------------------------------------------------------------------------

def oim8_text(path, n_columns=13, column_count=None) -> str:
    """A synthetic OIM 8 .ang (COLUMN_COUNT / COLUMN_HEADERS) of a 4 x 3 single crystal whose
    pixel (column 1, row 0) is not indexed (CI -1)."""
    names = ["phi1", "PHI", "phi2", "x", "y", "IQ", "CI", "Phase index", "SEM", "Fit",
             "PRIAS Bottom Strip", "PRIAS Center Square", "PRIAS Top Strip"][:n_columns]
    head = ["# TEM_PIXperUM 1.0", "# Phase 1", "# MaterialName  \tZirconia", "# Symmetry 43",
            "# GRID: SqrGrid", "# XSTEP: 0.05", "# YSTEP: 0.05", "# NCOLS_ODD: 4",
            "# NCOLS_EVEN: 4", "# NROWS: 3", f"# COLUMN_COUNT: {column_count or n_columns}",
            "# COLUMN_HEADERS: " + ", ".join(names), "# HEADER: End"]
    rows = []
    for r in range(3):
        for c in range(4):
            ci = -1.0 if (r, c) == (0, 1) else 0.8
            cells = [*E_A, c * 0.05, r * 0.05, 100.0, ci, 0, 500, 1.0,
                     12.0, 13.0, 14.0][:n_columns]
            rows.append(" ".join(f"{v:.5f}" for v in cells))
    path.write_text("\n".join(head + rows) + "\n")
    return path


def test_oim8_column_headers_find_the_confidence_index(orix, tmp_path):
    micro = micro_of(oim8_text(tmp_path / "oim8.ang"), (4, 3), fill_warning_fraction=0.5)
    assert micro.source_report["not_indexed_fraction"] == 1 / 12
    assert micro.source_report["filled_fraction"] == {"not_indexed": 1 / 12, "total": 1 / 12}
    assert micro.symmetry.laue == "m-3m"
    with pytest.raises(CaseError) as err:
        micro_of(oim8_text(tmp_path / "bad.ang", column_count=14), (4, 3))
    assert str(err.value) == ("bad.ang: the header announces COLUMN_COUNT 14, but the data rows "
                              "have 13 columns")


@pytest.mark.parametrize("n_columns", [7, 8, 9, 10])
def test_tsl_files_of_every_column_count_read_the_confidence_index(orix, tmp_path, n_columns):
    path = oim8_text(tmp_path / "old.ang", n_columns=n_columns)
    text = "\n".join(line for line in path.read_text().splitlines()
                     if "COLUMN_" not in line)  # older files name no columns
    path.write_text(text + "\n")
    micro = micro_of(path, (4, 3), fill_warning_fraction=0.5)
    assert micro.source_report["not_indexed_fraction"] == 1 / 12


def ctf_text(path, rows, decimal_comma=False, job="Grid", laue=9, nx=4, ny=3):
    head = ["Channel Text File", "Prj\ttest", f"JobMode\t{job}", f"XCells\t{nx}",
            f"YCells\t{ny}", "XStep\t0.05", "YStep\t0.05", "Phases\t1",
            f"3.2;3.2;5.2\t90;90;120\tMagnesium\t{laue}\t194",
            "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS"]
    text = "\n".join(head + ["\t".join(str(v) for v in row) for row in rows]) + "\n"
    if decimal_comma:
        text = text.replace("0.05", "0,05").replace(".", ",")
    path.write_text(text)
    return path


def ctf_rows(bands_zero=(), error=(), nx=4, ny=3):
    e = np.round(np.degrees(E_A), 3)
    return [[1, f"{c * 0.05:.4f}", f"{r * 0.05:.4f}", 0 if (c, r) in bands_zero else 8,
             3 if (c, r) in error else 0, *e, 0.5, 120, 200]
            for r in range(ny) for c in range(nx)]


def test_oxford_zero_bands_or_error_code_is_not_indexed(orix, tmp_path):
    rows = ctf_rows(bands_zero={(1, 1)}, error={(2, 2), (1, 1)})
    micro = micro_of(ctf_text(tmp_path / "mg.ctf", rows), (4, 3), fill_warning_fraction=0.5)
    assert micro.source_report["not_indexed_fraction"] == 2 / 12
    assert micro.symmetry.laue == "6/mmm"


def test_decimal_commas_read_like_points(orix, tmp_path):
    rows = ctf_rows(error={(0, 0)})
    point = micro_of(ctf_text(tmp_path / "point.ctf", rows), (4, 3), fill_warning_fraction=0.5)
    comma = micro_of(ctf_text(tmp_path / "comma.ctf", rows, decimal_comma=True), (4, 3),
                     fill_warning_fraction=0.5)
    np.testing.assert_array_equal(comma.labels, point.labels)
    np.testing.assert_allclose(comma.orientations.euler_rad, point.orientations.euler_rad)
    assert comma.source_report["notes"] == ["decimal commas read as decimal points"]


def test_scattered_points_are_not_a_grid(orix, tmp_path):
    path = ctf_text(tmp_path / "points.ctf", ctf_rows(), job="Interactive")
    with pytest.raises(CaseError) as err:
        micro_of(path, (4, 3))
    assert str(err.value) == ("points.ctf: JobMode Interactive: the file holds points measured "
                              "one by one at scattered positions, not a grid map; netsolve "
                              "needs a grid scan (JobMode Grid)")


# --- grids the header does not describe ----------------------------------------------------------

def test_complete_grid_with_a_stale_header_uses_the_coordinates(orix, tmp_path):
    """A map resampled to twice the step that kept its header (8 x 6 at 25 nm): the data's
    complete 4 x 3 grid of 50 nm covers the same area and is used, with a note."""
    path = ctf_text(tmp_path / "coarse.ctf", ctf_rows(), nx=8, ny=6)
    text = path.read_text().replace("XStep\t0.05", "XStep\t0.025").replace("YStep\t0.05",
                                                                           "YStep\t0.025")
    path.write_text(text)
    micro = micro_of(path, (4, 3))
    assert micro.source_report["notes"] == [
        "the header announces 8 x 6 pixels, but the coordinates form a complete 4 x 3 grid of "
        "step 0.05: the coordinates are used"]


def test_grid_cut_at_a_row_boundary_is_truncated(orix, tmp_path):
    path = ctf_text(tmp_path / "cut.ctf", ctf_rows(ny=2), ny=3)  # 2 of 3 rows, same step
    with pytest.raises(CaseError) as err:
        micro_of(path, (4, 2))
    assert str(err.value) == ("cut.ctf: 8 data rows, but the header announces 12 pixels "
                              "(truncated file?)")


def test_one_row_map(orix, tmp_path):
    path = ctf_text(tmp_path / "line.ctf", ctf_rows(nx=6, ny=1), nx=2, ny=3)
    micro = micro_of(path, (6, 1))
    assert micro.labels.shape == (6, 1) and len(micro.orientations) == 1
    assert micro.source_report["notes"] == [
        "the header announces 2 x 3 pixels, but the coordinates form a complete 6 x 1 grid of "
        "step 0.05: the coordinates are used"]


def test_hexagonal_outlier_is_refused_before_allocating(orix, tmp_path):
    """One pixel 1 m away would make a grid of about 10^13 square pixels."""
    path = tmp_path / "hex.ang"
    write_ang(path, np.zeros((5, 6, 3)), STEP_NM, hexagonal=True)
    lines = path.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if not line.startswith("#")) + 3
    cells = lines[k].split()
    cells[3] = "1000000.00000"
    lines[k] = " ".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CaseError) as err:
        micro_of(path, (6, 5), hex_grid="nearest")
    assert str(err.value) == (
        "hex.ang: the hexagonal pixel coordinates span x 0 to 1e+06, y 0 to 0.17321: resampled "
        "to steps of 0.05 that is a 20000001 x 4 grid for 28 pixels (an outlier coordinate?)")


def test_square_outlier_names_the_extent(orix, tmp_path):
    path = write_grid(tmp_path / "map.ang", np.broadcast_to(E_A, (6, 4, 3)))
    lines = path.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    cells = lines[k].split()
    cells[3] = "50000.00000"  # on the grid, a million steps away
    lines[k] = " ".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CaseError) as err:
        micro_of(path, (6, 4))
    assert str(err.value) == ("map.ang: the pixel coordinates span x 0 to 50000, y 0 to 0.15 "
                              "(a 1000001 x 4 grid for 24 pixels): an outlier coordinate, or not "
                              "a grid map")


# --- files that are not maps ---------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_is_refused_without_blocking(orix, tmp_path):
    os.mkfifo(tmp_path / "map.ang")  # opening it for reading would wait for a writer
    with pytest.raises(CaseError) as err:
        micro_of(tmp_path / "map.ang", (4, 3))
    assert str(err.value) == (f"map.ang: orientation map is a named pipe (FIFO), not a regular "
                              f"file ({tmp_path / 'map.ang'})")


def test_directory_is_refused(orix, tmp_path):
    (tmp_path / "map.ctf").mkdir()
    with pytest.raises(CaseError, match=r"^map\.ctf: orientation map is a directory, not a "
                                        r"regular file"):
        micro_of(tmp_path / "map.ctf", (4, 3))


@pytest.mark.parametrize("content,message", [
    (b"", "empty.ang: the file holds no data rows (truncated?)"),
    (b"# only a header\n", "empty.ang: the file holds no data rows (truncated?)"),
    (b"\x00\x01\x02garbage\xff\xfe\n", "empty.ang: data row 1, column 1: '\\x00\\x01\\x02garbage"
                                       "\u00ff\u00fe' is not a number"),
])
def test_malformed_ang_is_one_line(orix, tmp_path, content, message):
    (tmp_path / "empty.ang").write_bytes(content)
    with pytest.raises(CaseError) as err:
        micro_of(tmp_path / "empty.ang", (4, 3))
    assert str(err.value) == message


def test_malformed_hdf5_is_one_line(orix, tmp_path):
    pytest.importorskip("h5py")
    (tmp_path / "map.h5").write_bytes(b"not an HDF5 file at all\n")
    with pytest.raises(CaseError) as err:
        micro_of(tmp_path / "map.h5", (4, 3))
    assert str(err.value).startswith("map.h5: not a readable HDF5 file (")
    assert "\n" not in str(err.value)


# --- other vendors' variants (after orix's test files) -------------------------------------------

def test_astar_ctf_with_rounded_coordinates_keeps_the_header_step(orix, tmp_path):
    """ASTAR writes coordinates with four decimals for a step of 0.00192 um: the grid is found
    and the step is the header's."""
    step = 0.00191999995708466
    nx, ny = 13, 7
    head = ["Channel Text File", "Prj\tscan.res", "Author\tFile created from ACOM RES results",
            "JobMode\tGrid", f"XCells\t{nx}", f"YCells\t{ny}", f"XStep\t{step}",
            f"YStep\t{step}", "Phases\t1", "4.0780;4.0780;4.0780\t90;90;90\tGold\t11\t225",
            "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS"]
    rows = [f"1   {c * step:<8.4f}{r * step:<8.4f}6   0   20.00    35.00    50.00    0.5000  "
            f"30  40" for r in range(ny) for c in range(nx)]
    path = tmp_path / "astar.ctf"
    path.write_text("\n".join(head + rows) + "\n")
    data = case_dict(path, (nx, ny))
    data["grid"]["voxel_size_nm"] = step * 1e3
    micro = build_microstructure(netsolve.case_from_dict(data, tmp_path))
    assert micro.labels.shape == (nx, ny) and len(micro.orientations) == 1
    assert micro.source_report["grid"]["step_nm"] == [step * 1e3, step * 1e3]
    assert micro.source_report["vendor"] == "astar"


def test_bruker_ctf_with_decimal_commas_in_the_header_only(orix, tmp_path):
    rows = ctf_rows(error={(3, 2)})
    path = ctf_text(tmp_path / "bruker.ctf", rows)
    text = path.read_text().replace("XStep\t0.05", "XStep\t0,05").replace("YStep\t0.05",
                                                                         "YStep\t0,05")
    path.write_text(text.replace("3.2;3.2;5.2", "3,2;3,2;5,2"))
    micro = micro_of(path, (4, 3), fill_warning_fraction=0.5)
    assert micro.source_report["not_indexed_fraction"] == 1 / 12
    assert micro.symmetry.laue == "6/mmm" and len(micro.orientations) == 1


def test_bruker_h5ebsd_through_orix(orix, tmp_path):
    """A Bruker Nano h5ebsd file (the layout of orix's test files) read by orix: two crystals
    of a cubic phase (space group 225) and not-indexed pixels (phase 0)."""
    h5py = pytest.importorskip("h5py")
    ny, nx, step = 4, 6, 0.05
    rows, cols = np.indices((ny, nx))
    phase = np.where((rows == 0) & (cols == 0), 0, 1).ravel()
    euler = np.where(cols.ravel()[:, None] < 3, np.degrees(E_A),
                     np.degrees(rotated(E_A, [1, 0, 0], 30.0)))
    with h5py.File(tmp_path / "bruker.h5", "w") as f:
        f.create_dataset("Manufacturer", data=b"Bruker Nano")
        ebsd = f.create_group("Scan 1/EBSD")
        data, header, sem = (ebsd.create_group(k) for k in ("Data", "Header", "SEM"))
        group = header.create_group("Phases").create_group("1")
        group.create_dataset("Formula", data="Ni")
        group.create_dataset("IT", data=225)
        group.create_dataset("LatticeConstants", data=np.array([3.52] * 3 + [90.0] * 3))
        group.create_dataset("Name", data="Nickel")
        group.create_dataset("Setting", data=1)
        group.create_dataset("SpaceGroup", data=b"F m#ovl3m")
        group.create_group("AtomPositions").create_dataset("0", data=b"Ni,0,0,0,1,0")
        sem.create_dataset("IY", data=rows.ravel())
        sem.create_dataset("IX", data=cols.ravel())
        zeros = np.zeros(nx * ny, np.float32)
        for key, values in (("MAD", zeros), ("NIndexedBands", zeros.astype(np.int32)),
                            ("DD", zeros), ("MADPhase", zeros.astype(np.int32)),
                            ("PCX", zeros), ("PCY", zeros), ("RadonQuality", zeros),
                            ("RadonBandCount", zeros.astype(np.int32)),
                            ("Y BEAM", rows.ravel()), ("X BEAM", cols.ravel()),
                            ("Z SAMPLE", zeros.astype(np.int32)),
                            ("Y SAMPLE", rows.ravel() * step),
                            ("X SAMPLE", (cols.ravel() * step)[::-1]), ("Phase", phase),
                            ("phi1", euler[:, 0]), ("PHI", euler[:, 1]), ("phi2", euler[:, 2])):
            data.create_dataset(key, data=values)
        header.create_dataset("NROWS", data=ny, dtype=np.int32)
        header.create_dataset("NCOLS", data=nx, dtype=np.int32)
        header.create_dataset("Grid Type", data=b"isometric")
    micro = micro_of(tmp_path / "bruker.h5", (nx, ny), fill_warning_fraction=0.5)
    assert micro.symmetry.laue == "m-3m" and len(micro.orientations) == 2
    assert micro.source_report["not_indexed_fraction"] == 1 / 24
    assert micro.source_report["conducting_phase"] == "Nickel"


def test_byte_order_mark_and_crlf_line_ends(orix, tmp_path):
    path = write_grid(tmp_path / "plain.ang", np.broadcast_to(E_A, (6, 4, 3)))
    text = path.read_text()
    (tmp_path / "windows.ang").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    plain, windows = micro_of(path, (6, 4)), micro_of(tmp_path / "windows.ang", (6, 4))
    np.testing.assert_array_equal(windows.labels, plain.labels)
    np.testing.assert_array_equal(windows.orientations.euler_rad, plain.orientations.euler_rad)


def test_a_saved_result_keeps_the_file_symmetry_for_re_exports(orix, tmp_path):
    # netsolve export rebuilds the grain graph from the result folder: with the symmetry the
    # run used (m-3m here), not the -3m default.
    from netsolve.export import write_result
    from netsolve.export.data import read_result_dir

    shape = (12, 6)
    e_b = rotated(E_A, [1, 0, 0], 80.0)
    case = case_of(write_grid(tmp_path / "cubic.ang", halves(shape, E_A, e_b), symmetry="43"),
                   shape)
    result = netsolve.solve(case)
    saved = read_result_dir(write_result(result, tmp_path / "out", figures=False, formats=()))
    assert saved.microstructure.symmetry.laue == "m-3m"
    (*_, edge), = saved.graph.edges(data=True)
    (*_, original), = result.graph.edges(data=True)
    assert edge["misorientation_deg"] == pytest.approx(original["misorientation_deg"], abs=1e-9)
    assert edge["misorientation_deg"] == pytest.approx(10.0, abs=0.01)

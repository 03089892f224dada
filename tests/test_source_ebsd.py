"""``source = "ebsd"``: reading .ang/.ctf maps, segmentation with -3m symmetry, bad pixels."""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pytest

import netsolve
from netsolve import cli
from netsolve.errors import CaseError
from netsolve.microstructure import Phase, build_microstructure
from netsolve.orientation import bunge_matrix, c_axis_from_euler, euler_from_matrix
from netsolve.sources.ebsd import write_ang
from netsolve.symmetry import TRIGONAL_32, _rotation, misorientation_angle

REPO = Path(__file__).resolve().parents[1]
STEP_NM = 20.0
SHAPE = (30, 12)
E_A = np.radians([20.0, 35.0, 50.0])
E_B = np.radians([140.0, 70.0, 10.0])
E_D = np.radians([300.0, 120.0, 200.0])
G_B = bunge_matrix(E_B)
G_B2 = TRIGONAL_32[4] @ G_B  # the same crystal as B: must merge with it
G_C = _rotation([1.0, 2.0, 0.5], np.radians(7.0)) @ G_B  # 7 degrees from B


@pytest.fixture
def orix():
    return pytest.importorskip("orix")


def to_image(a: np.ndarray) -> np.ndarray:
    """Grid order [x, y] (y up) -> image order [row, column] (row 0 at the top)."""
    return np.swapaxes(a[:, ::-1], 0, 1)


def known_map(noise_deg: float = 0.0, seed: int = 0):
    """Grid-order Euler angles (30 x 12) and the expected segmentation (threshold 5 deg).

    x 0-9: A, except D in the top-left corner (x 0-3, y 9-11); x 10-19: B (y < 6) and B2 = a
    -3m equivalent of B (y >= 6), one grain; x 20-29: C, 7 degrees from B.
    """
    euler = np.zeros(SHAPE + (3,))
    expected = np.zeros(SHAPE, dtype=int)
    euler[:10], expected[:10] = E_A, 1
    euler[:4, 9:], expected[:4, 9:] = E_D, 4
    euler[10:20, :6] = E_B
    euler[10:20, 6:] = euler_from_matrix(G_B2)
    expected[10:20] = 2
    euler[20:], expected[20:] = euler_from_matrix(G_C), 3
    if noise_deg:
        rng = np.random.default_rng(seed)
        euler += rng.normal(0.0, np.radians(noise_deg), euler.shape)
    return euler, expected


def write_map(path: Path, euler: np.ndarray, ci: np.ndarray | None = None) -> Path:
    write_ang(path, to_image(euler), STEP_NM, ci=None if ci is None else to_image(ci))
    return path


def case_dict(path: Path, shape=SHAPE, voxel_size_nm=STEP_NM, **micro) -> dict:
    return {
        "grid": {"shape": list(shape), "voxel_size_nm": voxel_size_nm},
        "microstructure": {"source": "ebsd", "path": str(path), **micro},
        "electrodes": [{"name": "source", "region": "left", "potential_V": 1.0},
                       {"name": "sink", "region": "right", "potential_V": 0.0}],
        "solver": {"method": "direct"},
    }


def micro_of(path: Path, tmp_path: Path, **kwargs):
    return build_microstructure(netsolve.case_from_dict(case_dict(path, **kwargs), tmp_path))


def assert_same_partition(labels: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to relabelling: a one-to-one map between the label values."""
    pairs = np.unique(np.stack([labels.ravel(), expected.ravel()]), axis=1)
    assert len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1], pairs


def misorientation_deg(euler_a, euler_b) -> np.ndarray:
    return np.degrees(misorientation_angle(bunge_matrix(euler_a), bunge_matrix(euler_b)))


# --- conventions ----------------------------------------------------------------------------

def test_euler_from_matrix_round_trip():
    rng = np.random.default_rng(5)
    euler = rng.random((500, 3)) * [2 * np.pi, np.pi, 2 * np.pi]
    back = euler_from_matrix(bunge_matrix(euler))
    assert np.allclose(bunge_matrix(back), bunge_matrix(euler), atol=1e-12)
    assert np.allclose(back, euler, atol=1e-9)
    for Phi in (0.0, np.pi):  # only phi1 +- phi2 is defined: the matrix must still round-trip
        e = np.array([0.7, Phi, 0.4])
        assert np.allclose(bunge_matrix(euler_from_matrix(bunge_matrix(e))), bunge_matrix(e),
                           atol=1e-12)


def test_orix_reads_the_netsolve_convention(orix, tmp_path):
    """orix's Bunge matrix is netsolve's g (sample -> crystal); its c-axis is g's third row."""
    from orix.quaternion import Rotation
    from orix.vector import Vector3d

    rotation = Rotation.from_euler(E_A)
    assert np.allclose(rotation.to_matrix()[0], bunge_matrix(E_A), atol=1e-12)
    c = (~rotation * Vector3d.zvector()).data[0]
    assert np.allclose(c, bunge_matrix(E_A)[2], atol=1e-12)


# --- segmentation ----------------------------------------------------------------------------

def test_segments_known_grains_and_merges_symmetry_equivalents(orix, tmp_path):
    euler, expected = known_map(noise_deg=0.05)
    micro = micro_of(write_map(tmp_path / "map.ang", euler), tmp_path)
    assert_same_partition(micro.labels, expected)
    assert sorted(np.unique(micro.labels)) == [1, 2, 3, 4]  # ids 1..n by first voxel
    top_left = micro.orientations.grain_ids == micro.labels[0, 11]  # file row 0 = top (y max)
    assert misorientation_deg(micro.orientations.euler_rad[top_left][0], E_D) < 0.1
    # Each grain's mean orientation is the known one (up to -3m symmetry).
    truth = {1: E_A, 2: E_B, 3: euler_from_matrix(G_C), 4: E_D}
    for k, gid in enumerate(micro.orientations.grain_ids):
        where = np.argwhere(micro.labels == gid)[0]
        true_id = expected[tuple(where)]
        assert misorientation_deg(micro.orientations.euler_rad[k], truth[true_id]) < 0.1
        c = bunge_matrix(truth[true_id])[2]
        assert np.allclose(micro.orientations.c_axis[k], c * np.sign(c[2]), atol=1e-2)


def test_threshold_is_respected(orix, tmp_path):
    euler, expected = known_map()
    path = write_map(tmp_path / "map.ang", euler)
    assert_same_partition(micro_of(path, tmp_path, threshold_deg=6.0).labels, expected)
    merged = np.where(expected == 3, 2, expected)  # C is 7 degrees from B
    assert_same_partition(micro_of(path, tmp_path, threshold_deg=8.0).labels, merged)


def test_low_confidence_pixels_merge_or_become_void(orix, tmp_path):
    euler, expected = known_map()
    ci = np.full(SHAPE, 0.8)
    ci[3:5, 2:4] = 0.05  # low confidence inside A
    ci[25, 5] = -1.0  # not indexed, inside C
    path = write_map(tmp_path / "map.ang", euler, ci)

    merged = micro_of(path, tmp_path, min_confidence=0.1)
    assert_same_partition(merged.labels, expected)
    assert (merged.phase == Phase.GRAIN).all()

    void = micro_of(path, tmp_path, min_confidence=0.1, bad_pixels="void")
    bad = ci < 0.1
    assert (void.phase[bad] == Phase.VOID).all() and (void.phase[~bad] == Phase.GRAIN).all()
    assert (void.labels[bad] == -1).all()
    assert_same_partition(void.labels[~bad], expected[~bad])

    declared = micro_of(path, tmp_path, min_confidence=0.1, bad_pixels="void",
                        phases={"void": -7})
    assert (declared.labels[bad] == -7).all()

    keep_low = micro_of(path, tmp_path, bad_pixels="void")  # min_confidence 0: CI 0.05 is kept
    assert (keep_low.phase == Phase.VOID).sum() == 1


def test_small_grains_merge_into_their_neighbour(orix, tmp_path):
    euler, expected = known_map()
    euler[5:7, 3:5] = np.radians([0.0, 90.0, 0.0])  # a 2 x 2 island inside A
    path = write_map(tmp_path / "map.ang", euler)
    island = np.zeros(SHAPE, dtype=bool)
    island[5:7, 3:5] = True
    assert len(np.unique(micro_of(path, tmp_path).labels)) == 5
    micro = micro_of(path, tmp_path, min_grain_voxels=5)
    assert_same_partition(micro.labels, expected)
    a = micro.orientations.grain_ids == micro.labels[0, 0]
    assert misorientation_deg(micro.orientations.euler_rad[a][0], E_A) < 1e-3  # island excluded


def test_reads_ctf(orix, tmp_path):
    euler, expected = known_map()
    mad = np.full(SHAPE, 0.4)
    mad[2, 2] = 2.5
    path = tmp_path / "map.ctf"
    write_ctf(path, to_image(euler), STEP_NM, to_image(mad))
    assert_same_partition(micro_of(path, tmp_path).labels, expected)
    void = micro_of(path, tmp_path, max_mad_deg=1.0, bad_pixels="void")
    assert void.phase[2, 2] == Phase.VOID and (void.phase == Phase.VOID).sum() == 1


def write_ctf(path: Path, euler_rad: np.ndarray, step_nm: float, mad: np.ndarray) -> None:
    """A minimal Oxford .ctf (Euler angles in degrees, coordinates in um)."""
    ny, nx = euler_rad.shape[:2]
    step = step_nm * 1e-3
    lines = ["Channel Text File", "Prj\ttest", "Author\tnetsolve", "JobMode\tGrid",
             f"XCells\t{nx}", f"YCells\t{ny}", f"XStep\t{step}", f"YStep\t{step}",
             "AcqE1\t0", "AcqE2\t0", "AcqE3\t0",
             "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t100\tCoverage\t100",
             "Phases\t1", "5.61;5.61;33.5\t90;90;120\tNa-beta-alumina\t7\t166",
             "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS"]
    deg = np.degrees(np.mod(euler_rad, 2 * np.pi))
    for r in range(ny):
        for c in range(nx):
            e = deg[r, c]
            lines.append(f"1\t{c * step:.4f}\t{r * step:.4f}\t8\t0\t{e[0]:.4f}\t{e[1]:.4f}\t"
                         f"{e[2]:.4f}\t{mad[r, c]:.4f}\t150\t200")
    path.write_text("\n".join(lines) + "\n")


def two_phase_map(tmp_path):
    """The known map with a 3 x 2 ZrO2 (cubic, TSL phase 2) particle inside C."""
    euler, expected = known_map()
    header, data = _data_lines(write_map(tmp_path / "one.ang", euler))
    at = header.index(next(h for h in header if "NumberFamilies" in h)) + 1
    header[at:at] = ["# Phase 2\n", "# MaterialName  \tZrO2\n", "# Formula     \tZrO2\n",
                     "# Symmetry              43\n",
                     "# LatticeConstants      5.1 5.1 5.1 90 90 90\n"]
    zro2 = np.zeros(SHAPE, dtype=bool)
    zro2[24:27, 2:4] = True  # inside C
    rows = to_image(zro2).ravel()
    data = [" ".join(d.split()[:7] + ["2"] + d.split()[8:]) + "\n" if z else d
            for d, z in zip(data, rows)]
    path = tmp_path / "two.ang"
    path.write_text("".join(header + data))
    return path, zro2, expected


def test_multi_phase_map_needs_a_phase_map(orix, tmp_path):
    path, zro2, expected = two_phase_map(tmp_path)
    with pytest.raises(CaseError) as err:
        micro_of(path, tmp_path)
    assert str(err.value) == (
        "two.ang: the map holds several phases 'Na-beta-alumina' (98.3 %), 'ZrO2' (1.67 %): "
        "map each to a netsolve phase in [microstructure.phase_map] (grain, zro2, backbone, "
        "void or fill), e.g. { \"Na-beta-alumina\" = \"grain\", \"ZrO2\" = \"void\" }")
    with pytest.raises(CaseError) as err:  # phase = NAME maps that phase only
        micro_of(path, tmp_path, phase="Na-beta-alumina")
    assert str(err.value) == (
        "two.ang: phase(s) 'ZrO2' (1.67 %) of the map are not mapped: add them to "
        "[microstructure.phase_map] (grain, zro2, backbone, void or fill)")
    with pytest.raises(CaseError) as err:
        micro_of(path, tmp_path, phase_map={"Alumina": "grain", "ZrO2": "zro2"})
    assert str(err.value) == ("two.ang: no phase named 'Alumina' in the file (phases: "
                              "'Na-beta-alumina', 'ZrO2')")
    with pytest.raises(CaseError, match=r"two\.ang: exactly one phase must map to \"grain\" "
                                        r"\(the conducting crystal phase\), got none"):
        micro_of(path, tmp_path, phase_map={"Na-beta-alumina": "zro2", "ZrO2": "zro2"})


@pytest.mark.parametrize("target,phase", [("zro2", Phase.ZRO2), ("void", Phase.VOID),
                                          ("backbone", Phase.BACKBONE), ("fill", Phase.GRAIN)])
def test_phase_map_turns_file_phases_into_netsolve_phases(orix, tmp_path, target, phase):
    path, zro2, expected = two_phase_map(tmp_path)
    micro = micro_of(path, tmp_path, phase_map={"Na-beta-alumina": "grain", "ZrO2": target})
    assert (micro.phase[zro2] == phase).all() and (micro.phase[~zro2] == Phase.GRAIN).all()
    grains = micro.phase == Phase.GRAIN
    assert_same_partition(micro.labels[grains], expected[grains])
    filled = micro.source_report["filled_fraction"]
    assert filled == ({"phase ZrO2": 6 / 360, "total": 6 / 360} if target == "fill"
                      else {"total": 0.0})
    assert micro.source_report["crystal_symmetry"] == {
        "phase": "Na-beta-alumina", "laue_class": "-3m", "crystal_system": "trigonal",
        "conduction": "uniaxial"}


def test_shipped_demo_has_six_grains(orix):
    case = netsolve.load_case(REPO / "cases" / "ebsd_demo.toml")
    micro = build_microstructure(case)
    assert len(micro.orientations) == 6 and (micro.phase == Phase.GRAIN).all()


# --- errors ----------------------------------------------------------------------------------

@pytest.fixture
def good_ang(orix, tmp_path):
    return write_map(tmp_path / "map.ang", known_map()[0])


def _data_lines(path: Path) -> tuple[list[str], list[str]]:
    lines = path.read_text().splitlines(keepends=True)
    header = [line for line in lines if line.startswith("#")]
    return header, lines[len(header):]


@pytest.mark.parametrize("damage,words", [
    ("cut_mid_line", ["columns instead of 10", "truncated"]),
    ("cut_rows", ["data rows", "header announces 360", "truncated"]),
    ("header_only", ["no data rows"]),
    ("five_columns", ["the data rows have 5 columns", "at least 6 (phi1 PHI phi2 x y IQ"]),
])
def test_damaged_ang_is_a_clear_error(good_ang, tmp_path, damage, words):
    header, data = _data_lines(good_ang)
    bad = tmp_path / "bad.ang"
    if damage == "cut_mid_line":
        text = "".join(header + data)
        bad.write_text(text[: len("".join(header)) + len("".join(data[:100])) + 17])
    elif damage == "cut_rows":
        bad.write_text("".join(header + data[:100]))
    elif damage == "header_only":
        bad.write_text("".join(header))
    else:
        bad.write_text("".join(header + [" ".join(d.split()[:5]) + "\n" for d in data]))
    with pytest.raises(CaseError) as err:
        micro_of(bad, tmp_path)
    message = str(err.value)
    assert message.startswith("bad.ang: ")
    for word in words:
        assert word in message


def test_step_and_shape_must_match_the_grid(good_ang, tmp_path):
    with pytest.raises(CaseError, match=r"map\.ang: the map's x step is 20 nm, but "
                                        r"grid\.voxel_size_nm is 25"):
        micro_of(good_ang, tmp_path, voxel_size_nm=25.0)
    with pytest.raises(CaseError, match=r"map\.ang: the map has 30 x 12 pixels \(x by y\), but "
                                        r"grid\.shape is \[12, 30\]"):
        micro_of(good_ang, tmp_path, shape=(12, 30))


@pytest.mark.parametrize("micro,words", [
    ({"min_confidence": 0.1, "path": "map.ctf"}, ["min_confidence", ".ang (and HDF5) maps"]),
    ({"max_mad_deg": 1.0}, ["max_mad_deg", ".ctf (and HDF5) maps"]),
    ({"orientation": "pixel"}, ["orientation", "'grain_mean', 'voxel'"]),
    ({"euler_frame": "tsl"}, ["euler_frame", "'tsl_setting1'"]),
    ({"euler_frame": "map", "euler_rotation_deg": 90.0}, ["either", "not both"]),
    ({"euler_rotation_deg": 90.0}, ["euler_rotation_axis", "go together"]),
    ({"euler_rotation_axis": [0, 0, 0], "euler_rotation_deg": 9.0}, ["must not be [0, 0, 0]"]),
    ({"bad_pixels": "drop"}, ["bad_pixels", "'merge', 'void'"]),
    ({"threshold_deg": 0.0}, ["threshold_deg", "> 0"]),
    ({"path": "map.png"}, ["map.png", ".ang, .ctf or HDF5"]),
    ({"phase_map": {"Na-beta-alumina": "ceramic"}}, ["phase_map.Na-beta-alumina", "'ceramic'",
                                                     "grain, zro2, backbone, void, fill"]),
    ({"phase_map": {"A": "grain"}, "phase": "A"}, ["either 'microstructure.phase' or "
                                                   "[microstructure.phase_map]"]),
    ({"fill_warning_fraction": 1.5}, ["fill_warning_fraction", "[0, 1]"]),
    ({"treshold_deg": 5.0}, ["treshold_deg", "threshold_deg"]),
])
def test_option_errors(tmp_path, micro, words):
    data = case_dict(tmp_path / "map.ang")
    data["microstructure"].update(micro)
    with pytest.raises(CaseError) as err:
        netsolve.case_from_dict(data, tmp_path)
    for word in words:
        assert word in str(err.value)


def test_needs_a_2d_grid(tmp_path):
    with pytest.raises(CaseError, match="needs a 2D grid"):
        netsolve.case_from_dict(case_dict(tmp_path / "map.ang", shape=(4, 4, 4)), tmp_path)


def test_cli_exit_status_2_for_a_bad_ang(good_ang, tmp_path, capsys):
    header, data = _data_lines(good_ang)
    (tmp_path / "bad.ang").write_text("".join(header + data[:-5]))
    case = tmp_path / "case.toml"
    case.write_text(f"""
[grid]
shape = [{SHAPE[0]}, {SHAPE[1]}]
voxel_size_nm = {STEP_NM}

[microstructure]
source = "ebsd"
path = "bad.ang"

[[electrodes]]
region = "left"
potential_V = 1.0

[[electrodes]]
region = "right"
potential_V = 0.0
""")
    status = cli.main(["check", str(case)])
    err = capsys.readouterr().err
    assert status == 2
    assert "bad.ang" in err and "truncated" in err and len(err.strip().splitlines()) == 1


def test_missing_orix_names_the_extra(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_orix(name, *args, **kwargs):
        if name == "orix" or name.startswith("orix."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_orix)
    path = write_map(tmp_path / "map.ang", known_map()[0])
    with pytest.raises(CaseError, match=r"pip install 'netsolve\[ebsd\]' \(orix, GPL-3\)"):
        micro_of(path, tmp_path)


# --- Euler reference frames ----------------------------------------------------------------

S = np.sqrt(0.5)
# A crystal whose c-axis is (S, 0, S) in the file's Euler frame (phi1 = 90, Phi = 45), and where
# each preset puts it in netsolve's frame, derived by hand from MTEX's import rotations:
# Euler frame -> map frame (x along, y down the map): setting 1 = 180 deg about x+y ((x, y, z) ->
# (y, x, -z)), setting 2 about x-y ((x, y, z) -> (-y, -x, -z)), setting 3 / Oxford about x,
# setting 4 about y; map frame -> netsolve (y up, z out): 180 deg about x.
FRAME_CASES = [
    ("netsolve", [S, 0, S]),
    ("map", [-S, 0, S]),  # (S, 0, -S), canonical c_z >= 0
    ("tsl_setting1", [0, -S, S]),
    ("tsl_setting2", [0, S, S]),
    ("tsl_setting3", [S, 0, S]),
    ("tsl_setting4", [-S, 0, S]),
    ("oxford", [S, 0, S]),
]
E_TILTED = np.radians([90.0, 45.0, 0.0])


@pytest.mark.parametrize("frame,expected", FRAME_CASES)
def test_euler_frame_presets_put_the_c_axis_where_mtex_does(orix, tmp_path, frame, expected):
    euler = np.broadcast_to(E_TILTED, SHAPE + (3,))
    micro = micro_of(write_map(tmp_path / "map.ang", euler), tmp_path, euler_frame=frame)
    assert np.allclose(micro.orientations.c_axis, [expected], atol=1e-5)  # 5-decimal file


def test_euler_frame_of_a_ctf_file(orix, tmp_path):
    """Oxford's Euler frame is y up, z out: netsolve's own; 'map' turns it about x."""
    path = tmp_path / "map.ctf"
    write_ctf(path, to_image(np.broadcast_to(E_TILTED, SHAPE + (3,))), STEP_NM,
              to_image(np.zeros(SHAPE)))
    oxford = micro_of(path, tmp_path, euler_frame="oxford")
    assert np.allclose(oxford.orientations.c_axis, [[S, 0, S]], atol=1e-6)
    assert np.allclose(micro_of(path, tmp_path, euler_frame="map").orientations.c_axis,
                       [[-S, 0, S]], atol=1e-6)


@pytest.mark.parametrize("axis,angle,expected", [
    ([0, 0, 1], 90.0, [0, S, S]),  # (S, 0, S) turned +90 deg about z
    ([1, 0, 0], -30.0, [S, S / 2, S * np.sqrt(0.75)]),  # about x: y = S sin 30, z = S cos 30
])
def test_explicit_euler_rotation(orix, tmp_path, axis, angle, expected):
    euler = np.broadcast_to(E_TILTED, SHAPE + (3,))
    micro = micro_of(write_map(tmp_path / "map.ang", euler), tmp_path,
                     euler_rotation_axis=axis, euler_rotation_deg=angle)
    assert np.allclose(micro.orientations.c_axis, [expected], atol=1e-5)  # 5-decimal file


@pytest.mark.parametrize("frame", [name for name, _ in FRAME_CASES])
def test_vendor_frame_round_trip_keeps_the_segmentation_and_the_c_axis(orix, tmp_path, frame):
    """Grains written in a vendor frame (g_file = g_netsolve R) read back with that frame give
    the netsolve-frame orientations, and the -3m segmentation does not depend on the frame."""
    from netsolve.sources.ebsd import EULER_FRAMES

    euler, expected = known_map(noise_deg=0.05)
    g_file = bunge_matrix(euler) @ EULER_FRAMES[frame]
    micro = micro_of(write_map(tmp_path / "map.ang", euler_from_matrix(g_file)), tmp_path,
                     euler_frame=frame)
    assert_same_partition(micro.labels, expected)
    reference = micro_of(write_map(tmp_path / "ref.ang", euler), tmp_path)
    assert np.allclose(micro.orientations.c_axis, reference.orientations.c_axis, atol=1e-6)


@pytest.mark.parametrize("value,words", [
    ("nan", ["data row 7 ", "Euler angles (nan, ", "not a number"]),
    ("200.0", ["data row 7 ", "outside [-6.28319, 6.28319] rad", "degrees in a radians file?"]),
])
def test_nan_or_out_of_range_euler_angles_are_errors(good_ang, tmp_path, value, words):
    header, data = _data_lines(good_ang)
    data[6] = " ".join([value] + data[6].split()[1:]) + "\n"
    bad = tmp_path / "bad.ang"
    bad.write_text("".join(header + data))
    with pytest.raises(CaseError) as err:
        micro_of(bad, tmp_path)
    assert str(err.value).startswith("bad.ang: ")
    for word in words:
        assert word in str(err.value)


def test_not_indexed_pixels_may_carry_the_4_pi_marker(orix, tmp_path):
    euler, expected = known_map()
    ci = np.ones(SHAPE)
    ci[3, 3] = -1.0
    path = write_map(tmp_path / "map.ang", euler, ci)
    header, data = _data_lines(path)
    row = int(np.flatnonzero(to_image(ci).ravel() < 0)[0])
    data[row] = " ".join(["12.56637"] * 3 + data[row].split()[3:]) + "\n"
    path.write_text("".join(header + data))
    assert_same_partition(micro_of(path, tmp_path).labels, expected)


# --- hexagonal grids (TSL "HexGrid"), resampled to square pixels on request -------------------

HEX_ROWS, HEX_COLS = 9, 14  # file rows (y down) and pixels of the even rows


def hex_points(rows: int = HEX_ROWS, cols: int = HEX_COLS, step: float = STEP_NM):
    """(x, y) of a TSL hexagonal grid in nm, in file order, and the kept (row, col) pixels."""
    r, c = np.indices((rows, cols))
    keep = ~((r % 2 == 1) & (c == cols - 1))
    x = (c + 0.5 * (r % 2)) * step
    y = r * step * np.sqrt(3) / 2
    return x[keep], y[keep], keep


def write_hex(path: Path, euler_image: np.ndarray, **kwargs) -> Path:
    write_ang(path, euler_image, STEP_NM, hexagonal=True, **kwargs)
    return path


def hex_case(path: Path, **micro) -> dict:
    ny = int(np.rint((HEX_ROWS - 1) * np.sqrt(3) / 2)) + 1
    return case_dict(path, shape=(HEX_COLS, ny), hex_grid="nearest", **micro)


def test_hexagonal_grid_needs_hex_grid_nearest(orix, tmp_path):
    path = write_hex(tmp_path / "hex.ang", np.zeros((HEX_ROWS, HEX_COLS, 3)))
    with pytest.raises(CaseError) as err:
        micro_of(path, tmp_path)
    message = str(err.value)
    assert message.startswith("hex.ang: ")
    assert "hexagonal pixel grid" in message and 'hex_grid = "nearest"' in message


def test_hexagonal_grid_resamples_to_the_nearest_pixel(orix, tmp_path):
    """Every square pixel gets the orientation of its nearest hexagonal pixel (checked by
    brute force; a pixel equidistant to several may take any of them)."""
    from netsolve.sources.ebsd import place_on_grid, read_raw

    rng = np.random.default_rng(3)
    euler = rng.uniform(0.0, 1.0, (HEX_ROWS, HEX_COLS, 3)) * np.array([2 * np.pi, np.pi,
                                                                       2 * np.pi])
    path = write_hex(tmp_path / "hex.ang", euler)
    raw = read_raw(path)
    placed = place_on_grid(raw, "nearest")
    x, y, keep = hex_points()
    nx, ny = placed.shape
    assert (nx, ny) == (HEX_COLS, int(np.rint(y.max() / STEP_NM)) + 1)
    assert placed.step_nm == pytest.approx((STEP_NM, STEP_NM), rel=1e-4)
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    cx, cy = i.ravel() * STEP_NM, (ny - 1 - j.ravel()) * STEP_NM  # grid y up, file y down
    distance = np.hypot(cx[:, None] - x[None], cy[:, None] - y[None])
    nearest = distance <= distance.min(axis=1, keepdims=True) + 1e-3 * STEP_NM
    written = bunge_matrix(np.mod(euler[keep], 2 * np.pi))
    got = bunge_matrix(raw.euler_rad[placed.order])
    match = np.abs(got[:, None] - written[None]).max(axis=(2, 3)) < 1e-4
    assert (match & nearest).any(axis=1).all()
    assert (match.sum(axis=1) == 1).all()  # the random orientations are all distinct


def test_hexagonal_map_segments_like_its_square_resampling(orix, tmp_path):
    """Two grains split between file rows 4 and 5: a square pixel belongs to the grain of its
    nearest hexagonal pixel (brute force; ties only between pixels of one row), and each grain
    keeps its orientation."""
    euler = np.zeros((HEX_ROWS, HEX_COLS, 3))
    euler[:5] = E_A
    euler[5:] = E_B
    path = write_hex(tmp_path / "hex.ang", euler)
    micro = build_microstructure(netsolve.case_from_dict(hex_case(path), tmp_path))
    x, y, keep = hex_points()
    row = np.indices((HEX_ROWS, HEX_COLS))[0][keep]
    nx, ny = micro.labels.shape
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    cx, cy = i.ravel() * STEP_NM, (ny - 1 - j.ravel()) * STEP_NM
    nearest = np.argmin(np.hypot(cx[:, None] - x[None], cy[:, None] - y[None]), axis=1)
    expected = np.where(row[nearest] <= 4, 1, 2).reshape(nx, ny)
    assert 0 < (expected == 1).sum() < expected.size
    assert_same_partition(micro.labels, expected)
    top_grain = micro.labels[0, -1]  # grid y up: the file's row 0 is at the top
    assert np.allclose(micro.orientations.c_axis[top_grain - 1],
                       c_axis_from_euler(E_A[None])[0], atol=1e-4)


def test_truncated_hexagonal_map_is_a_clear_error(orix, tmp_path):
    path = write_hex(tmp_path / "hex.ang", np.zeros((HEX_ROWS, HEX_COLS, 3)))
    header, data = _data_lines(path)
    (tmp_path / "cut.ang").write_text("".join(header + data[:-3]))
    announced = (HEX_ROWS + 1) // 2 * HEX_COLS + HEX_ROWS // 2 * (HEX_COLS - 1)
    with pytest.raises(CaseError, match=rf"cut\.ang: {announced - 3} data rows, but the header "
                                        rf"announces {announced} pixels"):
        micro_of(tmp_path / "cut.ang", tmp_path, **{"hex_grid": "nearest"})


def test_bad_pixel_inside_a_mapped_phase_becomes_that_phase(orix, tmp_path):
    path, zro2, expected = two_phase_map(tmp_path)
    header, data = _data_lines(path)
    inside = np.zeros(SHAPE, dtype=bool)
    inside[25, 2] = True  # three of its four neighbours are ZrO2
    row = int(np.flatnonzero(to_image(inside).ravel())[0])
    cells = data[row].split()
    data[row] = " ".join(cells[:6] + ["-1.000"] + cells[7:]) + "\n"
    path.write_text("".join(header + data))
    micro = micro_of(path, tmp_path, phase_map={"Na-beta-alumina": "grain", "ZrO2": "zro2"})
    assert (micro.phase[zro2] == Phase.ZRO2).all() and (micro.phase[~zro2] == Phase.GRAIN).all()
    assert micro.source_report["filled_fraction"] == {"not_indexed": 1 / 360, "total": 1 / 360}


def test_other_sources_report_the_assumed_symmetry():
    data = case_dict(Path("unused.ang"))
    data["microstructure"] = {"source": "voronoi", "n_grains": 4, "seed": 1}
    micro = build_microstructure(netsolve.case_from_dict(data))
    assert micro.source_report == {"source": "voronoi", "crystal_symmetry": {
        "phase": "Na-beta''-alumina (assumed)", "laue_class": "-3m",
        "crystal_system": "trigonal", "conduction": "uniaxial"}}
    assert micro.uniaxial

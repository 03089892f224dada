"""Real vendor orientation maps (EDAX TSL / OIM 8, EDAX HDF5, Oxford Channel 5 / AZtec,
NanoMegas ASTAR), read from ``shared/real-ebsd`` next to the clone (provenance and licences in
its SOURCES.tsv; the files are not part of the repository). Each file loads with the grid,
phases and symmetry it declares, or is refused with the precise reason.

The expected facts are computed here independently of netsolve's reader: the raw columns are
parsed with NumPy / h5py by this test, not-indexed pixels counted by each vendor's convention,
and the grains segmented with orix's own misorientation (``Orientation.angle_with``) under the
file's symmetry.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import netsolve
from netsolve.errors import CaseError, NetsolveWarning
from netsolve.microstructure import Phase, build_microstructure
from netsolve.orientation import bunge_matrix


def _real_folder() -> Path | None:
    """``shared/real-ebsd`` next to the clone (or next to the folder holding the clone, for a
    worktree of it)."""
    here = Path(__file__).resolve()
    for up in here.parents[2:4]:  # next to the clone, or to the folder of a worktree
        folder = up / "shared" / "real-ebsd"
        if folder.is_dir():
            return folder
    return None


REAL = _real_folder()
pytestmark = pytest.mark.skipif(REAL is None, reason="shared/real-ebsd is not next to the clone")
THRESHOLD_DEG = 5.0


@pytest.fixture(scope="module")
def orix():
    return pytest.importorskip("orix")


# --- the raw columns, read by this test --------------------------------------------------------

def raw_ang(name, confidence=6, phase=7):
    """(Euler rad, x, y, not indexed (confidence < 0), phase column) of an .ang file."""
    a = np.loadtxt(REAL / name, comments="#", ndmin=2)
    return a[:, :3], a[:, 3], a[:, 4], a[:, confidence] < 0, a[:, phase]


def raw_ctf(name):
    """Oxford: not indexed = phase 0, no bands or an error code (decimal commas allowed)."""
    lines = (REAL / name).read_text(errors="replace").splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("Phase\tX\tY")) + 1
    a = np.array([[float(v.replace(",", ".")) for v in line.split()] for line in lines[start:]
                  if line.strip()])
    not_indexed = (a[:, 0] == 0) | (a[:, 3] == 0) | (a[:, 4] != 0)
    return np.radians(a[:, 5:8]), a[:, 1], a[:, 2], not_indexed, a[:, 0]


def raw_edax_h5(name):
    h5py = pytest.importorskip("h5py")
    with h5py.File(REAL / name, "r") as f:
        data = f["Scan_1/EBSD/Data"]
        euler = np.column_stack([data[k][()] for k in ("Phi1", "Phi", "Phi2")]).astype(float)
        return (euler, data["X Position"][()].astype(float), data["Y Position"][()].astype(float),
                data["CI"][()] < 0, data["Phase"][()].astype(float))


def orix_segments(euler, x, y, good, point_group) -> int:
    """Grains of the good pixels: face neighbours closer than the threshold (orix's
    misorientation with the file's point group), connected components."""
    from orix.quaternion import Orientation

    ux, uy = np.unique(x), np.unique(y)
    grid = -np.ones((len(uy), len(ux)), int)
    grid[np.searchsorted(uy, y), np.searchsorted(ux, x)] = np.arange(len(x))
    orientation = Orientation.from_euler(euler, point_group)
    rows, cols = [], []
    for a, b in ((grid[:, :-1], grid[:, 1:]), (grid[:-1], grid[1:])):
        a, b = a.ravel(), b.ravel()
        keep = good[a] & good[b]
        a, b = a[keep], b[keep]
        close = orientation[a].angle_with(orientation[b], degrees=True) < THRESHOLD_DEG
        rows.append(a[close])
        cols.append(b[close])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(x),) * 2)
    component = connected_components(graph, directed=False)[1]
    return len(np.unique(component[good]))


# --- the files ---------------------------------------------------------------------------------

# file: (reader of the raw columns, grid shape, step nm, conducting phase and its phase value,
# orix point group name of the conducting phase, Laue class, phase_map, expected notes)
LOADS = {
    "ebsdlib_Out_Of_Order.ang": (raw_ang, (189, 201), 250.0, ("Nickel", 0), "Oh", "m-3m",
                                 None, []),
    "mtex_3dData_S00.ANG": (raw_ang, (35, 40), 400.0, ("Iron bcc (old)", 0), "Oh", "m-3m",
                            None, ["the header announces 140 x 160 pixels, but the coordinates "
                                   "form a complete 35 x 40 grid of step 0.4: the coordinates "
                                   "are used"]),
    "mtex_ACOM.ang": (raw_ang, (15, 15), 2.0, ("Phase 22474944", 1), "Oh", "m-3m", None, []),
    "kba_Pink100.ang": (raw_ang, (11, 11), 100.0, ("Titanium (Alpha)", 0), "D6h", "6/mmm",
                        None, []),
    "pymicro_Ti64-200x200.ang": (raw_ang, (200, 200), 499.9, ("Titanium", 1), "D6h", "6/mmm",
                                 None, []),
    "ebsdimage_scan1.ang": (raw_ang, (25, 1), 70.0, ("Tungsten Carbide", 1), "D6h", "6/mmm",
                            {"Tungsten Carbide": "grain", "Nickel": "zro2"},
                            ["the header announces 5 x 5 pixels, but the coordinates form a "
                             "complete 25 x 1 grid of step 0.07: the coordinates are used"]),
    "mtex_twins.ctf": (raw_ctf, (167, 137), 300.0, ("Magnesium", 1), "D6h", "6/mmm", None, []),
    "ebsdlib_Test_European_1.ctf": (raw_ctf, (40, 5), 500.0, ("Zirc-alloy4", 1), "D6h",
                                    "6/mmm", None, ["decimal commas read as decimal points"]),
    "ebsdtools_test_ctfFile.ctf": (raw_ctf, (103, 84), 200.0, ("Iron Alpha PH", 2), "Oh",
                                   "m-3m", {"Iron Alpha PH": "grain",
                                            "iron Gamma Cr_Fe_Ni_": "void"}, []),
    "ebsdlib_EdaxAngOnly.h5": (raw_edax_h5, (186, 151), 1500.0, ("Nickel", 0), "Oh", "m-3m",
                               None, []),
}


def real_case(name, shape, step_nm, **micro):
    return netsolve.case_from_dict({
        "grid": {"shape": list(shape), "voxel_size_nm": step_nm},
        "microstructure": {"source": "ebsd", "path": str(REAL / name),
                           "fill_warning_fraction": 1.0, **micro},
        "electrodes": [{"name": "a", "region": "left", "potential_V": 1.0},
                       {"name": "b", "region": "right", "potential_V": 0.0}]})


_LOADED: dict[str, object] = {}


def loaded(name):
    if name not in _LOADED:
        _, shape, step, _, _, _, phase_map, _ = LOADS[name]
        keys = {"phase_map": phase_map} if phase_map else {}
        _LOADED[name] = build_microstructure(real_case(name, shape, step, **keys))
    return _LOADED[name]


@pytest.mark.parametrize("name", sorted(LOADS))
def test_real_map_loads_with_its_symmetry_and_grid(orix, name):
    reader, shape, step, (phase, _), _, laue, _, notes = LOADS[name]
    micro = loaded(name)
    report = micro.source_report
    assert micro.labels.shape == shape and report["grid"]["shape"] == list(shape)
    step_y = None if shape[1] == 1 else pytest.approx(step, rel=1e-9)  # one row: no y step
    assert report["grid"]["step_nm"] == [pytest.approx(step, rel=1e-9), step_y]
    assert report["crystal_symmetry"]["phase"] == phase
    assert report["crystal_symmetry"]["laue_class"] == laue
    assert report["crystal_symmetry"]["conduction"] == ("isotropic" if laue == "m-3m"
                                                        else "uniaxial")
    assert micro.uniaxial == (laue != "m-3m")
    assert report["notes"] == notes


@pytest.mark.parametrize("name", sorted(LOADS))
def test_real_map_not_indexed_pixels_follow_the_vendor(orix, name):
    reader = LOADS[name][0]
    _, _, _, not_indexed, _ = reader(name)
    report = loaded(name).source_report
    assert report["not_indexed_fraction"] * not_indexed.size == pytest.approx(
        not_indexed.sum(), abs=1e-6)


@pytest.mark.parametrize("name", sorted(LOADS))
def test_real_map_segments_like_orix_with_the_file_symmetry(orix, name):
    from orix.quaternion import symmetry

    reader, _, _, (_, phase_value), point_group, _, _, _ = LOADS[name]
    euler, x, y, not_indexed, phase = reader(name)
    good = ~not_indexed & (phase == phase_value)
    expected = orix_segments(euler, x, y, good, getattr(symmetry, point_group))
    micro = loaded(name)
    report = micro.source_report
    assert report["segments"] == expected
    assert report["small_grains_merged"] == 0  # min_grain_voxels = 1
    assert report["grains"] == expected - report["merged_after_filling"]
    assert len(np.unique(micro.labels[micro.labels > 0])) == report["grains"]


@pytest.mark.parametrize("name", sorted(LOADS))
def test_real_map_grains_left_after_merging_are_apart(orix, name):
    """No two neighbouring grains are closer than the threshold (orix's misorientation of the
    grain means): filling left no ~0-degree boundary behind."""
    from orix.quaternion import Orientation, symmetry

    point_group = getattr(symmetry, LOADS[name][4])
    micro = loaded(name)
    labels = micro.labels
    pairs = []
    for a, b in ((labels[:-1], labels[1:]), (labels[:, :-1], labels[:, 1:])):
        keep = (a > 0) & (b > 0) & (a != b)
        pairs.append(np.stack([np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])]))
    pairs = np.unique(np.concatenate(pairs, axis=1), axis=1)
    if pairs.size == 0:
        assert len(micro.orientations) == 1
        return
    mean = Orientation.from_matrix(bunge_matrix(micro.orientations.euler_rad), point_group)
    angle = mean[pairs[0] - 1].angle_with(mean[pairs[1] - 1], degrees=True)
    assert angle.min() >= THRESHOLD_DEG


def test_phases_of_a_two_phase_map(orix):
    micro = loaded("ebsdtools_test_ctfFile.ctf")
    _, _, _, not_indexed, phase = raw_ctf("ebsdtools_test_ctfFile.ctf")
    fractions = {p["name"]: p["pixel_fraction"] for p in micro.source_report["phases"]
                 if p["pixel_fraction"] > 0}
    indexed = ~not_indexed
    assert fractions == {"iron Gamma Cr_Fe_Ni_": pytest.approx((indexed & (phase == 1)).mean()),
                         "Iron Alpha PH": pytest.approx((indexed & (phase == 2)).mean())}
    # The austenite became void; the not-indexed pixels were filled from their neighbours.
    assert (micro.phase == Phase.VOID).sum() >= (indexed & (phase == 1)).sum()
    scan = loaded("ebsdimage_scan1.ang")
    assert (scan.phase == Phase.ZRO2).sum() >= 11 and (scan.phase == Phase.GRAIN).sum() >= 11


def test_unmapped_phases_are_listed_with_their_fractions(orix):
    with pytest.raises(CaseError) as err:
        build_microstructure(real_case("ebsdtools_test_ctfFile.ctf", (103, 84), 200.0,
                                       phase_map={"Iron Alpha PH": "grain"}))
    assert str(err.value) == (
        "ebsdtools_test_ctfFile.ctf: phase(s) 'iron Gamma Cr_Fe_Ni_' (11.4 %) of the map are "
        "not mapped: add them to [microstructure.phase_map] (grain, zro2, backbone, void or "
        "fill)")


def test_scattered_point_file_is_refused(orix):
    with pytest.raises(CaseError) as err:
        build_microstructure(real_case("mtex_eclogite.ctf", (10, 10), 100.0))
    assert str(err.value) == (
        "mtex_eclogite.ctf: JobMode Interactive: the file holds 617 points measured one by one "
        "at scattered positions, not a grid map; netsolve needs a grid scan (JobMode Grid)")


def test_a_quarter_filled_map_warns(orix):
    case = real_case("mtex_3dData_S00.ANG", (35, 40), 400.0, fill_warning_fraction=0.05)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        micro = build_microstructure(case)
    messages = [str(w.message) for w in caught if w.category is NetsolveWarning]
    assert messages == micro.source_report["warnings"] == [
        "mtex_3dData_S00.ANG: 24.4 % of the map's pixels were filled from their neighbours "
        "(not_indexed 24.4 %), more than microstructure.fill_warning_fraction = 0.05: check the "
        "map (bad_pixels = \"void\" keeps them out of the grains)"]


def test_inspect_a_map_before_writing_a_case(orix):
    from netsolve.sources.ebsd import inspect_map

    twins = inspect_map(REAL / "mtex_twins.ctf")
    micro = loaded("mtex_twins.ctf")
    assert twins["grid"] == {"shape": [167, 137], "step_nm": [300.0, 300.0],
                             "resampled_from_hexagonal": False}
    assert twins["crystal_symmetry"] == micro.source_report["crystal_symmetry"]
    assert twins["grains"] == len(micro.orientations)
    assert twins["not_indexed_fraction"] == micro.source_report["not_indexed_fraction"]
    two = inspect_map(REAL / "ebsdtools_test_ctfFile.ctf")
    assert two["grains"] is None
    assert two["no_grains_because"].startswith("ebsdtools_test_ctfFile.ctf: the map holds "
                                               "several phases")
    assert {p["name"]: round(p["pixel_fraction"], 3) for p in two["phases"]
            if p["pixel_fraction"]} == {"iron Gamma Cr_Fe_Ni_": 0.114, "Iron Alpha PH": 0.713}


def test_inspect_command_names_the_phases_and_the_phase_map_picks_one(orix, capsys):
    """`netsolve inspect` on a two-phase file: no grains and the phase_map hint; with
    --phase-map the API's grain count and the conducting phase's symmetry."""
    from netsolve import cli
    from netsolve.sources.ebsd import inspect_map

    def run(argv):
        status = cli.main([str(a) for a in argv])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    path = REAL / "ebsdtools_test_ctfFile.ctf"
    status, out, err = run(["inspect", path, "-q"])
    assert status == 0, err
    assert "grains: none segmented: " in out and "[microstructure.phase_map]" in out
    mapping = {"iron Gamma Cr_Fe_Ni_": "void", "Iron Alpha PH": "grain"}
    status, out, err = run(["inspect", path, "-q"]
                           + [a for k, v in mapping.items() for a in ("--phase-map", f"{k}={v}")])
    assert status == 0, err
    report = inspect_map(path, mapping)
    assert f"grains: {report['grains']} (" in out
    assert "'Iron Alpha PH', Laue class m-3m (cubic: isotropic conduction" in out

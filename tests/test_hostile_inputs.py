"""Hostile inputs (issue 13): a representative sample of every class of the corpus of
``validation/adversarial.py`` (``validation/hostile_corpus.py``) through the CLI. Each must exit
with status 2 and one line ``netsolve: error: ...`` naming the file or key and what is wrong,
and write nothing (or, for the corpus's valid inputs, succeed). FIFOs and inputs that crashed a parser run in a child
process with a timeout, so that a hang or a crash fails one test instead of the whole run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netsolve import cli
from netsolve.errors import CaseError

sys.path.insert(0, str(Path(__file__).parents[1] / "validation"))
import hostile_corpus as corpus  # noqa: E402  (the corpus of validation/adversarial.py)

SAMPLES = {  # class: names of corpus entries
    "case values": ["voxel_size_nm = 1e-300", "thickness_nm = 1e-300", "sigma_ip_S_per_m = 1e-300",
                    "sigma_ip_S_per_m = 9223372036854775807", "ratio_ip_gb = 1e12",
                    "gb_thickness_nm = 1e-300", "asr_ct_ohm_m2 = inf",
                    "contrast: ratio_ip_op 1e6 with backbone 1e-6",
                    "contrast: ASR 1e3 ohm m^2 with sigma 1e6", "potentials 1e9 and 1e9 + 1",
                    "potentials 1e5 and 1e5 + 1e-4", "0 A and one fixed potential",
                    "0 A everywhere, equal potentials", "current 1e-300 A",
                    "voronoi mean_grain_size_nm = 1e-300", "band_width_nm = 1e300",
                    "--max-memory nan", "valid: probe electrode at 0 A",
                    "valid: potentials 1e6 and -1e6, sigma 1e-15"],
    "TOML": ["deeply nested arrays", "deeply nested inline tables", "40 nested tables",
             "invalid UTF-8 in a comment", "17 MiB of comments", "a 5000-digit integer"],
    "special files": [f"{role} is a {kind}" for role in corpus.SPECIAL_ROLES
                      for kind in ("directory", "symlink loop")]
                     + ["label .npy is a character device", "image .png is a dangling link"],
    ".npy": ["labels: empty file", "labels: data cut", "labels: object dtype (pickle)",
             "labels: header claims 1e12 elements", "labels: label 2^32 + 1 in int64",
             "labels: uint64 maximum", "labels: format version 3.0", "labels: header of 70 kB",
             "mask: object dtype (pickle)", "mask: an .npz",
             "valid: Fortran-order big-endian labels"],
    ".npz": ["npz: truncated", "npz: bad CRC", "npz: encrypted member", "npz: raw pickle member",
             "npz: object-dtype member", "npz: declares 4 GB uncompressed",
             "npz: bomb: 50 MB of zeros after the array", "npz: unsupported compression",
             "valid: npz"],
    "PNG/TIFF": ["png: truncated", "png: bad CRC", "png: header claims 100000 x 100000",
                 "png: header claims 10000 x 10000", "png: zTXt bomb", "tiff: truncated",
                 "tiff: float pages", "tiff: three pages on a 2D grid"],
    "CSV/WKT": ["orientations: 5000-digit id", "orientations: id 2^31",
                "orientations: 200 kB field", "orientations: invalid UTF-8", "orientations: 300 MB",
                "polygon csv: id 2^40", "polygon csv: WKT nested 5000 deep",
                "polygon csv: WKT coordinate 1e400"],
    "GeoJSON": ["geojson: arrays nested 100000 deep", "geojson: properties nested 40 deep",
                "geojson: 5000-digit id", "geojson: id 2^40", "geojson: NaN coordinate"],
    "WKT keys": ["region polygon: not WKT", "electrode polygon: coordinate 1e400",
                 "region polygon: a line"],
    "huge sizes": ["run grid 100000^2", "check grid 5000^3", "run grid 2^62 x 2^62",
                   "grid 2000^2 with --max-memory 1", "grid 2000^2 with max_memory_GB = 1"],
}
# Before the fix these blocked forever (FIFO) or crashed the interpreter (GEOS recursion).
IN_CHILD = {"special files": [f"{role} is a FIFO" for role in (
                "case file", "label .npy", "image .png", "orientation .csv",
                "polygons .geojson", "electrode mask", "orientation map .ang")],
            "WKT keys": ["region polygon: nested 100000 deep",
                         "electrode polygon: nested 100000 deep"]}


def _entries(samples: dict[str, list[str]]):
    generators = dict(corpus.CLASSES)
    for name, wanted in samples.items():
        entries = {entry.name: entry for entry in generators[name]()}
        yield pytest.param(name, [entries[w] for w in wanted], id=name)


def _argv(entry, folder: Path, case: Path) -> list[str]:
    out = ["-q", "-o", str(folder / "out")] if entry.command == "run" else []
    return [entry.command, str(case), *out, *entry.args]


@pytest.mark.parametrize("name, entries", list(_entries(SAMPLES)))
def test_hostile_input_is_one_line_status_2_and_writes_nothing(tmp_path, capsys, name, entries):
    for k, entry in enumerate(entries):
        folder = tmp_path / str(k)
        folder.mkdir()
        case = entry.build(folder) or folder / "case.toml"
        before = set(os.listdir(folder))
        status = cli.main(_argv(entry, folder, case))
        err = capsys.readouterr().err
        if entry.valid:
            assert status == 0, (entry.name, err)
            continue
        assert status == 2, (entry.name, err)
        assert err.count("\n") == 1 and err.startswith("netsolve: error: "), (entry.name, err)
        assert corpus.judge(entry, status, err, before, set(os.listdir(folder))) == "", \
            (entry.name, err)


@pytest.mark.parametrize("name, entries", list(_entries(IN_CHILD)))
def test_fifo_and_parser_crash_fail_at_once_in_a_child(tmp_path, name, entries):
    for k, entry in enumerate(entries):
        folder = tmp_path / str(k)
        folder.mkdir()
        case = entry.build(folder) or folder / "case.toml"
        before = set(os.listdir(folder))
        try:
            child = subprocess.run([sys.executable, "-m", "netsolve.cli",
                                    *_argv(entry, folder, case)], capture_output=True,
                                   text=True, timeout=60, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{entry.name}: the CLI blocked")
        assert child.returncode == 2, (entry.name, child.stderr)
        assert corpus.judge(entry, child.returncode, child.stderr, before,
                                 set(os.listdir(folder))) == "", (entry.name, child.stderr)


# --------------------------------------------------------------------------- the pieces


def test_label_ids_beyond_int32_are_an_error_never_a_cast():
    from netsolve.sources.labels import label_int32

    values = np.array([[1, 2], [2**31 - 1, -(2**31)]], dtype=np.int64)
    assert label_int32(values, "m.npy").tolist() == values.tolist()  # the full range is kept
    values[1, 0] = 2**32 + 1  # would wrap onto grain 1
    with pytest.raises(CaseError, match=r"^m\.npy: label value 4294967297 \(at voxel \[1, 0\]\) "
                                        r"is outside the int32 range"):
        label_int32(values, "m.npy")
    with pytest.raises(CaseError, match="label value 18446744073709551615"):
        label_int32(np.full((2, 2), 2**64 - 1, np.uint64), "m.npy")


def test_conductance_contrast_is_the_ratio_of_the_extreme_links():
    from netsolve.case import Electrode, Materials, Region
    from netsolve.ranges import conductance_contrast

    materials = Materials(sigma_ip=2.0, ratio_ip_op=1000.0, ratio_ip_gb=20.0,
                          gb_thickness_m=1e-9, ratio_ip_backbone=250.0,
                          conductivity_model="tensor", electrode_link="half_voxel",
                          asr_ct_ohm_m2=0.0)
    left = Electrode("a", Region("edge", edge="left"), 1.0, None, 0.0)
    right = Electrode("b", Region("edge", edge="right"), 0.0, None, 1e-3)
    h = 10e-9
    contrast, high, low = conductance_contrast(materials, (left, right), h)
    # largest: an electrode half-link into sigma_ip, 1 / (1/2) = 2; smallest: electrode b's
    # contact through its ASR into the weakest voxel, 1 / (0.5 * 1000 + ASR sigma_ip / h)
    assert contrast == pytest.approx(2.0 * (0.5 * 1000 + 1e-3 * 2.0 / h), rel=1e-12)
    assert high == "electrode 'a'" and low == "electrode 'b' contact (asr_ohm_m2)"


def test_memory_limit_comes_from_the_cli_then_the_case_then_meminfo(tmp_path, monkeypatch):
    from netsolve import resources

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   1500000 kB\n")
    monkeypatch.setattr(resources, "MEMINFO", meminfo)
    assert resources.available_bytes() == 1500000 * 1024
    assert resources.memory_limit(2.0, 3.0) == (2e9, "set by --max-memory")
    assert resources.memory_limit(None, 3.0) == (3e9, "set by [solver] max_memory_GB")
    assert resources.memory_limit(None, None) == (1500000 * 1024, "available (MemAvailable)")
    monkeypatch.setattr(resources, "MEMINFO", tmp_path / "missing")
    assert resources.memory_limit(None, None)[0] is None


def test_memory_estimate_grows_with_the_grid_and_the_direct_solver_most():
    from netsolve.resources import estimate_bytes

    for ndim, disc in ((2, "tpfa"), (2, "fem"), (3, "tpfa"), (3, "fem")):
        sizes = [estimate_bytes((n,) * ndim, disc, "amg") for n in (64, 128, 256)]
        assert sizes[0] < sizes[1] < sizes[2]
        big = (2048,) * 2 if ndim == 2 else (128,) * 3
        assert estimate_bytes(big, disc, "direct") > estimate_bytes(big, disc, "amg") \
            > estimate_bytes(big, disc, "cg")
    # auto picks amg on a large grid but may still pick direct once ZrO2 removes unknowns
    assert estimate_bytes((2048, 2048), "tpfa", "auto") == estimate_bytes((2048, 2048), "tpfa",
                                                                          "amg")


@pytest.mark.parametrize("command", ["run", "check", "compare", "sweep", "graph", "classify"])
def test_every_command_refuses_a_case_beyond_max_memory_before_writing(tmp_path, capsys, command):
    from netsolve.resources import BASE_BYTES, estimate_bytes

    (tmp_path / "case.toml").write_text(corpus.case_text())
    extra = {"sweep": ["--param", "materials.sigma_ip_S_per_m=1,2"], "run": ["-q"]}
    out = [] if command == "check" else ["-o", str(tmp_path / "out")]
    status = cli.main([command, str(tmp_path / "case.toml"), *out, *extra.get(command, []),
                       "--max-memory", "0.001"])
    err = capsys.readouterr().err
    estimate = estimate_bytes(corpus.SHAPE, "tpfa", "auto")
    if command == "compare":  # both discretizations held at once, one interpreter
        estimate += estimate_bytes(corpus.SHAPE, "fem", "auto") - BASE_BYTES[2]
    assert status == 2 and err.count("\n") == 1, err
    assert err.startswith("netsolve: error: case.toml: grid [12, 8] (") and \
        f"needs about {estimate / 1e9:.3g} GB of memory, more than the 0.001 GB set by " \
        f"--max-memory" in err, err
    assert sorted(os.listdir(tmp_path)) == ["case.toml"]


def test_check_prints_the_memory_estimate(tmp_path, capsys):
    from netsolve.resources import estimate_bytes

    (tmp_path / "case.toml").write_text(corpus.case_text())
    assert cli.main(["check", str(tmp_path / "case.toml"), "--max-memory", "100"]) == 0
    estimate = estimate_bytes(corpus.SHAPE, "tpfa", "auto")
    assert f"  run: about {estimate / 1e9:.3g} GB peak memory (100 GB set by --max-memory)" \
        in capsys.readouterr().out

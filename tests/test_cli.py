"""The command line: results written atomically, user errors as one line with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from netsolve import cli

GOOD = """
[grid]
shape = [12, 6]
voxel_size_nm = 10.0

[microstructure]
source = "labels"
path = "grains.npy"
phases = { zro2 = -1 }

[[grains]]
id = 1
euler_deg = [0.0, 90.0, 0.0]

[[grains]]
id = 2
theta_deg = 30.0
alpha_deg = 60.0

[materials]
sigma_ip_S_per_m = 1.0

[[electrodes]]
name = "source"
region = "left"
potential_V = 1.0

[[electrodes]]
name = "sink"
region = "right"
potential_V = 0.0
"""


@pytest.fixture
def workdir(tmp_path):
    labels = np.ones((12, 6), dtype=np.int32)
    labels[6:] = 2
    labels[3, 2] = -1
    np.save(tmp_path / "grains.npy", labels)
    (tmp_path / "case.toml").write_text(GOOD)
    return tmp_path


def run(argv, capsys):
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_run_writes_the_result_contract(workdir, capsys):
    out = workdir / "result"
    status, stdout, err = run(["run", workdir / "case.toml", "-o", out], capsys)
    assert status == 0, err
    summary = json.loads((out / "summary.json").read_text())
    for key in ("electrode_currents_A", "total_current_A", "effective_resistance_ohm",
                "current_balance_rel", "n_voxels", "n_unknowns", "n_floating_voxels",
                "netsolve_version"):
        assert key in summary
    assert set(summary["solver"]) >= {"method", "iterations", "residual_rel", "time_s"}
    currents = summary["electrode_currents_A"]
    assert currents["source"] > 0 and currents["sink"] == pytest.approx(-currents["source"])
    assert summary["n_voxels"] == 72 and summary["n_unknowns"] == 71
    with np.load(out / "fields.npz", allow_pickle=False) as f:
        assert f["potential"].shape == (12, 6)
        assert f["current_density"].shape == (12, 6, 2)
        assert f["electric_field"].shape == (12, 6, 2)
        assert (f["labels"] == np.load(workdir / "grains.npy")).all()
        assert summary["effective_resistance_ohm"] == pytest.approx(
            1.0 / summary["total_current_A"])
    png = (out / "current_density.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "I = " in stdout and "R_eff" in stdout
    # A second run refuses to replace the result without --overwrite, replaces it with it and
    # leaves no temporary directories.
    status, _, err = run(["run", workdir / "case.toml", "-o", out, "-q"], capsys)
    assert status == 2 and err == (f"netsolve: error: output directory {out} holds a netsolve "
                                   f"result; pass --overwrite to replace it (files netsolve did "
                                   f"not write there are kept)\n")
    assert run(["run", workdir / "case.toml", "-o", out, "-q", "--overwrite"], capsys)[0] == 0
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".")) == []


def test_check_validates_without_writing(workdir, capsys):
    status, stdout, _ = run(["check", workdir / "case.toml"], capsys)
    assert status == 0
    assert "OK" in stdout and "2 grains" in stdout and "71 unknowns" in stdout
    assert not (workdir / "out").exists()


def test_interrupted_run_leaves_nothing(workdir, capsys, monkeypatch):
    import netsolve.plot

    def explode(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(netsolve.plot, "plot_current_density", explode)
    status, _, err = run(["run", workdir / "case.toml", "-o", workdir / "res"], capsys)
    assert status == 130
    assert not (workdir / "res").exists()
    assert [p for p in workdir.iterdir() if p.name.startswith(".res")] == []


def test_refuses_to_overwrite_a_folder_that_is_not_a_result(workdir, capsys):
    precious = workdir / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    status, _, err = run(["run", workdir / "case.toml", "-o", precious], capsys)
    assert status == 2 and "not a netsolve result" in err
    assert (precious / "thesis.tex").read_text() == "keep me"


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


BAD_CASES = [
    # (edit old -> new, words the message must contain)
    (("voxel_size_nm = 10.0", ""), ["grid.voxel_size_nm", "missing"]),
    (("voxel_size_nm = 10.0", "voxel_size_mn = 10.0"), ["grid.voxel_size_mn", "voxel_size_nm"]),
    (("sigma_ip_S_per_m = 1.0", "sigma_ip_S_per_m = -1.0"), ["sigma_ip_S_per_m", "in [1e-15, 1e+08] S/m"]),
    (("sigma_ip_S_per_m = 1.0", "sigma_ip_S_per_m = \"one\""), ["sigma_ip_S_per_m", "number"]),
    (("sigma_ip_S_per_m = 1.0", "ratio_ip_op = 0.0"), ["ratio_ip_op", "in [1e-08, 1e+08]"]),
    (("sigma_ip_S_per_m = 1.0", "ratio_ip_gb = nan"), ["ratio_ip_gb", "finite"]),
    (("euler_deg = [0.0, 90.0, 0.0]", "euler_deg = [0.0, nan, 0.0]"), ["euler_deg", "finite"]),
    (("potential_V = 0.0", "potential_V = inf"), ["potential_V", "finite"]),
    (("shape = [12, 6]", "shape = [12, 7]"), ["grains.npy", "shape", "[12, 7]"]),
    (("[[grains]]\nid = 2\ntheta_deg = 30.0\nalpha_deg = 60.0\n", ""), ["grain ids [2]", "orientation"]),
    (("region = \"right\"", "region = \"rigth\""), ["rigth", "right"]),
    (("region = \"right\"", "region = { box = [[12, 14], [0, 6]] }"), ["box", "outside the grid"]),
    (("[[electrodes]]\nname = \"sink\"\nregion = \"right\"\npotential_V = 0.0\n", ""),
     ["at least two"]),
    (("conductivity_model", "x"), []),  # placeholder, replaced below
    (("source = \"labels\"", "source = \"lables\""), ["microstructure.source", "labels"]),
    (("phases = { zro2 = -1 }", "phases = { zirconia = -1 }"), ["zirconia", "zro2"]),
    (("phases = { zro2 = -1 }", ""), ["[-1]", "microstructure.phases"]),
    (("potential_V = 0.0", "potential_V = 1.0"), ["no current"]),
    (("euler_deg = [0.0, 90.0, 0.0]", "euler_deg = [0.0, 90.0, 0.0]\nc_axis = [0, 0, 1]"),
     ["exactly one orientation"]),
    (("[grid]", "[gird]\n[grid]"), ["gird", "grid"]),
]
BAD_CASES[13] = (("sigma_ip_S_per_m = 1.0", "conductivity_model = \"tensors\""),
                 ["conductivity_model", "tensor"])


@pytest.mark.parametrize("edit,words", BAD_CASES, ids=[w[0] if w else "x" for _, w in BAD_CASES])
def test_bad_case_files(workdir, capsys, edit, words):
    (workdir / "bad.toml").write_text(_edit(GOOD, *edit))
    out = workdir / "never"
    status, stdout, err = run(["run", workdir / "bad.toml", "-o", out], capsys)
    assert status == 2
    assert err.startswith("netsolve: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    assert not out.exists()
    assert status == run(["check", workdir / "bad.toml"], capsys)[0]


def test_electrode_only_on_zro2(workdir, capsys):
    labels = np.load(workdir / "grains.npy")
    labels[-1, :] = -1
    np.save(workdir / "grains.npy", labels)
    status, _, err = run(["run", workdir / "case.toml", "-o", workdir / "r"], capsys)
    assert status == 2 and "'sink'" in err and "touches no conducting voxel" in err


def test_pickled_label_file_is_refused(workdir, capsys):
    np.save(workdir / "grains.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    status, _, err = run(["check", workdir / "case.toml"], capsys)
    assert status == 2 and "grains.npy" in err


def test_missing_and_invalid_case_files(tmp_path, capsys):
    status, _, err = run(["check", tmp_path / "nope.toml"], capsys)
    assert status == 2 and "nope.toml" in err and "not found" in err
    (tmp_path / "broken.toml").write_text("[grid\nshape = 3")
    status, _, err = run(["check", tmp_path / "broken.toml"], capsys)
    assert status == 2 and "broken.toml" in err and "TOML" in err


def test_installed_entry_point_exit_status(workdir):
    # The real console script: a user error gives status 2 and no traceback.
    (workdir / "bad.toml").write_text(_edit(GOOD, "sigma_ip_S_per_m = 1.0", "sigma_ip_S_per_m = 0"))
    exe = Path(sys.executable).with_name("netsolve")
    proc = subprocess.run([str(exe), "run", str(workdir / "bad.toml")], capture_output=True,
                          text=True, cwd=workdir)
    assert proc.returncode == 2
    assert "sigma_ip_S_per_m" in proc.stderr and "Traceback" not in proc.stderr
    assert not (workdir / "out").exists()
    ok = subprocess.run([str(exe), "run", str(workdir / "case.toml"), "-q"], capture_output=True,
                        text=True, cwd=workdir)
    assert ok.returncode == 0 and ok.stdout == ""
    assert (workdir / "out" / "case" / "summary.json").exists()


MORE_BAD = [
    ("[[electrodes]]\nname = \"sink\"", "[[electrode]]\nname = \"sink\"", ["'electrode'", "electrodes"]),
    ("region = \"right\"", "region = \"left\"", ["'source' and 'sink'", "face 'left'"]),
]


@pytest.mark.parametrize("old,new,words", MORE_BAD)
def test_more_bad_case_files(workdir, capsys, old, new, words):
    (workdir / "bad.toml").write_text(_edit(GOOD, old, new))
    status, _, err = run(["check", workdir / "bad.toml"], capsys)
    assert status == 2 and err.count("\n") == 1
    for word in words:
        assert word in err, (word, err)


@pytest.mark.parametrize("line,key", [("seed = -1", "seed"), ("n_grains = 100000", "n_grains"),
                                      ("zro2_radius_nm = 1.0", "zro2_radius_nm")])
def test_bad_voronoi_settings(tmp_path, capsys, line, key):
    settings = {"seed": "seed = 0", "n_grains": "n_grains = 5", "zro2_radius_nm": "zro2_radius_nm = 30.0"}
    settings[key] = line
    text = textwrap.dedent(f"""
        [grid]
        shape = [20, 10]
        voxel_size_nm = 10.0
        [microstructure]
        source = "voronoi"
        zro2_fraction = 0.1
        {chr(10).join(settings.values())}
        [[electrodes]]
        region = "left"
        potential_V = 1.0
        [[electrodes]]
        region = "right"
        potential_V = 0.0
        """)
    (tmp_path / "v.toml").write_text(text)
    status, _, err = run(["check", tmp_path / "v.toml"], capsys)
    assert status == 2 and key in err and "Traceback" not in err


def test_run_summary_names_the_blocking_and_riskiest_gbs(tmp_path, capsys):
    """The two GB lines of `netsolve run` agree with the gb_table.csv it writes: every
    blocking whole GB with its subtype, most at risk first, and the five highest risk scores."""
    import csv

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "result"
    status, stdout, err = run(["run", repo / "cases" / "polycrystal_demo.toml", "-o", out],
                              capsys)
    assert status == 0, err
    with open(out / "gb_table.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["segment"] == "-1" and r["other_phase"] == "grain"]
    rows.sort(key=lambda r: -float(r["risk_score"]))  # stable: ties keep the table order
    name = [f"G{r['grain_a']}/G{r['grain_b']}" for r in rows]
    blocking = [f"{n} {r['subtype']}" for n, r in zip(name, rows) if r["blocking"] == "true"]
    assert blocking  # the demo has blocking GBs, so the line lists something
    lines = {line.split(":")[0].strip(): line.split(":", 1)[1].strip()
             for line in stdout.splitlines() if line.startswith("  GBs:")
             or line.startswith("  highest")}
    assert lines["GBs"] == (f"{len(rows)} between grains, {len(blocking)} blocking: "
                            + ", ".join(blocking))
    assert lines["highest Na+ accumulation risk"] == ", ".join(
        f"{n} ({float(r['risk_score']):.2f})" for n, r in zip(name[:5], rows[:5]))

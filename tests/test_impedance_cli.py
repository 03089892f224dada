"""``netsolve impedance``: the result directory, and bad input (one line, exit 2, nothing
written)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.constants import epsilon_0

from netsolve import cli

H = 10e-9
CASE = """
[grid]
shape = [12, 4]
voxel_size_nm = 10.0

[microstructure]
source = "uniform"

[materials]
sigma_ip_S_per_m = 2.0
conductivity_model = "isotropic"
eps_r_bulk = 15.0

[[electrodes]]
name = "source"
region = "left"
potential_V = 1.0

[[electrodes]]
name = "sink"
region = "right"
potential_V = 0.0

[impedance]
f_min_Hz = 1e7
f_max_Hz = 1e12
points_per_decade = 4
"""


def test_impedance_writes_spectrum_shares_drt_and_figures(tmp_path, capsys):
    (tmp_path / "case.toml").write_text(CASE)
    out = tmp_path / "out"
    assert cli.main(["impedance", str(tmp_path / "case.toml"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "arc summit at" in printed and f"wrote {out}" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "bode.png", "case.toml", "contributions_gb.csv", "contributions_grain.csv", "drt.csv",
        "drt.png", "impedance.csv", "netsolve_manifest.json", "nyquist.png", "summary.json"]
    with open(out / "impedance.csv") as handle:
        rows = list(csv.DictReader(handle))
    f = np.array([float(r["frequency_Hz"]) for r in rows])
    z = np.array([float(r["z_real_ohm"]) + 1j * float(r["z_imag_ohm"]) for r in rows])
    resistance = 12 * H / (2.0 * 4 * H * H)
    tau = epsilon_0 * 15.0 / 2.0
    np.testing.assert_allclose(z, resistance / (1 + 2j * np.pi * f * tau), rtol=1e-11)
    np.testing.assert_allclose([float(r["z_abs_ohm"]) for r in rows], np.abs(z), rtol=1e-14)
    np.testing.assert_allclose([float(r["phase_deg"]) for r in rows],
                               np.degrees(np.angle(z)), rtol=1e-14)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["terminals"] == {"A": ["source"], "B": ["sink"]}
    assert summary["n_frequencies"] == len(rows) == 21
    assert summary["kramers_kronig"]["passed"] is True
    # the fitted arc: exactly the slab's RC, though 4 points per decade miss its summit
    (arc,) = summary["arc_fit"]["arcs"]
    assert arc["frequency_Hz"] == pytest.approx(1 / (2 * np.pi * tau), rel=1e-9)
    assert arc["resistance_ohm"] == pytest.approx(resistance, rel=1e-9)
    assert arc["origin"] == "bulk" and summary["arc_fit"]["residual_rel"] < 1e-9
    assert "arc fitted (one RC): summit" in printed
    with open(out / "contributions_grain.csv") as handle:
        grains = list(csv.DictReader(handle))
    assert grains[0]["part"] == "G1" and float(grains[0]["share_imag"]) == pytest.approx(1.0)
    # a second run is refused without --overwrite, and replaces netsolve's files with it
    assert cli.main(["impedance", str(tmp_path / "case.toml"), "-o", str(out),
                     "--no-plots"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    (out / "notes.txt").write_text("mine")
    assert cli.main(["impedance", str(tmp_path / "case.toml"), "-o", str(out),
                     "--no-plots", "--overwrite"]) == 0
    assert not (out / "nyquist.png").exists()
    assert (out / "notes.txt").read_text() == "mine"


BAD = {
    "inverted frequency range": (("f_min_Hz = 1e7", "f_min_Hz = 1e13"),
                                 ["'impedance.f_min_Hz' = 1e+13 must be below",
                                  "empty or inverted"]),
    "equal frequencies": (("f_max_Hz = 1e12", "f_max_Hz = 1e7"), ["empty or inverted"]),
    "zero frequency": (("f_min_Hz = 1e7", "f_min_Hz = 0"), ["'impedance.f_min_Hz' must be > 0"]),
    "unknown terminal": (("points_per_decade = 4", "points_per_decade = 4\nterminals = "
                          "[\"source\", \"snk\"]"),
                         ["'impedance.terminals': 'snk' is not an electrode",
                          "did you mean 'sink'"]),
    "terminal twice": (("points_per_decade = 4", "points_per_decade = 4\nterminals = "
                        "[\"source\", [\"sink\", \"source\"]]"),
                       ["electrode 'source' is in both terminals"]),
    "zero permittivity": (("eps_r_bulk = 15.0", "eps_r_bulk = 0"),
                          ["'materials.eps_r_bulk' must be > 0"]),
    "negative GB permittivity": (("eps_r_bulk = 15.0", "eps_r_gb = -3"),
                                 ["'materials.eps_r_gb' must be > 0"]),
    "negative double layer": (("eps_r_bulk = 15.0", "double_layer_F_per_m2 = -1"),
                              ["'materials.double_layer_F_per_m2' must be >= 0"]),
    "unknown key": (("points_per_decade = 4", "points_per_decade = 4\nf_max_hz = 3"),
                    ["unknown key 'impedance.f_max_hz'", "did you mean 'f_max_Hz'"]),
    "finite elements": (("[impedance]", "[solver]\ndiscretization = \"fem\"\n\n[impedance]"),
                        ["computed on the two-point network"]),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_impedance_input_is_one_line_status_2_and_writes_nothing(tmp_path, capsys, name):
    (old, new), words = BAD[name]
    assert old in CASE
    (tmp_path / "case.toml").write_text(CASE.replace(old, new))
    status = cli.main(["impedance", str(tmp_path / "case.toml"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("netsolve: error: case.toml: "), err
    for word in words:
        assert word in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.toml"]  # nothing written


def test_check_reads_the_impedance_table(tmp_path, capsys):
    (tmp_path / "case.toml").write_text(CASE.replace("f_max_Hz = 1e12", "f_max_Hz = 1e5"))
    assert cli.main(["check", str(tmp_path / "case.toml")]) == 2
    assert "empty or inverted" in capsys.readouterr().err
    (tmp_path / "case.toml").write_text(CASE)
    assert cli.main(["check", str(tmp_path / "case.toml")]) == 0


def test_a_small_gb_arc_on_the_bulk_tail_is_named_gb():
    """The shipped bicrystal: R_GB = t_GB / (sigma_GB A) is 3 % of R and its arc sits on the
    bulk arc's tail, where the bulk holds most of -Z''. The fitted arcs are exactly the two
    RC elements (R_bulk = L / (sigma A), R_GB), and the small one is named gb."""
    from netsolve import load_case
    from netsolve.impedance import compute_impedance

    root = Path(__file__).resolve().parents[1]
    case = load_case(root / "cases" / "bicrystal.toml")
    m, grid = case.materials, case.grid
    area = grid.shape[1] * grid.voxel_size_m * grid.thickness_m
    r_gb = m.gb_thickness_m / (m.sigma_gb * area)
    r_bulk = grid.shape[0] * grid.voxel_size_m / (m.sigma_ip * area)
    arcs = compute_impedance(case).arc_fit.arcs
    assert [a.origin for a in arcs] == ["bulk", "gb"]
    assert arcs[0].resistance_ohm == pytest.approx(r_bulk, rel=1e-6)
    assert arcs[1].resistance_ohm == pytest.approx(r_gb, rel=1e-6)
    assert arcs[1].origin_share < 0.5  # the largest share at its summit is the bulk's

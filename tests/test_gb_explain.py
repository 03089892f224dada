"""Verdicts that explain themselves (issue 16): the ``reason`` column and ``netsolve explain``
name the rule, the grains and the angles; GBs with negligible current are classified but not
blocking and not ranked; isotropic conduction has no blocking GB; the applied-field subtype
is kept next to the solved one and the run summary counts the changes."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import netsolve
from netsolve import cli
from netsolve.analysis import gb_table, headline
from netsolve.errors import CaseError
from netsolve.microstructure import Phase

from conftest import base_case, solve_dict, with_labels

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "cases" / "polycrystal_demo.toml"
X, Z = [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]


def bicrystal(tmp_path, c1, c2, shape=(12, 8), **materials) -> dict:
    """Grain 1 left of a GB at x = 6 voxels, grain 2 right; source left, sink right."""
    labels = np.ones(shape, dtype=np.int32)
    labels[shape[0] // 2:] = 2
    return with_labels(base_case(shape, model="tensor", **materials), labels, tmp_path,
                       grains=[{"id": 1, "c_axis": list(c1)}, {"id": 2, "c_axis": list(c2)}])


def test_reason_names_the_rule_grains_and_angles_of_a_ii_b1_gb(tmp_path):
    table = solve_dict(bicrystal(tmp_path, Z, X), tmp_path).gb_table
    k = table.row(1, 2)
    assert table.subtype[k] == "II b1" and table.blocking[k]
    assert (table.c_normal_angle_a_deg[k], table.c_normal_angle_b_deg[k]) == (90.0, 0.0)
    assert table.reason[k] == (
        "II b1 -> behaviour blocking, a blocking subtype: psi = 90.0 deg >= 75: type II (planes "
        "perpendicular); the solved field is 0.0 deg from the GB normal (<= 45: it crosses the "
        "GB, suffix 1); the field enters G2 (downstream): G2's planes are parallel to the GB "
        "(c-axis 0.0 deg from the normal, <= 15), so ions arriving from G1 are stopped, "
        "letter b")


@pytest.mark.parametrize("c1, c2, words", [
    (X, X, ["type I", "G1's planes are parallel to the GB (c-axis 0.0 deg", "letter a"]),
    (Z, Z, ["type I", "neither grain's planes are parallel", "c-axes 90.0 and 90.0 deg",
            "letter b"]),
    (X, Z, ["type II", "the field enters G2 (downstream): G2's planes are not parallel",
            "passed on, letter a"]),
])
def test_reason_of_other_subtypes(tmp_path, c1, c2, words):
    table = netsolve.classify(netsolve.case_from_dict(bicrystal(tmp_path, c1, c2),
                                                      base_dir=tmp_path))
    reason = table.reason[table.row(1, 2)]
    assert reason.startswith(f"{table.subtype[table.row(1, 2)]} -> behaviour ")
    assert "the applied field is 0.0 deg from the GB normal" in reason
    for word in words:
        assert word in reason


def test_type_iii_reason_gives_the_drift_of_both_grains(tmp_path):
    up, down = [math.cos(math.radians(30)), math.sin(math.radians(30)), 0.0], \
        [math.cos(math.radians(30)), -math.sin(math.radians(30)), 0.0]
    data = bicrystal(tmp_path, down, up)
    data["electrodes"][0]["region"], data["electrodes"][1]["region"] = "bottom", "top"
    table = netsolve.classify(netsolve.case_from_dict(data, base_dir=tmp_path))
    k = table.row(1, 2)
    assert table.subtype[k] == "III a2"
    reason = table.reason[k]
    assert "psi = 60.0 deg, between 15 and 75: type III" in reason
    assert "the Na+ drift converges on the GB (w.n = +" in reason and "letter a" in reason


def _pocket_case(tmp_path, **analysis) -> dict:
    """A II b1 GB in a pocket above a ZrO2 wall that carries little current: grain 3 fills
    the lower 22 rows (the main path), the pocket (rows 23..29) holds grains 1 | 2, joined to
    the main path only beyond the wall's ends."""
    labels = np.full((40, 30), 3, np.int32)
    labels[:20, 23:] = 1
    labels[20:, 23:] = 2
    labels[2:38, 22] = -1
    data = with_labels(base_case((40, 30), model="tensor", gb_thickness_nm=1.0), labels,
                       tmp_path, phases={"zro2": -1},
                       grains=[{"id": 1, "c_axis": Z}, {"id": 2, "c_axis": X},
                               {"id": 3, "c_axis": Z}])
    data["electrodes"][0]["region"] = {"box": [[0, 1], [0, 22]]}  # the main path's ends
    data["electrodes"][1]["region"] = {"box": [[39, 40], [0, 22]]}
    if analysis:
        data["analysis"] = analysis
    return data


def test_negligible_current_keeps_a_gb_out_of_the_blocking_list_and_the_ranking(tmp_path):
    result = solve_dict(_pocket_case(tmp_path), tmp_path)
    j = np.linalg.norm(result.fields.current_density, axis=-1)
    median = np.median(j[(result.microstructure.phase == Phase.GRAIN) & np.isfinite(j)])
    reference = result.gb_table
    k = reference.row(1, 2)
    band = max(reference.j_band_a_A_m2[k], reference.j_band_b_A_m2[k])
    ratio = band / median
    assert 0 < ratio < 0.5  # the pocket carries little current (the default 1e-3: not idle)
    assert reference.subtype[k] == "II b1" and reference.blocking[k]
    assert not reference.negligible_current[k]

    def table_at(threshold):
        case = replace(result.case, analysis=replace(result.case.analysis,
                                                     negligible_current_rel=threshold))
        return gb_table(case, result.microstructure, result.graph, result.fields,
                        result.solution.electrode_potential)

    idle = table_at(ratio * 1.01)
    assert idle.subtype[k] == "II b1" and idle.behaviour[k] == "blocking"  # still classified
    assert idle.negligible_current[k] and not idle.blocking[k] and math.isnan(idle.risk_score[k])
    assert f"< {ratio * 1.01:g} x the grains' median |J| {median:.3g} A/m^2" in idle.reason[k]
    gbs = headline(idle)
    assert gbs.blocking == [] and gbs.idle_blocking == [("G1/G2", "II b1")]
    assert "G1/G2" not in [name for name, _ in gbs.top_risk]
    busy = table_at(ratio * 0.99)
    assert not busy.negligible_current[k] and busy.blocking[k]
    assert headline(busy).blocking == [("G1/G2", "II b1")]


def test_negligible_current_rel_is_checked():
    data = base_case()
    data["analysis"] = {"negligible_current_rel": 1.0}
    with pytest.raises(CaseError,
                       match=r"'analysis.negligible_current_rel' must be in \[0, 1\), got 1.0"):
        netsolve.case_from_dict(data)
    assert netsolve.case_from_dict(base_case()).analysis.negligible_current_rel == 1e-3


@pytest.mark.parametrize("materials, words", [
    ({"ratio_ip_op": 1.0}, "sigma_ip / sigma_op = 1 (an isotropic crystal)"),
    ({"conductivity_model": "isotropic"}, 'conductivity_model = "isotropic"'),
])
def test_isotropic_conduction_has_no_blocking_gb(tmp_path, materials, words):
    data = bicrystal(tmp_path, Z, X)
    data["materials"].update(materials)
    table = solve_dict(data, tmp_path).gb_table
    k = table.row(1, 2)
    assert table.subtype[k] == "II b1"  # the geometry is the same
    assert not table.blocking.any() and table.behaviour[k] == "across"
    assert words in table.reason[k] and "never blocks" in table.reason[k]


def test_polycrystal_demo_at_isotropy_has_no_blocking_gb():
    """Issue 16: at sigma_ip / sigma_op = 1 three GBs were still blocking."""
    case = netsolve.load_case(DEMO)
    anisotropic = netsolve.solve(case).gb_table
    assert anisotropic.blocking.sum() > 0
    isotropic = netsolve.solve(replace(case, materials=replace(case.materials,
                                                               ratio_ip_op=1.0)))
    assert isotropic.gb_table.blocking.sum() == 0
    assert isotropic.summary()["grain_boundaries"]["blocking"] == []


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``netsolve run`` of the demo (tables only) with its terminal output."""
    import io
    from contextlib import redirect_stdout

    tmp = tmp_path_factory.mktemp("demo")
    text = DEMO.read_text().replace('path = "../microstructures',
                                    f'path = "{ROOT}/microstructures')
    case = tmp / "demo.toml"
    case.write_text(text + '\n[output]\nfigures = false\nformats = ["csv"]\n')
    out = tmp / "res"
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        assert cli.main(["run", str(case), "-o", str(out)]) == 0
    return case, out, stdout.getvalue()


def test_applied_subtype_is_what_classify_says_and_the_run_counts_the_changes(demo_run):
    case, out, stdout = demo_run
    saved = netsolve.read_gb_table(out)
    applied = netsolve.classify(case)
    whole = (saved.segment == -1) & (saved.grain_b > 0)
    assert whole.sum() == 48
    for k in np.flatnonzero(whole):
        assert saved.applied_subtype[k] == applied.subtype[applied.row(saved.grain_a[k],
                                                                      saved.grain_b[k])]
    changed = np.flatnonzero(whole & (saved.applied_subtype != saved.subtype))
    assert len(changed) > 0  # the demo's electrodes at 90 degrees: the fields differ
    line = next(x for x in stdout.splitlines() if "applied field (netsolve classify)" in x)
    first = changed[0]
    assert line.startswith(f"  applied field (netsolve classify) -> solved field: "
                           f"{len(changed)} of 48 GBs change subtype: G{saved.grain_a[first]}/"
                           f"G{saved.grain_b[first]} {saved.applied_subtype[first]} -> "
                           f"{saved.subtype[first]}")
    summary = json.loads((out / "summary.json").read_text())["grain_boundaries"]
    assert len(summary["applied_field_changes"]) == len(changed)


def test_summary_json_lists_the_blocking_gbs_the_terminal_prints(demo_run):
    _, out, stdout = demo_run
    summary = json.loads((out / "summary.json").read_text())["grain_boundaries"]
    printed = next(x for x in stdout.splitlines() if x.startswith("  GBs: "))
    listed = ", ".join(f"{b['gb']} {b['subtype']}" for b in summary["blocking"])
    assert summary["blocking"]  # the demo has blocking GBs
    assert printed == (f"  GBs: {summary['n_gbs']} between grains, {summary['n_blocking']} "
                       f"blocking: {listed}")
    risk = next(x for x in stdout.splitlines() if x.startswith("  highest Na+"))
    assert risk.endswith(", ".join(f"{r['gb']} ({r['risk_score']:.2f})"
                                   for r in summary["top_risk"]))
    table = netsolve.read_gb_table(out)
    whole = (table.segment == -1) & (table.grain_b > 0)
    assert sorted(b["gb"] for b in summary["blocking"]) == sorted(
        f"G{a}/G{b}" for a, b in zip(table.grain_a[whole & table.blocking],
                                     table.grain_b[whole & table.blocking]))


def test_cli_explain_prints_the_reason_and_the_numbers(demo_run, capsys):
    _, out, _ = demo_run
    table = netsolve.read_gb_table(out)
    summary = json.loads((out / "summary.json").read_text())["grain_boundaries"]
    name = summary["blocking"][0]["gb"]
    a, b = (int(g) for g in name.replace("G", "").split("/"))
    k = table.row(a, b)
    assert cli.main(["explain", str(out), f"G{b}/G{a}"]) == 0  # either order
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0] == f"{name}: {table.subtype[k]}, behaviour {table.behaviour[k]} (blocking)"
    assert " ".join(text.split()).count(" ".join(str(table.reason[k]).split())) == 1
    assert f"psi {table.psi_deg[k]:.1f} deg" in text and f"risk score {table.risk_score[k]:.2f}" \
        in " ".join(text.split())
    assert f"under the applied field (netsolve classify): {table.applied_subtype[k]}" in text


@pytest.mark.parametrize("argv, words", [
    (["{out}", "G1-G2"], "grain boundary 'G1-G2': expected two grain ids like G11/G16"),
    (["{out}", "G1/G99"], "no grain boundary G1/G99 in the table"),
    (["{missing}", "G1/G2"], "not a result directory"),
])
def test_cli_explain_errors_are_one_line(demo_run, tmp_path, capsys, argv, words):
    _, out, _ = demo_run
    args = [a.format(out=out, missing=tmp_path / "nope") for a in argv]
    assert cli.main(["explain", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("netsolve: error: ") and words in err

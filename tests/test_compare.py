"""`netsolve compare`: tpfa, fem and the certified mixed method side by side: the GB
classification and risk ranking under each, R_eff against the certified bracket."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

import netsolve
from netsolve.cli import main
from netsolve.compare import (TOP_RISK, compare, compare_results, format_comparison,
                              solve_for_comparison)
from conftest import base_case, with_labels


def voronoi_case(n_grains=8, seed=2) -> dict:
    data = base_case((40, 30), model="tensor", ratio_ip_op=1000.0)
    data["microstructure"] = {"source": "voronoi", "n_grains": n_grains, "seed": seed}
    data["solver"]["refine"] = False  # the mixed column's bracket on the voxels (fast)
    return data


def test_identical_results_have_identical_classification_and_rank_correlation_one():
    result = netsolve.solve(netsolve.case_from_dict(voronoi_case()))
    comparison = compare_results({"tpfa": result, "fem": result})
    c, gbs = comparison.summary["classification"], comparison.grain_boundaries
    assert comparison.reference == "tpfa" and c["reference"] == "tpfa"
    assert c["n_classified"] == len(gbs["grain_a"]) == result.graph.number_of_edges()
    assert c["n_changed"] == 0 and c["changed"] == [] and c["n_changed_vs_reference"] == {"fem": 0}
    assert c["spearman_risk"] == {"fem": pytest.approx(1.0, abs=1e-12)}
    assert c["top_risk"]["tpfa"] == c["top_risk"]["fem"]
    assert np.array_equal(gbs["risk_rank_tpfa"], gbs["risk_rank_fem"])
    assert c["blocking"]["tpfa"] == c["blocking"]["fem"]
    assert set(comparison.summary["spearman"]) == {"fem"}
    assert all(v == pytest.approx(1.0, abs=1e-12)
               for v in comparison.summary["spearman"]["fem"].values())
    assert comparison.summary["bounds"] is None  # no certified (mixed) result compared


def test_risk_columns_match_the_gb_table_of_each_result():
    case = netsolve.case_from_dict(voronoi_case(n_grains=10, seed=4))
    results = {d: solve_for_comparison(case, d) for d in ("tpfa", "fem", "mixed")}
    comparison = compare_results(results)
    gbs, c = comparison.grain_boundaries, comparison.summary["classification"]
    assert comparison.reference == "mixed"
    for name, result in results.items():
        table = result.gb_table  # the case's [analysis] field defaults to "solved"
        for row in range(len(gbs["grain_a"])):  # a few GBs: a table-row loop
            own = table.row(int(gbs["grain_a"][row]), int(gbs["grain_b"][row]))
            assert gbs[f"risk_{name}"][row] == table.risk_score[own]
            assert gbs[f"subtype_{name}"][row] == table.subtype[own]
            assert gbs[f"blocking_{name}"][row] == table.blocking[own]
        best = np.argsort(-gbs[f"risk_{name}"], kind="stable")[:TOP_RISK]
        assert c["top_risk"][name] == [f"G{gbs['grain_a'][r]}/G{gbs['grain_b'][r]}"
                                       for r in best]
    differs = {name: (gbs[f"subtype_{name}"] != gbs["subtype_mixed"])
               | (gbs[f"blocking_{name}"] != gbs["blocking_mixed"]) for name in ("tpfa", "fem")}
    assert c["n_changed_vs_reference"] == {name: int(d.sum()) for name, d in differs.items()}
    changed = differs["tpfa"] | differs["fem"]
    assert c["n_changed"] == int(changed.sum()) == len(c["changed"])
    assert np.array_equal(gbs["classification_changed"], changed)
    for name in ("tpfa", "fem"):
        assert c["spearman_risk"][name] == pytest.approx(
            spearmanr(gbs[f"risk_{name}"], gbs["risk_mixed"]).statistic, abs=1e-12)
        assert np.allclose(gbs[f"current_A_rel_diff_{name}"],
                           (gbs[f"current_A_{name}"] - gbs["current_A_mixed"])
                           / np.abs(gbs["current_A_mixed"]), rtol=1e-12, equal_nan=True)
    assert "spearman_risk" in c and "mixed" not in c["spearman_risk"]


def test_fem_and_mixed_enclose_the_voxel_bracket_and_order_the_resistances():
    # Q1's conductance bounds G from above, the mixed flux's from below: R_fem <= R <= R_mixed.
    # In 2D the bracket uses the better Q2 potential and the corrected flux (certify.reconstruct,
    # certify.equilibrate), so it lies inside [R_fem, R_mixed] and is narrower.
    comparison = compare(netsolve.case_from_dict(voronoi_case(n_grains=10, seed=5)))
    s = comparison.summary
    r, bounds = s["effective_resistance_ohm"], s["bounds"]
    assert bounds["from"] == "mixed" and bounds["reason"] is None and bounds["cells"] is None
    assert r["fem"] < bounds["lower_ohm"] <= bounds["upper_ohm"] < r["mixed"]
    assert bounds["relative_gap"] < r["mixed"] / r["fem"] - 1
    assert bounds["certified"] == (bounds["relative_gap"] <= bounds["bound_tol"])
    fem, mixed = bounds["position"]["fem"], bounds["position"]["mixed"]
    assert fem["side"] == "below" and mixed["side"] == "above"
    assert fem["excess"] == pytest.approx(r["fem"] / bounds["lower_ohm"] - 1, rel=1e-12)
    assert mixed["excess"] == pytest.approx(r["mixed"] / bounds["upper_ohm"] - 1, rel=1e-12)
    tpfa = bounds["position"]["tpfa"]  # the two-point answer falls where it falls
    if tpfa["side"] == "below":
        assert r["tpfa"] < bounds["lower_ohm"]
        assert tpfa["excess"] == pytest.approx(r["tpfa"] / bounds["lower_ohm"] - 1, rel=1e-12)
    elif tpfa["side"] == "above":
        assert r["tpfa"] > bounds["upper_ohm"]
        assert tpfa["excess"] == pytest.approx(r["tpfa"] / bounds["upper_ohm"] - 1, rel=1e-12)
    else:
        assert bounds["lower_ohm"] * (1 - 1e-9) <= r["tpfa"] <= bounds["upper_ohm"] * (1 + 1e-9)
    assert "R_eff bracket (mixed + Q1)" in format_comparison(comparison)


def test_two_potential_levels_bracket_r_eff():
    # Two sources at 1 V and a sink at 0 V (the ding2023 full case's layout): P = dV I_total =
    # dV^2 / R_eff, so the power bracket brackets R_eff; a third level leaves only the power's.
    data = voronoi_case(n_grains=8, seed=2)
    data["electrodes"] = [{"name": "a", "region": {"box": [[0, 1], [0, 10]]}, "potential_V": 1.0},
                          {"name": "b", "region": {"box": [[0, 1], [20, 30]]}, "potential_V": 1.0},
                          {"name": "c", "region": "right", "potential_V": 0.0}]
    comparison = compare(netsolve.case_from_dict(data))
    r, bounds = comparison.summary["effective_resistance_ohm"], comparison.summary["bounds"]
    assert bounds["reason"] is None
    assert bounds["lower_ohm"] == pytest.approx(1.0 / bounds["power_W"]["upper"], rel=1e-12)
    assert bounds["upper_ohm"] == pytest.approx(1.0 / bounds["power_W"]["lower"], rel=1e-12)
    assert r["fem"] < bounds["lower_ohm"] <= bounds["upper_ohm"] < r["mixed"]
    assert bounds["position"]["fem"]["side"] == "below"
    assert bounds["position"]["mixed"]["side"] == "above"
    data["electrodes"][1]["potential_V"] = 0.5
    comparison = compare(netsolve.case_from_dict(data), ("fem", "mixed"))
    bounds = comparison.summary["bounds"]
    assert bounds["reason"] == ("the conductance and resistance are bracketed for two "
                                "electrodes (or fixed potentials of two values) only")
    assert bounds["position"] == {} and bounds["power_W"]["reason"] is None
    power = bounds["power_W"]
    assert ("R_eff bracket: none (the conductance and resistance are bracketed for two electrodes "
            f"(or fixed potentials of two values) only); power bracket [{power['lower']:.6g}, {power['upper']:.6g}] W"
            in format_comparison(comparison))


def test_refined_bracket_lies_above_the_voxel_q1_answer(tmp_path):
    # Refinement tightens both bounds; the fem column stays the voxel grid's Q1 answer, whose
    # R is at most the refined lower bound (nested Q1 spaces), and the mixed column (the
    # refined mixed answer) is at least the upper end.
    data = voronoi_case(n_grains=6, seed=3)
    data["solver"].update(refine=True, bound_tol=0.01, refine_max_cells=4000)
    comparison = compare(netsolve.case_from_dict(data), ("fem", "mixed"))
    s = comparison.summary
    r, bounds = s["effective_resistance_ohm"], s["bounds"]
    assert bounds["cells"] is not None and bounds["cells"] > 40 * 30
    assert r["fem"] <= bounds["lower_ohm"] * (1 + 1e-9)
    assert bounds["upper_ohm"] <= r["mixed"] * (1 + 1e-9)
    assert bounds["position"]["mixed"]["side"] in ("inside", "above")
    assert bounds["position"]["fem"]["side"] in ("below", "inside")
    assert comparison.discretizations == ("fem", "mixed") and set(s["spearman"]) == {"fem"}


def test_grid_aligned_layers_give_the_same_answer_with_every_discretization(tmp_path):
    # Layers across the current with c-axes along x, y, z: the field is exactly along x in all
    # schemes (a 1D series problem each solves exactly), so every GB is classified alike and the
    # bracket closes on the common answer.
    widths = (5, 7, 4, 6, 8)
    labels = np.repeat(np.arange(1, 6), widths)[:, None] * np.ones((1, 10), dtype=int)
    axes = ([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0])
    grains = [{"id": i + 1, "c_axis": axis} for i, axis in enumerate(axes)]
    data = with_labels(base_case(labels.shape, model="tensor", ratio_ip_op=100.0), labels,
                       tmp_path, grains=grains)
    comparison = compare(netsolve.case_from_dict(data, base_dir=tmp_path))
    gbs, c = comparison.grain_boundaries, comparison.summary["classification"]
    assert c["n_classified"] == 4 and c["n_changed"] == 0
    assert list(gbs["subtype_tpfa"]) == list(gbs["subtype_fem"]) == list(gbs["subtype_mixed"])
    assert all(subtype for subtype in gbs["subtype_tpfa"])  # every GB got a subtype
    assert np.array_equal(gbs["blocking_tpfa"], gbs["blocking_mixed"])
    assert np.array_equal(gbs["blocking_fem"], gbs["blocking_mixed"])
    total = comparison.summary["total_current_A"]
    assert total["fem"] == pytest.approx(total["tpfa"], rel=1e-9)
    assert total["mixed"] == pytest.approx(total["tpfa"], rel=1e-9)
    bounds = comparison.summary["bounds"]
    assert bounds["relative_gap"] < 1e-9 and bounds["certified"]
    assert {p["side"] for p in bounds["position"].values()} == {"inside"}


def test_unoriented_grains_are_compared_without_classification(tmp_path):
    labels = np.repeat([1, 2], 6)[:, None] * np.ones((1, 5), dtype=int)
    data = with_labels(base_case(labels.shape), labels, tmp_path)
    comparison = compare(netsolve.case_from_dict(data, base_dir=tmp_path))
    assert comparison.summary["classification"] is None
    assert "subtype_fem" not in comparison.grain_boundaries
    assert "not compared (some grains have no orientation)" in format_comparison(comparison)


CASE_TOML = ('[grid]\nshape = [30, 24]\nvoxel_size_nm = 10.0\n'
             '[microstructure]\nsource = "voronoi"\nn_grains = 6\nseed = 3\n'
             '[materials]\nconductivity_model = "tensor"\nratio_ip_op = 1000.0\n'
             '[[electrodes]]\nname = "a"\nregion = "left"\npotential_V = 1.0\n'
             '[[electrodes]]\nname = "b"\nregion = "right"\npotential_V = 0.0\n'
             '[solver]\nmethod = "direct"\nrefine = false\n')


def test_compare_command_reports_the_classification_and_the_bracket(tmp_path, capsys):
    path = tmp_path / "case.toml"
    path.write_text(CASE_TOML)
    assert main(["compare", str(path), "-o", str(tmp_path / "cmp"), "-q"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    c, bounds = summary["classification"], summary["bounds"]
    assert summary["discretizations"] == ["tpfa", "fem", "mixed"]
    assert summary["reference"] == c["reference"] == "mixed"
    assert f"{c['n_changed']} of {c['n_classified']} GBs differ from mixed" in out
    assert "top 5 risk, mixed: " + ", ".join(c["top_risk"]["mixed"]) in out
    assert (f"R_eff bracket (mixed + Q1): [{bounds['lower_ohm']:.6g}, {bounds['upper_ohm']:.6g}]"
            " ohm") in out
    r = summary["effective_resistance_ohm"]
    below = bounds["position"]["fem"]["excess"]
    assert f"R_eff fem: {r['fem']:.6g} ohm, below the bracket by {below:+.1%}" in out
    header = (tmp_path / "cmp" / "gb_comparison.csv").read_text().splitlines()[0].split(",")
    assert {f"{column}_{d}" for column in ("subtype", "blocking", "risk_rank", "current_A")
            for d in ("tpfa", "fem", "mixed")} | {"classification_changed"} <= set(header)
    grains = (tmp_path / "cmp" / "grain_comparison.csv").read_text().splitlines()[0].split(",")
    assert "rel_diff_tpfa" in grains and "rel_diff_fem" in grains
    assert "rel_diff_mixed" not in grains  # the reference is not set against itself


def test_compare_command_with_two_discretizations_has_no_bracket(tmp_path, capsys):
    path = tmp_path / "case.toml"
    path.write_text(CASE_TOML)
    assert main(["compare", str(path), "--discretizations", "tpfa, fem", "-o",
                 str(tmp_path / "cmp"), "-q"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    assert summary["discretizations"] == ["tpfa", "fem"] and summary["reference"] == "tpfa"
    assert summary["bounds"] is None
    assert "R_eff bracket: none (the mixed discretization was not compared)" in out
    rows = (tmp_path / "cmp" / "grain_comparison.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert not any(column.endswith("_mixed") or "mixed_" in column for column in header)
    table = np.array([[float(x) for x in row.split(",")] for row in rows[1:]])
    fem, tpfa, diff = (table[:, header.index(name)] for name in
                       ("mean_abs_J_fem_A_m2", "mean_abs_J_tpfa_A_m2", "rel_diff_fem"))
    assert np.allclose(diff, (fem - tpfa) / tpfa, rtol=1e-12)


@pytest.mark.parametrize("names, message", [
    ("tpfa,mpfa", "--discretizations: unknown discretization 'mpfa' (did you mean 'tpfa'?); "
                  "discretizations are tpfa, fem, mixed"),
    ("fem,fem", "--discretizations: give at least two different discretizations to compare "
                "(of tpfa, fem, mixed), got fem"),
])
def test_compare_command_refuses_bad_discretizations(tmp_path, capsys, names, message):
    path = tmp_path / "case.toml"
    path.write_text(CASE_TOML)
    out = tmp_path / "cmp"
    assert main(["compare", str(path), "--discretizations", names, "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"netsolve: error: {message}\n" and captured.out == ""
    assert not out.exists()

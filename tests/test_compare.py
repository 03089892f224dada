"""`netsolve compare`: the GB classification and risk ranking under both discretizations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

import netsolve
from netsolve.cli import main
from netsolve.compare import TOP_RISK, compare, compare_results, format_comparison
from conftest import base_case, with_labels


def voronoi_case(n_grains=8, seed=2) -> dict:
    data = base_case((40, 30), model="tensor", ratio_ip_op=1000.0)
    data["microstructure"] = {"source": "voronoi", "n_grains": n_grains, "seed": seed}
    return data


def test_identical_results_have_identical_classification_and_rank_correlation_one():
    result = netsolve.solve(netsolve.case_from_dict(voronoi_case()))
    comparison = compare_results(result, result)
    c, gbs = comparison.summary["classification"], comparison.grain_boundaries
    assert c["n_classified"] == len(gbs["grain_a"]) == result.graph.number_of_edges()
    assert c["n_changed"] == 0 and c["changed"] == []
    assert c["spearman_risk"] == pytest.approx(1.0, abs=1e-12)
    assert c["top_risk"]["tpfa"] == c["top_risk"]["fem"]
    assert np.array_equal(gbs["risk_rank_tpfa"], gbs["risk_rank_fem"])
    assert c["blocking"]["tpfa"] == c["blocking"]["fem"]


def test_risk_columns_match_the_gb_table_of_each_result():
    case = netsolve.case_from_dict(voronoi_case(n_grains=10, seed=4))
    tpfa, fem = (netsolve.solve(case, discretization=d) for d in ("tpfa", "fem"))
    comparison = compare_results(tpfa, fem)
    gbs, c = comparison.grain_boundaries, comparison.summary["classification"]
    for name, result in (("tpfa", tpfa), ("fem", fem)):
        table = result.gb_table  # the case's [analysis] field defaults to "solved"
        for row in range(len(gbs["grain_a"])):  # a few GBs: a table-row loop
            own = table.row(int(gbs["grain_a"][row]), int(gbs["grain_b"][row]))
            assert gbs[f"risk_{name}"][row] == table.risk_score[own]
            assert gbs[f"subtype_{name}"][row] == table.subtype[own]
            assert gbs[f"blocking_{name}"][row] == table.blocking[own]
        best = np.argsort(-gbs[f"risk_{name}"], kind="stable")[:TOP_RISK]
        assert c["top_risk"][name] == [f"G{gbs['grain_a'][r]}/G{gbs['grain_b'][r]}"
                                       for r in best]
    changed = np.flatnonzero((gbs["subtype_tpfa"] != gbs["subtype_fem"])
                             | (gbs["blocking_tpfa"] != gbs["blocking_fem"]))
    assert c["n_changed"] == len(changed) == int(gbs["classification_changed"].sum())
    assert c["spearman_risk"] == pytest.approx(
        spearmanr(gbs["risk_tpfa"], gbs["risk_fem"]).statistic, abs=1e-12)


def test_grid_aligned_layers_give_the_same_classification_with_both_discretizations(tmp_path):
    # Layers across the current with c-axes along x, y, z: the field is exactly along x in both
    # schemes (a 1D series problem both solve exactly), so every GB is classified alike.
    widths = (5, 7, 4, 6, 8)
    labels = np.repeat(np.arange(1, 6), widths)[:, None] * np.ones((1, 10), dtype=int)
    axes = ([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0])
    grains = [{"id": i + 1, "c_axis": axis} for i, axis in enumerate(axes)]
    data = with_labels(base_case(labels.shape, model="tensor", ratio_ip_op=100.0), labels,
                       tmp_path, grains=grains)
    comparison = compare(netsolve.case_from_dict(data, base_dir=tmp_path))
    gbs, c = comparison.grain_boundaries, comparison.summary["classification"]
    assert c["n_classified"] == 4 and c["n_changed"] == 0
    assert list(gbs["subtype_tpfa"]) == list(gbs["subtype_fem"])
    assert all(subtype for subtype in gbs["subtype_tpfa"])  # every GB got a subtype
    assert np.array_equal(gbs["blocking_tpfa"], gbs["blocking_fem"])
    # 1D series: both carry the exact current
    total = comparison.summary["total_current_A"]
    assert total["fem"] == pytest.approx(total["tpfa"], rel=1e-9)


def test_unoriented_grains_are_compared_without_classification(tmp_path):
    labels = np.repeat([1, 2], 6)[:, None] * np.ones((1, 5), dtype=int)
    data = with_labels(base_case(labels.shape), labels, tmp_path)
    comparison = compare(netsolve.case_from_dict(data, base_dir=tmp_path))
    assert comparison.summary["classification"] is None
    assert "subtype_fem" not in comparison.grain_boundaries
    assert "not compared (some grains have no orientation)" in format_comparison(comparison)


def test_compare_command_reports_the_classification(tmp_path, capsys):
    path = tmp_path / "case.toml"
    path.write_text('[grid]\nshape = [30, 24]\nvoxel_size_nm = 10.0\n'
                    '[microstructure]\nsource = "voronoi"\nn_grains = 6\nseed = 3\n'
                    '[materials]\nconductivity_model = "tensor"\nratio_ip_op = 1000.0\n'
                    '[[electrodes]]\nname = "a"\nregion = "left"\npotential_V = 1.0\n'
                    '[[electrodes]]\nname = "b"\nregion = "right"\npotential_V = 0.0\n'
                    '[solver]\nmethod = "direct"\n')
    assert main(["compare", str(path), "-o", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    c = summary["classification"]
    assert f"{c['n_changed']} of {c['n_classified']} GBs changed" in out
    assert "top 5 risk, fem: " + ", ".join(c["top_risk"]["fem"]) in out
    header = (tmp_path / "cmp" / "gb_comparison.csv").read_text().splitlines()[0].split(",")
    assert {"subtype_tpfa", "subtype_fem", "blocking_tpfa", "blocking_fem", "risk_rank_tpfa",
            "risk_rank_fem", "classification_changed"} <= set(header)

"""The vectorized GB-table code (reason sentences, subtypes, behaviours, headline lists) gives
exactly what the per-row loops it replaced gave (``per_row_reference.py``): on random
classifications that reach every branch of the rules, and on solved polycrystals with many GB
types, under the solved and the applied field, with idle GBs and at isotropic conduction."""

from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import netsolve
import per_row_reference as per_row
from netsolve.analysis import gb_table, headline
from netsolve.analysis.classify import BEHAVIOUR, Classification, without_plane_rules

# the modules (the package re-exports functions of the same names)
classify_module = importlib.import_module("netsolve.analysis.classify")
explain = importlib.import_module("netsolve.analysis.explain")
report_module = importlib.import_module("netsolve.analysis.report")

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "cases" / "polycrystal_demo.toml"


def random_classification(n: int, seed: int) -> tuple[Classification, np.ndarray, np.ndarray]:
    """Rows with every combination of type, letter, suffix, downstream grain, NaN angles and
    drifts, ties and angles exactly at the thresholds; grain ids a < b."""
    rng = np.random.default_rng(seed)

    def angles():
        x = rng.uniform(0.0, 90.0, n)
        x[rng.random(n) < 0.1] = np.nan
        x[rng.random(n) < 0.1] = 15.0  # exactly at the default tolerance
        return x

    c_a, c_b = angles(), angles()
    tie = rng.random(n) < 0.1
    c_b[tie] = c_a[tie]
    cos = rng.uniform(-1.0, 1.0, n)
    cos[rng.random(n) < 0.05] = 1.0 + 1e-12  # rounding past 1
    cos[rng.random(n) < 0.05] = -1.0
    cos[rng.random(n) < 0.05] = 0.0
    drift = rng.normal(size=(2, n)) * 10.0 ** rng.uniform(-12, 3, (2, n))
    drift[:, rng.random(n) < 0.2] = np.nan
    drift[0, rng.random(n) < 0.05] = -0.0
    cls = Classification(
        psi_deg=np.where(rng.random(n) < 0.05, np.nan, rng.uniform(0.0, 90.0, n)),
        gb_type=rng.choice(["", "I", "II", "III", "isotropic"], n,
                           p=[0.1, 0.25, 0.25, 0.3, 0.1]).astype(object),
        letter=rng.choice(["", "a", "b"], n, p=[0.1, 0.45, 0.45]).astype(object),
        suffix=rng.choice([0, 1, 2], n).astype(np.int8),
        behaviour=rng.choice(["none", "across", "blocking", "blocking_along", "undetermined"],
                             n).astype(object),
        blocking=rng.random(n) < 0.3, field_normal_cos=cos, c_normal_deg_a=c_a,
        c_normal_deg_b=c_b,
        downstream=rng.choice(["", "a", "b"], n).astype(object),
        drift_a=drift[0], drift_b=drift[1], chevron=rng.random(n) < 0.5)
    grain_a = rng.integers(1, 2000, n)
    return cls, grain_a, grain_a + rng.integers(1, 60, n)


@pytest.mark.parametrize("seed, source, plane_rules_off, options", [
    (1, "solved", None, (15.0, 45.0, 1e-3)),
    (2, "applied", None, (12.5, 30.0, 0.25)),
    (3, "solved", "sigma_ip / sigma_op = 1 (an isotropic crystal)", (15.0, 45.0, 1e-3)),
])
def test_reasons_equal_the_per_row_sentences(seed, source, plane_rules_off, options):
    n = 4000
    cls, grain_a, grain_b = random_classification(n, seed)
    tau, across, rel = options
    opts = SimpleNamespace(type_tolerance_deg=tau, across_angle_deg=across,
                           negligible_current_rel=rel)
    rng = np.random.default_rng(seed + 100)
    idle = rng.random(n) < 0.3
    band_j = 10.0 ** rng.uniform(-5, 8, n)
    band_j[rng.random(n) < 0.05] = np.nan
    for median_j in (1234.5678, float("nan")):
        args = (cls, grain_a, grain_b, opts, source, plane_rules_off, idle, band_j, median_j)
        got, expected = explain.reasons(*args), per_row.reasons(*args)
        assert got.dtype == object and got.shape == (n,)
        assert got.tolist() == expected.tolist()
    text = " ".join(got.tolist())
    words = ["a grain of this GB has no orientation", "the GB normal is undefined",
             f"no {source} field at the GB", "negligible current", "suffix 1", "suffix 2"]
    if plane_rules_off is None:  # every rule that names a letter was reached
        words += ["a spinel layer separates", "neither grain's planes",
                  "either grain counts as downstream", "are stopped, letter b",
                  "passed on, letter a", "the Na+ drift converges on",
                  "does not converge on", "the planes form a chevron",
                  "do not form a chevron", "type III (oblique planes)", ", a blocking subtype"]
    else:
        words += ["never blocks"]
    for word in words:
        assert word in text


def test_reasons_of_no_rows():
    cls, a, b = random_classification(0, 4)
    opts = SimpleNamespace(type_tolerance_deg=15.0, across_angle_deg=45.0,
                           negligible_current_rel=1e-3)
    got = explain.reasons(cls, a, b, opts, "solved", None, np.zeros(0, bool), np.zeros(0), 1.0)
    assert got.dtype == object and got.shape == (0,)


def test_subtypes_and_behaviours_equal_the_per_row_ones():
    cls, _, _ = random_classification(3000, 5)
    gb_type = cls.gb_type.copy()
    gb_type[::7] = "not_classified"
    assert (report_module.subtypes(gb_type, cls.letter, cls.suffix).tolist()
            == per_row.subtypes(gb_type, cls.letter, cls.suffix).tolist())
    got = classify_module.behaviours(cls.gb_type, cls.letter, cls.suffix)
    expected = per_row.behaviours(cls.gb_type, cls.letter, cls.suffix)
    assert got.tolist() == expected.tolist()
    assert set(expected.tolist()) == {*BEHAVIOUR.values(), "undetermined"}  # every entry hit
    assert (without_plane_rules(cls).behaviour.tolist()
            == per_row.without_plane_rules_behaviour(cls).tolist())


def test_headline_lists_equal_the_per_row_ones():
    rng = np.random.default_rng(6)
    n = 500
    names = [f"G{k}/G{k + 1}" for k in range(n)]
    score = rng.uniform(0, 1, n)
    score[rng.random(n) < 0.3] = np.nan
    score[rng.random(n) < 0.1] = 0.5  # ties keep the table order
    order = np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")
    subtype = rng.choice(["II b1", "III a2", "I a1"], n).astype(object)
    is_blocking = rng.random(n) < 0.4
    blocking, top = per_row.headline_lists(names, order, score, subtype, is_blocking, 7)
    table = SimpleNamespace(
        grain_a=np.arange(n), grain_b=np.arange(1, n + 1), segment=np.full(n, -1),
        risk_score=score, subtype=subtype, blocking=is_blocking,
        negligible_current=np.zeros(n, bool), behaviour=np.full(n, "none", object),
        gb_field_V_m=score, applied_subtype=np.full(n, "", object),
        field_source=np.full(n, "solved", object), whole_gbs=np.ones(n, bool))
    got = headline(table, 7)
    assert got.blocking == blocking and got.top_risk == top and len(top) == 7


# --------------------------------------------------------------------------- solved cases


def per_row_table(monkeypatch, *args, **kwargs):
    """``gb_table(*args)`` built with the per-row reference functions."""
    with monkeypatch.context() as m:
        m.setattr(report_module, "reasons", per_row.reasons)
        m.setattr(report_module, "subtypes", per_row.subtypes)
        m.setattr(classify_module, "behaviours", per_row.behaviours)
        return gb_table(*args, **kwargs)


def assert_same_tables(got, expected):
    for name in got.__dataclass_fields__:
        a, b = getattr(got, name), getattr(expected, name)
        if a.dtype == object:
            assert a.tolist() == b.tolist(), name
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)


def voronoi_case(tmp_path, **materials):
    data = {"grid": {"shape": [96, 96], "voxel_size_nm": 10.0},
            "microstructure": {"source": "voronoi", "n_grains": 30, "seed": 3,
                               "zro2_fraction": 0.02, "zro2_radius_nm": 30.0},
            "materials": {"ratio_ip_op": 1000.0, "ratio_ip_gb": 20.0, **materials},
            "electrodes": [{"name": "source", "region": "left", "potential_V": 1.0},
                           {"name": "sink", "region": "right", "potential_V": 0.0}],
            "solver": {"method": "direct", "discretization": "tpfa"}}
    return netsolve.case_from_dict(data, base_dir=tmp_path)


@pytest.mark.parametrize("case_name", ["voronoi", "demo", "isotropic"])
def test_gb_table_equals_the_per_row_table(tmp_path, monkeypatch, case_name):
    if case_name == "demo":
        case = netsolve.load_case(DEMO)
        case = replace(case, solver=replace(case.solver, discretization="tpfa"))
    else:
        case = voronoi_case(tmp_path, **({"ratio_ip_op": 1.0} if case_name == "isotropic"
                                         else {}))
    result = netsolve.solve(case, compare_applied=True)
    args = (result.case, result.microstructure, result.graph, result.fields,
            result.solution.electrode_potential)
    options = dict(geometry=result.gb_geometry, applied_fields=result.applied_fields)
    for analysis in ({}, {"negligible_current_rel": 0.95}, {"field": "applied"}):
        case_k = replace(result.case, analysis=replace(result.case.analysis, **analysis))
        args_k = (case_k, *args[1:])
        got = gb_table(*args_k, **options)
        assert_same_tables(got, per_row_table(monkeypatch, *args_k, **options))
        whole = got.whole_gbs
        if case_name != "isotropic":  # many GB types, not only one
            assert len(set(got.subtype[whole].tolist())) >= 6
        if analysis.get("negligible_current_rel"):
            assert got.negligible_current[whole].sum() > 0

"""What a sweep point skips or reuses gives the same row: the row built from only what it
holds (no whole summary, no reason sentences) equals the row built from ``Result.summary()``
and the explained GB table, exactly, for points with and without orientations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netsolve.analysis import headline
from netsolve.sweep import build_plan, parse_param
from netsolve.sweep.engine import SweepEngine, point_row

from test_sweep import write_case

ISOTROPIC = """
electrodes = [{ name = "source", region = "left", potential_V = 1.0 },
              { name = "sink", region = "top", potential_V = 0.0 }]

[grid]
shape = [20, 12]
voxel_size_nm = 10.0

[microstructure]
source = "uniform"

[materials]
conductivity_model = "isotropic"
sigma_ip_S_per_m = 2.0

[solver]
method = "direct"
discretization = "tpfa"
"""


def same(a, b) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a)
            and math.isnan(b)) or (a == b and type(a) is type(b))


def summary_row(plan, result) -> dict:
    """The row as it was built before: from the whole ``Result.summary()`` (JSON-ready: NaN
    is None) and the headline of the explained ``Result.gb_table``."""
    summary = result.summary()
    out = {name: summary[name] for name in ("total_current_A", "effective_resistance_ohm")}
    out["effective_conductivity_S_m"] = summary["effective_conductivity_S_m"]
    if out["effective_conductivity_S_m"] is None:
        out["effective_conductivity_S_m"] = math.nan
    stats = summary["solver"]
    out.update({f"solver_{k}": stats[k] for k in ("method", "iterations", "residual_rel")},
               solver_setup_s=stats["setup_time_s"], solver_time_s=stats["time_s"])
    gbs = (headline(result.gb_table, plan.top_k)
           if not len(result.microstructure.unoriented_grain_ids) else None)
    top = gbs.top_risk if gbs else []
    out.update(n_blocking_gbs=len(gbs.blocking) if gbs else 0,
               blocking_gbs=" ".join(name for name, _ in gbs.blocking) if gbs else "",
               max_gb_field_V_m=gbs.max_field[1] if gbs and gbs.max_field else math.nan,
               max_gb_field_gb=gbs.max_field[0] if gbs and gbs.max_field else "")
    for i in range(plan.top_k):
        out[f"risk_{i + 1}_gb"] = top[i][0] if i < len(top) else ""
        out[f"risk_{i + 1}_score"] = top[i][1] if i < len(top) else math.nan
    return out


@pytest.mark.parametrize("kind", ["voronoi", "isotropic"])
def test_point_row_equals_the_row_of_the_whole_summary(tmp_path, kind):
    if kind == "voronoi":
        case = write_case(tmp_path, method="gmg")
        case.write_text(case.read_text().replace("seed = 1", "seed = 3"))  # has blocking GBs
        params = ("materials.ratio_ip_op=1,10,1000", "materials.ratio_ip_gb=1,200")
    else:  # no orientations, no GB table; electrodes at 90 degrees: no slab conductivity
        case = tmp_path / "iso.toml"
        case.write_text(ISOTROPIC)
        params = ("materials.sigma_ip_S_per_m=1,3",)
    plan = build_plan(case, tuple(parse_param(p) for p in params), top_k=4)
    engine = SweepEngine(plan)
    blocking = 0
    for point in plan.points:
        result = engine.solve(point)
        row = point_row(plan, result)  # first: builds an unexplained table of its own
        assert "gb_table" not in result.__dict__
        expected = summary_row(plan, result)  # builds Result.gb_table
        assert sorted(row) == sorted(expected)
        assert all(same(row[k], expected[k]) for k in row), point.point_id
        assert all(same(v, expected[k]) for k, v in point_row(plan, result).items())
        blocking += row["n_blocking_gbs"]
        if kind == "voronoi":
            assert row["risk_4_gb"] and np.isfinite(row["risk_4_score"])
        else:
            assert math.isnan(row["effective_conductivity_S_m"]) and row["blocking_gbs"] == ""
    assert (blocking > 0) == (kind == "voronoi")  # blocking GBs were listed


def test_refilled_matrix_equals_a_fresh_assembly(tmp_path):
    """The pattern's refill (a gather in CSR order) gives the matrix that assembling the
    network with the new conductances gives, entry for entry."""
    import netsolve
    from netsolve.discretization.tpfa import with_conductances
    from netsolve.properties import compute_properties
    from netsolve.solve import network_matrix
    from netsolve.sweep.engine import MatrixPattern

    plan = build_plan(write_case(tmp_path), (parse_param("materials.ratio_ip_gb=1,300"),
                                             parse_param("materials.ratio_ip_op=3,1000")))
    first = netsolve.solve(plan.point_case(plan.points[0]))
    pattern = MatrixPattern(first.network)
    assert pattern.source is not None
    for point in plan.points[1:]:
        case = plan.point_case(point)
        network = with_conductances(first.network, case,
                                    compute_properties(first.microstructure, case.materials))
        refilled, fresh = pattern.refill(network), network_matrix(network).tocsr()
        fresh.sort_indices()
        np.testing.assert_array_equal(refilled.indptr, fresh.indptr)
        np.testing.assert_array_equal(refilled.indices, fresh.indices)
        np.testing.assert_array_equal(refilled.data, fresh.data)
        assert not np.array_equal(refilled.data, pattern.matrix.data)  # new values


def _blas_threads() -> set[int]:
    from threadpoolctl import threadpool_info

    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def test_points_are_evaluated_with_single_threaded_blas_and_the_limit_is_restored(
        tmp_path, monkeypatch):
    """Serially and in a worker's chunk, every point sees one BLAS thread; afterwards the
    process has its own limits back."""
    from netsolve.sweep import run_sweep
    from netsolve.sweep.worker import evaluate_points

    seen = []
    evaluate = SweepEngine.evaluate

    def recording(self, point):
        seen.append(_blas_threads())
        return evaluate(self, point)

    monkeypatch.setattr(SweepEngine, "evaluate", recording)
    before = _blas_threads()
    plan = build_plan(write_case(tmp_path), (parse_param("materials.ratio_ip_gb=1,20"),))
    outcome = run_sweep(plan, tmp_path / "out", plots=False)
    assert outcome.n_ok == 2
    rows = evaluate_points(plan, None, "token", list(plan.points))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert seen == [{1}] * 4
    assert _blas_threads() == before

"""netsolve sweep: grid parsing, bad input, rows equal single solves, resume, failures,
processes, Dask, Parquet."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import netsolve
from netsolve.cli import main
from netsolve.errors import CaseError
from netsolve.sweep import build_plan, parse_param, read_table, run_sweep
from netsolve.sweep.engine import SweepEngine
from netsolve.sweep.grid import parse_values

CASE = """
electrodes = [{{ name = "source", region = "left", potential_V = 1.0 }},
              {{ name = "sink", region = "right", potential_V = 0.0 }}]

[grid]
shape = [40, 30]
voxel_size_nm = 10.0
thickness_nm = 100.0

[microstructure]
source = "voronoi"
n_grains = 12
seed = 1

[materials]
ratio_ip_op = 1000.0
ratio_ip_gb = 20.0

[solver]
method = "{method}"
rtol = 1e-10
discretization = "tpfa"
"""


def write_case(tmp_path: Path, method: str = "direct", extra: str = "") -> Path:
    path = tmp_path / "lamella.toml"
    path.write_text(CASE.format(method=method) + extra)
    return path


def sweep_rows(out: Path) -> dict[str, dict[str, str]]:
    rows = read_table(out)
    ids = [r["point_id"] for r in rows]
    assert len(ids) == len(set(ids)), "a point is in sweep.csv twice"
    return {r["point_id"]: r for r in rows}


# --------------------------------------------------------------------------- grid parsing


def test_parse_values_exact():
    assert parse_values("1,5,20", "x") == ((1, 5, 20), "linear")
    assert parse_values(" 0.5, 2e3 ", "x") == ((0.5, 2000.0), "linear")
    values, scale = parse_values("logspace(1, 4, 4)", "x")
    assert scale == "log" and values == tuple(np.logspace(1, 4, 4))
    assert values[0] == 10.0 and values[-1] == 10000.0
    values, scale = parse_values("linspace(0,1,5)", "x")
    assert scale == "linear" and values == (0.0, 0.25, 0.5, 0.75, 1.0)
    p = parse_param("materials.ratio_ip_gb=1,5,20")
    assert p.key == "materials.ratio_ip_gb" and p.values == (1, 5, 20)


@pytest.mark.parametrize("text, message", [
    ("materials.ratio_ip_gb=1,abc", "'abc' is not a number"),
    ("materials.ratio_ip_gb=linspace(1,2,0)", "n >= 1"),
    ("materials.ratio_ip_gb=", "no values (empty grid)"),
    ("materials.ratio_ip_gb=1,__import__('os')", "is not a number"),
    ("ratio=1,2", "dotted case key"),
    ("materials.ratio_ip_gb=1,1", "listed twice"),
])
def test_parse_param_refuses(text, message):
    with pytest.raises(CaseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_param(text)


# --------------------------------------------------------------------------- bad input (CLI)


@pytest.mark.parametrize("params, extra_args, message", [
    (["materials.ratio_ip_opp=1,2"], [], "close matches: materials.ratio_ip_op"),
    (["materials.conductivity_model=1,2"], [], "is not numeric"),
    (["materials.ratio_ip_gb=0,5"], [], "'materials.ratio_ip_gb' must be in [1e-08, 1e+08], got 0.0"),
    (["materials.ratio_ip_gb=5,-1"], [], "(sweep point materials.ratio_ip_gb=-1)"),
    (["materials.ratio_ip_gb=logspace(0,1,0)"], [], "empty grid"),
    (["materials.ratio_ip_gb=1,2,3", "materials.ratio_ip_op=1,2"], ["--max-points", "5"],
     "the grid has 6 points, more than the cap of 5"),
    ([], [], "nothing to sweep"),
])
def test_bad_sweep_input_exit_2_nothing_written(tmp_path, capsys, params, extra_args, message):
    case = write_case(tmp_path)
    out = tmp_path / "out"
    args = ["sweep", str(case), "-o", str(out), *extra_args]
    for p in params:
        args += ["--param", p]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("netsolve: error: ")
    assert message in err
    assert not out.exists()


def test_large_grid_runs_with_yes(tmp_path):
    plan = build_plan(write_case(tmp_path), (parse_param("materials.ratio_ip_gb=1,2,3"),),
                      max_points=2, allow_large=True)
    assert len(plan.points) == 3


def test_sweep_table_in_case_file(tmp_path):
    case = write_case(tmp_path, extra='\n[sweep]\ntop_k = 2\n[sweep.parameters]\n'
                                      '"materials.ratio_ip_gb" = "logspace(0, 2, 3)"\n'
                                      '"electrodes.source.potential_V" = [1, 2]\n')
    assert netsolve.load_case(case).materials.ratio_ip_gb == 20.0  # `run` ignores [sweep]
    plan = build_plan(case, (parse_param("electrodes.source.potential_V=3"),))
    assert plan.top_k == 2
    assert [p.key for p in plan.parameters] == ["materials.ratio_ip_gb",
                                                "electrodes.source.potential_V"]
    assert plan.parameters[0].values == (1.0, 10.0, 100.0)
    assert plan.parameters[1].values == (3,)  # --param replaces the table's entry
    assert plan.point_case(plan.points[-1]).electrodes[0].potential_V == 3.0
    seeds = build_plan(case, (parse_param("microstructure.seed=linspace(1,3,3)"),))
    used = [seeds.point_case(p).microstructure.options["seed"] for p in seeds.points]
    assert len(seeds.points) == 3 * 2 * 3 and sorted(set(used)) == [1, 2, 3]


# --------------------------------------------------------------------------- rows = single solves


@pytest.mark.parametrize("method", ["amg", "gmg"])
def test_rows_equal_single_solves_with_hierarchy_reuse(tmp_path, method):
    """Cached stages, matrix refill, warm starts and AMG / grid multigrid reuse give the same
    answer as a fresh solve of every point (iterative, so that warm starts and hierarchy reuse
    are exercised)."""
    case = write_case(tmp_path, method=method)
    plan = build_plan(case, (parse_param("materials.ratio_ip_op=logspace(1,3,3)"),
                             parse_param("materials.ratio_ip_gb=1,20")), top_k=3)
    out = tmp_path / "out"
    outcome = run_sweep(plan, out, plots=False)
    assert (outcome.n_ok, outcome.n_error) == (6, 0)
    rows = sweep_rows(out)
    assert set(rows) == {p.point_id for p in plan.points}
    for point in plan.points:
        row = rows[point.point_id]
        alone = netsolve.solve(plan.point_case(point))
        summary = alone.summary()
        assert float(row["total_current_A"]) == pytest.approx(summary["total_current_A"],
                                                              rel=1e-6)
        assert float(row["effective_conductivity_S_m"]) == pytest.approx(
            summary["effective_conductivity_S_m"], rel=1e-6)
        gb = alone.gb_table
        whole = (gb.segment == -1) & (gb.grain_b > 0)
        assert int(row["n_blocking_gbs"]) == int(gb.blocking[whole].sum())
        assert float(row["max_gb_field_V_m"]) == pytest.approx(
            np.nanmax(np.abs(gb.gb_field_V_m[whole])), rel=1e-6)
        assert float(row["solver_residual_rel"]) <= 10 * 1e-10
        assert row["solver_method"] == method
    if method == "amg":
        # the cached hierarchy was reused (no setup) for some points: that path is tested
        assert sum(float(r["solver_setup_s"]) == 0.0 for r in rows.values()) >= 2
    else:  # a grid hierarchy serves its own conductances only: every point sets one up
        assert all(float(r["solver_setup_s"]) > 0.0 for r in rows.values())
    # sigma_eff = L / (R A): 400 nm between the electrodes, 300 nm x 100 nm cross-section
    r = rows[plan.points[0].point_id]
    assert float(r["effective_conductivity_S_m"]) == pytest.approx(
        400e-9 / (float(r["effective_resistance_ohm"]) * 300e-9 * 100e-9), rel=1e-12)


def test_grid_hierarchy_reused_while_the_conductances_stay(tmp_path):
    """A key that changes no conductance (an analysis option) reuses the grid hierarchy of
    the first point (no setup) and gives the first point's currents to the solve tolerance;
    a changed conductance sets up a new one."""
    plan = build_plan(write_case(tmp_path, method="gmg"),
                      (parse_param("materials.ratio_ip_gb=1,20"),
                       parse_param("analysis.type_tolerance_deg=10,15,20")))
    engine = SweepEngine(plan)
    rows = [engine.evaluate(p) for p in plan.points]  # tolerance fastest
    assert [r["status"] for r in rows] == ["ok"] * 6
    setups = [float(r["solver_setup_s"]) for r in rows]
    assert setups[0] > 0 and setups[1] == setups[2] == 0.0
    assert setups[3] > 0 and setups[4] == setups[5] == 0.0
    for first, row in ((rows[0], rows[1]), (rows[0], rows[2]), (rows[3], rows[5])):
        assert row["total_current_A"] == pytest.approx(first["total_current_A"], rel=1e-8)
    assert all(r["solver_residual_rel"] <= 10 * 1e-10 for r in rows)


def test_predictor_gives_the_answers_of_cold_solves(tmp_path):
    """Warm starts from the Galerkin projection onto earlier solutions change no answer: a
    gmg sweep with them (reuse on) and without (every point from zero) agrees to the solve
    tolerance in every current, R_eff and GB headline, and every solve meets its rtol."""
    plan = build_plan(write_case(tmp_path, method="gmg"),
                      (parse_param("materials.ratio_ip_op=logspace(1,3,3)"),
                       parse_param("materials.ratio_ip_gb=1,5,20,100")))
    warm_engine, cold_engine = SweepEngine(plan), SweepEngine(plan, reuse=False)
    for point in plan.points:
        warm, cold = warm_engine.evaluate(point), cold_engine.evaluate(point)
        assert warm["status"] == cold["status"] == "ok"
        for column in ("total_current_A", "effective_resistance_ohm", "max_gb_field_V_m"):
            assert warm[column] == pytest.approx(cold[column], rel=1e-7)
        assert warm["blocking_gbs"] == cold["blocking_gbs"]
        assert warm["solver_residual_rel"] <= 10 * 1e-10
        assert cold["solver_residual_rel"] <= 10 * 1e-10
    assert len(warm_engine._warm_solutions) == 8  # the predictor had a basis to work with


def test_gb_geometry_shared_until_a_geometry_key_changes(tmp_path):
    """Points differing in materials.* / field-step analysis keys share one GB geometry
    object; a segment/band option or a microstructure key builds a new one."""
    case = write_case(tmp_path)
    plan = build_plan(case, (parse_param("analysis.band_width_nm=20,40"),
                             parse_param("materials.ratio_ip_gb=1,20"),
                             parse_param("analysis.type_tolerance_deg=10,20")))
    engine = SweepEngine(plan)
    geometry = [engine.solve(p).gb_geometry for p in plan.points]  # band width slowest
    assert all(g is geometry[0] for g in geometry[:4])
    assert all(g is geometry[4] for g in geometry[4:]) and geometry[4] is not geometry[0]
    assert (len(geometry[0].band_a), len(geometry[4].band_a)) == (2, 4)  # 10 nm voxels
    for key in ("analysis.segment_angle_deg=20,40", "microstructure.seed=1,2"):
        plan = build_plan(case, (parse_param(key),))
        engine = SweepEngine(plan)
        first, second = (engine.solve(p).gb_geometry for p in plan.points)
        assert second is not first


def test_gb_table_from_shared_geometry_equals_fresh(tmp_path):
    """The GB table of a point that reused the previous point's geometry equals, column by
    column and exactly, the table computed from a geometry built for that point."""
    from netsolve.analysis import gb_table
    from netsolve.analysis.report import table_columns

    plan = build_plan(write_case(tmp_path), (parse_param("materials.ratio_ip_gb=1,20"),
                                             parse_param("materials.ratio_ip_op=10,1000")))
    engine = SweepEngine(plan)
    results = [engine.solve(p) for p in plan.points]
    last = results[-1]
    assert last.gb_geometry is results[0].gb_geometry
    shared = last.gb_table
    fresh = gb_table(last.case, last.microstructure, last.graph, last.fields,
                     last.solution.electrode_potential)
    columns, expected = table_columns(shared), table_columns(fresh)
    assert list(columns) == list(expected)
    assert np.isfinite(columns["gb_field_V_m"][shared.segment == -1]).any()
    for name, values in expected.items():
        np.testing.assert_array_equal(columns[name], values, err_msg=name)
    for name in ("face_lower_voxel", "face_axis", "face_segment_row"):
        np.testing.assert_array_equal(getattr(shared, name), getattr(fresh, name))


# --------------------------------------------------------------------------- failures, resume


def test_failing_point_recorded_and_sweep_continues(tmp_path):
    case = write_case(tmp_path, method="cg")
    plan = build_plan(case, (parse_param("solver.maxiter=1,5000"),))
    out = tmp_path / "out"
    outcome = run_sweep(plan, out, plots=False)
    assert (outcome.n_ok, outcome.n_error) == (1, 1)
    rows = sweep_rows(out)
    failed, ok = (rows[p.point_id] for p in plan.points)
    assert failed["status"] == "error" and "did not converge" in failed["message"]
    assert ok["status"] == "ok" and float(ok["total_current_A"]) > 0


def test_resume_after_sigkill_equals_uninterrupted(tmp_path):
    case = write_case(tmp_path, method="cg")
    params = ["--param", "materials.ratio_ip_op=logspace(1,3,8)",
              "--param", "materials.ratio_ip_gb=1,5,20"]
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "netsolve.cli", "sweep", str(case), "-o", str(killed),
               "--no-plots", *params]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    table = killed / "sweep.csv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if table.exists() and table.read_text().count("\n") >= 1 + 4:  # header + 4 rows
            break
        time.sleep(0.005)
    assert process.poll() is None, "the sweep finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = table.read_text().count("\n") - 1
    assert 4 <= partial < 24
    with open(table, "a") as stream:  # as if the kill had hit in the middle of a row
        stream.write("99-deadbeef,1.0,2")
    assert main(["sweep", str(case), "-o", str(killed), "--resume", "--no-plots", *params]) == 0
    full = tmp_path / "full"
    assert main(["sweep", str(case), "-o", str(full), "--no-plots", *params]) == 0
    resumed_rows, full_rows = sweep_rows(killed), sweep_rows(full)
    assert sorted(resumed_rows) == sorted(full_rows) and len(full_rows) == 24
    for pid, row in full_rows.items():
        assert resumed_rows[pid]["status"] == "ok"
        assert float(resumed_rows[pid]["total_current_A"]) == pytest.approx(
            float(row["total_current_A"]), rel=1e-6)
    # resuming a finished sweep adds nothing; another definition is refused
    assert main(["sweep", str(case), "-o", str(killed), "--resume", "--no-plots", *params]) == 0
    assert len(read_table(killed)) == 24
    assert main(["sweep", str(case), "-o", str(killed), "--resume", "--no-plots",
                 "--param", "materials.ratio_ip_gb=1,5"]) == 2
    assert main(["sweep", str(case), "-o", str(killed), "--no-plots", *params]) == 2


# --------------------------------------------------------------------------- parallel, outputs


def _serial_reference(tmp_path, plan):
    out = tmp_path / "serial"
    run_sweep(plan, out, plots=False)
    return sweep_rows(out)


def _assert_same_rows(rows, reference):
    assert sorted(rows) == sorted(reference)
    for pid, row in reference.items():
        assert rows[pid]["status"] == row["status"] == "ok"
        for column in ("total_current_A", "max_gb_field_V_m"):
            assert float(rows[pid][column]) == pytest.approx(float(row[column]), rel=1e-6)
        assert rows[pid]["blocking_gbs"] == row["blocking_gbs"]


def test_chunks_cover_the_points_in_order_and_shrink_towards_the_end():
    from netsolve.sweep.worker import MAX_CHUNK, chunks

    points = list(range(100))
    parts = chunks(points, 2)
    assert [p for part in parts for p in part] == points
    sizes = [len(part) for part in parts]
    assert sizes[0] == MAX_CHUNK and sizes[-1] == 1
    assert all(a >= b for a, b in zip(sizes, sizes[1:]))  # never growing
    assert [len(part) for part in chunks(list(range(5)), 2)] == [1] * 5
    assert chunks([], 3) == []


def test_jobs_2_equals_serial_and_fields_saved(tmp_path):
    plan = build_plan(write_case(tmp_path), (parse_param("materials.ratio_ip_gb=1,5,20,100"),))
    reference = _serial_reference(tmp_path, plan)
    out = tmp_path / "jobs2"
    run_sweep(plan, out, jobs=2, save_fields=True, plots=False)
    _assert_same_rows(sweep_rows(out), reference)
    point = plan.points[2]
    with np.load(out / "fields" / f"{point.point_id}.npz", allow_pickle=False) as saved:
        alone = netsolve.solve(plan.point_case(point))
        np.testing.assert_allclose(saved["potential"], alone.fields.potential, rtol=1e-9,
                                   equal_nan=True)
    assert not list((out / "fields").glob(".*"))  # no temporary files left


def test_dask_local_cluster_equals_serial(tmp_path):
    pytest.importorskip("distributed")
    plan = build_plan(write_case(tmp_path), (parse_param("materials.ratio_ip_op=10,1000"),))
    reference = _serial_reference(tmp_path, plan)
    out = tmp_path / "dask"
    run_sweep(plan, out, scheduler="local", jobs=1, plots=False)
    _assert_same_rows(sweep_rows(out), reference)


def test_dask_scheduler_address_equals_serial(tmp_path):
    """A scheduler given by its address passes the identity check and runs the points."""
    distributed = pytest.importorskip("distributed")
    plan = build_plan(write_case(tmp_path), (parse_param("materials.ratio_ip_gb=1,20"),))
    reference = _serial_reference(tmp_path, plan)
    out = tmp_path / "dask"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        run_sweep(plan, out, scheduler=cluster.scheduler_address, scheduler_timeout=5,
                  plots=False)
    _assert_same_rows(sweep_rows(out), reference)


def _free_port() -> int:
    """A local TCP port nobody listens on (bound once by the OS, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_scheduler_exit_2_nothing_written(tmp_path, capsys):
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{_free_port()}"
    out = tmp_path / "out"
    assert main(["sweep", str(write_case(tmp_path)), "-o", str(out), "--scheduler", address,
                 "--scheduler-timeout", "1", "--param", "materials.ratio_ip_gb=1,2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"netsolve: error: --scheduler {address}: ")
    assert "no Dask scheduler within 1 s (connection refused" in err
    assert not out.exists()


def test_listener_that_never_answers_is_not_a_scheduler(tmp_path, capsys):
    """A port that accepts TCP connections but never speaks (distributed's own Client would
    wait there for good) is given up after the timeout, with exit status 2."""
    pytest.importorskip("distributed")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes connections; nothing ever reads or writes
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        out = tmp_path / "out"
        assert main(["sweep", str(write_case(tmp_path)), "-o", str(out), "--scheduler",
                     address, "--scheduler-timeout", "1",
                     "--param", "materials.ratio_ip_gb=1,2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"netsolve: error: --scheduler {address}: ")
    assert "no Dask scheduler within 1 s" in err and "connection refused" not in err
    assert not out.exists()


@pytest.mark.parametrize("value", ["0", "-3", "abc", "nan", "inf"])
def test_bad_scheduler_timeout_exit_2(tmp_path, capsys, value):
    out = tmp_path / "out"
    assert main(["sweep", str(write_case(tmp_path)), "-o", str(out), "--scheduler", "local",
                 f"--scheduler-timeout={value}", "--param", "materials.ratio_ip_gb=1,2"]) == 2
    err = capsys.readouterr().err
    assert err == (f"netsolve: error: --scheduler-timeout must be a number of seconds > 0, "
                   f"got '{value}'\n")
    assert not out.exists()


def test_parquet_round_trip_and_plots(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    plan = build_plan(write_case(tmp_path), (parse_param("materials.ratio_ip_op=logspace(1,3,3)"),
                                             parse_param("materials.ratio_ip_gb=1,20")))
    out = tmp_path / "out"
    outcome = run_sweep(plan, out)
    table = pq.read_table(out / "sweep.parquet").to_pylist()
    csv_rows = sweep_rows(out)
    assert [r["point_id"] for r in table] == [p.point_id for p in plan.points]
    for row in table:
        expected = csv_rows[row["point_id"]]
        assert row["total_current_A"] == float(expected["total_current_A"])  # exact: repr
        assert row["materials.ratio_ip_op"] == float(expected["materials.ratio_ip_op"])
        assert row["blocking_gbs"] == expected["blocking_gbs"]
        assert row["solver_method"] == "direct"
    names = {p.name for p in outcome.files}
    assert {"sweep_materials_ratio_ip_op.png", "sweep_materials_ratio_ip_gb.png",
            "sweep_heatmap.png"} <= names
    assert all(math.isfinite(float(r["effective_conductivity_S_m"])) for r in csv_rows.values())


def test_progress_bar_one_line_with_eta(capsys):
    from netsolve.sweep.runner import ProgressBar

    bar = ProgressBar(2, enabled=True, width=10)
    bar.update(0)
    bar.update(1)
    bar.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.count("\r") == 2
    assert "[##########] 2/2 points, 1 errors, ETA 0:00" in err
    quiet = ProgressBar(2, enabled=False)
    quiet.update(0)
    quiet.close()
    assert capsys.readouterr().err == ""


def test_scheduler_without_dask_exit_2_nothing_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    out = tmp_path / "out"
    assert main(["sweep", str(write_case(tmp_path)), "-o", str(out), "--scheduler", "local",
                 "--param", "materials.ratio_ip_gb=1,2"]) == 2
    assert "pip install 'netsolve[distributed]'" in capsys.readouterr().err
    assert not out.exists()

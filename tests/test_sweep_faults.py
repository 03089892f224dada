"""netsolve sweep under faults: killed sweeps leave no worker, --resume refuses changed inputs
and repairs its table, sizes are bounded up front, Dask workers can be lost, the sweep folder
cannot be written."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from netsolve.cli import main
from netsolve.sweep import build_plan, parse_param, read_table, run_sweep
from netsolve.sweep.grid import MAX_SWEEP_POINTS
from netsolve.sweep.worker import PAUSE_ENV

CASE = """
electrodes = [{ name = "source", region = "left", potential_V = 1.0 },
              { name = "sink", region = { mask = "sink.npy" }, potential_V = 0.0 }]

[grid]
shape = [24, 16]
voxel_size_nm = 10.0

[microstructure]
source = "labels"
path = "labels.npy"

[[grains]]
id = 1
euler_deg = [0, 0, 0]

[[grains]]
id = 2
euler_deg = [30, 90, 0]

[[grains]]
id = 3
euler_deg = [60, 45, 10]

[solver]
method = "direct"
discretization = "tpfa"
"""
PARAMS = ["--param", "materials.ratio_ip_gb=1,2,5,10,20,50"]
TIMING_COLUMNS = {"wall_s", "solver_setup_s", "solver_time_s"}
WAIT_S = 180  # bound for waits on subprocesses and workers (generous: a loaded machine)


def write_case(folder: Path) -> Path:
    labels = np.ones((24, 16), np.int32)
    labels[8:16] = 2
    labels[16:, 8:] = 3
    np.save(folder / "labels.npy", labels)
    sink = np.zeros((24, 16), bool)
    sink[-1] = True
    np.save(folder / "sink.npy", sink)
    path = folder / "case.toml"
    path.write_text(CASE)
    return path


def netsolve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "netsolve.cli", *args]


def table_without_timings(out: Path) -> dict[str, dict[str, str]]:
    return {r["point_id"]: {k: v for k, v in r.items() if k not in TIMING_COLUMNS}
            for r in read_table(out)}


@pytest.fixture
def case(tmp_path) -> Path:
    return write_case(tmp_path)


@pytest.fixture
def reference(case, tmp_path) -> dict:
    """The uninterrupted sweep of PARAMS."""
    out = tmp_path / "reference"
    assert main(["sweep", str(case), "-o", str(out), "--no-plots", *PARAMS]) == 0
    return table_without_timings(out)


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("params, message", [
    (["materials.ratio_ip_gb=linspace(0,1,1e10)"],
     "--param materials.ratio_ip_gb: 'linspace(0,1,1e10)' has 10000000000 values, more than the "
     f"maximum of {MAX_SWEEP_POINTS} points per sweep"),
    (["materials.ratio_ip_gb=linspace(1,2,1000)", "materials.ratio_ip_op=linspace(1,2,1000)",
      "solver.rtol=linspace(1e-10,1e-9,1000)"],
     "the grid has 1000000000 points (1000 x 1000 x 1000), more than the maximum of "
     f"{MAX_SWEEP_POINTS} points per sweep; use fewer values"),
    (["materials.ratio_ip_gb=logspace(1,4)"],
     "--param materials.ratio_ip_gb: 'logspace(1,4)' needs three numbers, logspace(a, b, n): n "
     "values from 10^a to 10^b; got 2 arguments"),
    (["materials.ratio_ip_gb=logspace(1,4"],
     "--param materials.ratio_ip_gb: 'logspace(1,4' is not of the form logspace(a, b, n): n "
     "values from 10^a to 10^b (three numbers in parentheses)"),
    (["materials.ratio_ip_gb=linspace(1,2,2.5)"],
     "--param materials.ratio_ip_gb: 'linspace(1,2,2.5)': n must be a whole number of values, "
     "got 2.5"),
])
def test_huge_or_malformed_grid_refused_before_allocating(case, tmp_path, capsys, params,
                                                          message):
    """Refused with the size and the limit, --yes or not, before any value is made (the
    first grid alone would be 80 GB of floats; the peak here stays below 20 MB)."""
    out = tmp_path / "out"
    args = ["sweep", str(case), "-o", str(out), "--yes"]
    for p in params:
        args += ["--param", p]
    tracemalloc.start()
    try:
        assert main(args) == 2
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6
    assert capsys.readouterr().err == f"netsolve: error: {message}\n"
    assert not out.exists()


# --------------------------------------------------------------------------- killing


def live_group_members(pgid: int) -> list[int]:
    """Processes of a process group that are not zombies (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        state, _, group = stat[stat.rindex(")") + 2:].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def wait_until(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def started_workers(pause: Path, n: int) -> list[int]:
    """Pids of the workers paused in a chunk (the PAUSE_ENV hook), once ``n`` have started."""
    markers = wait_until(lambda: (m := list(pause.glob("started-*"))) and len(m) >= n and m,
                         f"{n} workers to start a chunk")
    return [int(m.name.split("-")[1]) for m in markers]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("scheduler, signum", [
    (None, signal.SIGKILL), (None, signal.SIGTERM), (None, signal.SIGINT),
    ("local", signal.SIGKILL), ("local", signal.SIGTERM)])
def test_killed_sweep_leaves_no_worker(case, tmp_path, scheduler, signum):
    """Whatever stops a `--jobs 2` sweep (its parent killed outright, SIGTERM, Ctrl-C), no
    process of its group survives; a handled signal exits 128 + signum with one line, and the
    table holds whole rows only."""
    if scheduler:
        pytest.importorskip("distributed")
    pause = tmp_path / "pause"
    pause.mkdir()
    out = tmp_path / "out"
    stderr = tmp_path / "stderr.txt"
    command = netsolve_command("sweep", str(case), "-o", str(out), "--no-plots", "--jobs", "2",
                               *PARAMS, *(["--scheduler", scheduler] if scheduler else []))
    with open(stderr, "w") as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err,
                                   env={**os.environ, PAUSE_ENV: str(pause)},
                                   start_new_session=True)  # its own group: pgid = pid
    try:
        workers = started_workers(pause, 2)
        os.kill(process.pid, signum)
        status = process.wait(WAIT_S)
        wait_until(lambda: not live_group_members(process.pid), "the workers to exit")
    finally:
        if process.poll() is None:
            process.kill()
        for pid in live_group_members(process.pid):  # only if the test failed
            os.kill(pid, signal.SIGKILL)
    assert all(not Path(f"/proc/{pid}").exists()
               or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
               for pid in workers)
    if signum == signal.SIGKILL:
        assert status == -signal.SIGKILL
    else:
        assert status == 128 + signum
        assert stderr.read_text() == (
            f"netsolve: interrupted ({signal.Signals(signum).name}); the finished points are "
            f"in {out / 'sweep.csv'}: rerun with --resume\n")
    assert table_without_timings(out) == {}  # the workers were stopped inside their chunk
    assert sorted(p.name for p in out.iterdir()) == ["sweep.csv", "sweep.json"]


# --------------------------------------------------------------------------- resume


@pytest.mark.parametrize("changed", ["labels.npy", "sink.npy"])
def test_resume_refuses_a_changed_input_file(case, tmp_path, capsys, changed):
    out = tmp_path / "out"
    assert main(["sweep", str(case), "-o", str(out), "--no-plots", *PARAMS]) == 0
    stored = json.loads((out / "sweep.json").read_text())["inputs"]
    assert stored == {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
                      for name in ("labels.npy", "sink.npy")}
    original = (tmp_path / changed).read_bytes()
    array = np.load(tmp_path / changed)
    array.flat[0] = not array.flat[0] if array.dtype == bool else array.flat[0] % 3 + 1
    np.save(tmp_path / changed, array)
    capsys.readouterr()
    before = (out / "sweep.csv").read_bytes()
    assert main(["sweep", str(case), "-o", str(out), "--no-plots", "--resume", *PARAMS]) == 2
    assert capsys.readouterr().err == (
        f"netsolve: error: {out}: --resume refused: the input file {changed} changed since the "
        f"sweep started (its contents differ); use another -o for a new sweep\n")
    assert (out / "sweep.csv").read_bytes() == before
    (tmp_path / changed).write_bytes(original)  # the same contents again: resumes
    assert main(["sweep", str(case), "-o", str(out), "--no-plots", "--resume", *PARAMS]) == 0
    assert (out / "sweep.csv").read_bytes() == before  # nothing left to run


def test_resume_refuses_a_changed_case(case, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(case), "-o", str(out), "--no-plots", *PARAMS]) == 0
    case.write_text(CASE + "\n# a comment changes nothing\n")
    assert main(["sweep", str(case), "-o", str(out), "--no-plots", "--resume", *PARAMS]) == 0
    case.write_text(CASE.replace('method = "direct"', 'method = "direct"\nrtol = 1e-9'))
    capsys.readouterr()
    assert main(["sweep", str(case), "-o", str(out), "--no-plots", "--resume", *PARAMS]) == 2
    assert capsys.readouterr().err == (
        f"netsolve: error: {out}: --resume refused: the case case.toml is not the one the "
        f"sweep started with; use another -o for a new sweep\n")


def test_duplicate_and_corrupt_rows_are_run_again(case, tmp_path, capsys, reference):
    out = tmp_path / "out"
    shutil.copytree(tmp_path / "reference", out)
    lines = (out / "sweep.csv").read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    current = header.index("total_current_A")

    def edited(line: str, column: int, value: str) -> str:
        cells = line.rstrip("\n").split(",")
        cells[column] = value
        return ",".join(cells) + "\n"

    damaged = [lines[0], lines[1], lines[1],  # a duplicated row: both copies are dropped
               edited(lines[2], current, "nan"),  # NaN where a number must be
               lines[3].rstrip("\n").rsplit(",", 1)[0] + "\n",  # a column short
               edited(lines[4], current, "1.0e-x"),  # not a number
               lines[5], lines[6],
               lines[3][:25]]  # a last line a kill cut
    (out / "sweep.csv").write_text("".join(damaged))
    capsys.readouterr()
    assert main(["sweep", str(case), "-o", str(out), "--no-plots", "--resume", *PARAMS]) == 0
    captured = capsys.readouterr()
    assert captured.err == (f"netsolve: {out / 'sweep.csv'}: 2 duplicated and 4 corrupt rows "
                            f"dropped (first: line 2, point {lines[1].split(',')[0]} is in the "
                            f"table 2 times); their points are run again\n")
    assert "6 points (2 done before), 4 ok, 0 errors" in captured.out
    assert table_without_timings(out) == reference  # value for value, as strings


def test_invalid_utf8_in_the_table_is_one_line(case, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(case), "-o", str(out), "--no-plots", *PARAMS]) == 0
    data = (out / "sweep.csv").read_bytes().split(b"\n")
    data[3] = data[3][:12] + b"\xff\xfe" + data[3][12:]
    (out / "sweep.csv").write_bytes(b"\n".join(data))
    capsys.readouterr()
    assert main(["sweep", str(case), "-o", str(out), "--no-plots", "--resume", *PARAMS]) == 2
    assert capsys.readouterr().err == (
        f"netsolve: error: {out / 'sweep.csv'}: line 4 is not UTF-8 text (byte 0xff at column "
        f"13); the table was changed outside netsolve: repair or delete that line, then rerun "
        f"with --resume\n")
    assert (out / "sweep.csv").read_bytes() == b"\n".join(data)  # left as it was


# --------------------------------------------------------------------------- disk full


def run_with_file_size_limit(limit: int, *args: str) -> subprocess.CompletedProcess:
    """The CLI with RLIMIT_FSIZE = ``limit`` bytes: a write beyond fails with EFBIG, as on a
    full disk (Python ignores SIGXFSZ)."""
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(netsolve_command(*args), capture_output=True, text=True,
                          preexec_fn=limited, timeout=WAIT_S)


def test_disk_full_one_line_nothing_half_written(case, tmp_path, reference):
    out = tmp_path / "out"
    args = ("sweep", str(case), "-o", str(out), "--no-plots", *PARAMS)
    # sweep.json does not fit: no sweep folder at all (not even a temporary one)
    failed = run_with_file_size_limit(300, *args)
    assert (failed.returncode, failed.stderr) == (
        2, f"netsolve: error: {out}: cannot write (File too large)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.toml", "labels.npy",
                                                          "reference", "sink.npy"]
    # room for the definition, the header and two and a half rows (the limit is per file):
    # whole rows only, then --resume
    lines = (tmp_path / "reference" / "sweep.csv").read_bytes().splitlines(keepends=True)
    limit = len(lines[0]) + int(2.5 * max(len(line) for line in lines[1:]))
    assert len((tmp_path / "reference" / "sweep.json").read_bytes()) < limit
    failed = run_with_file_size_limit(limit, *args)
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1
    assert failed.stderr.startswith(f"netsolve: error: {out / 'sweep.csv'}: cannot write (File "
                                    f"too large); the ")
    assert failed.stderr.endswith(" finished points are kept; free space or fix the folder, "
                                  "then rerun with --resume\n")
    kept = table_without_timings(out)
    assert 0 < len(kept) < 6 and all(reference[pid] == row for pid, row in kept.items())
    assert (out / "sweep.csv").read_bytes().endswith(b"\n")
    assert sorted(p.name for p in out.iterdir()) == ["sweep.csv", "sweep.json"]
    assert main([*args, "--resume"]) == 0
    assert table_without_timings(out) == reference


# --------------------------------------------------------------------------- Dask


def test_dask_lost_workers_points_resubmitted(case, tmp_path, monkeypatch, reference):
    """Both workers of a LocalCluster are killed inside their first chunk (one of them held
    the plan): their chunks and the plan are recomputed on the restarted workers and the table
    equals the uninterrupted sweep."""
    pytest.importorskip("distributed")
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(PAUSE_ENV, str(pause))  # inherited by the worker processes
    killed: list[int] = []

    def kill_workers() -> None:
        killed.extend(started_workers(pause, 2))
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        (pause / "release").touch()

    killer = threading.Thread(target=kill_workers, daemon=True)
    killer.start()
    plan = build_plan(case, (parse_param(PARAMS[1]),))
    outcome = run_sweep(plan, tmp_path / "out", scheduler="local", jobs=2, plots=False)
    killer.join()
    assert len(killed) == 2
    assert (outcome.n_ok, outcome.n_error) == (6, 0)
    assert table_without_timings(tmp_path / "out") == reference


def start_worker(address: str, env: dict) -> subprocess.Popen:
    """A Dask worker process without a nanny: nothing restarts it when it dies."""
    return subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                             "--no-nanny", "--nthreads", "1", "--no-dashboard"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def test_dask_only_worker_lost_one_line(case, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    pause = tmp_path / "pause"
    pause.mkdir()
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        worker = start_worker(address, {**os.environ, PAUSE_ENV: str(pause)})
        try:
            def kill_worker() -> None:
                started_workers(pause, 1)
                worker.kill()
                (pause / "release").touch()

            killer = threading.Thread(target=kill_worker, daemon=True)
            killer.start()
            status = main(["sweep", str(case), "-o", str(out), "--no-plots", *PARAMS,
                           "--scheduler", address, "--scheduler-timeout", str(WAIT_S // 30)])
            killer.join()
        finally:
            worker.kill()
            worker.wait()
    assert status == 2
    assert capsys.readouterr().err == (
        f"netsolve: error: --scheduler {address}: every Dask worker was lost and none joined "
        f"within {WAIT_S // 30} s; the finished points are in sweep.csv: rerun with --resume "
        f"when workers are back\n")
    assert table_without_timings(out) == {}  # the only worker died in its first chunk


def test_scheduler_without_workers_refused_before_writing(case, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert main(["sweep", str(case), "-o", str(out), "--no-plots", *PARAMS,
                     "--scheduler", address, "--scheduler-timeout", "1"]) == 2
    assert capsys.readouterr().err == (
        f"netsolve: error: --scheduler {address}: the scheduler has no worker (none joined "
        f"within 1 s); start workers (dask worker {address}) or raise --scheduler-timeout\n")
    assert not out.exists()

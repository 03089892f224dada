"""The end of a local `--jobs` sweep: the figures drawn by two processes are the same files as
those drawn by one, a failed helper's figures are drawn by the parent, an error in the parent
stops the helper; the thread that imports the output libraries while workers run has ended
when the workers have."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from netsolve.sweep import build_plan, parse_param, run_sweep
from netsolve.sweep import plots
from netsolve.sweep.local import run_processes
from test_sweep import write_case

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the helper process is forked on Linux only")
FIGURES = ["sweep_heatmap.png", "sweep_materials_ratio_ip_gb.png",
           "sweep_materials_ratio_ip_op.png"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished two-way sweep (three figures), drawn by one process."""
    tmp = tmp_path_factory.mktemp("sweep_end")
    plan = build_plan(write_case(tmp), (parse_param("materials.ratio_ip_op=logspace(1,3,3)"),
                                        parse_param("materials.ratio_ip_gb=1,20")))
    out = tmp / "out"
    outcome = run_sweep(plan, out)
    assert outcome.n_ok == 6
    return plan, out, {name: (out / name).read_bytes() for name in FIGURES}


def copy_table(out: Path, folder: Path) -> Path:
    folder.mkdir()
    (folder / "sweep.csv").write_bytes((out / "sweep.csv").read_bytes())
    return folder


def pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "sweep.csv"}


def in_fresh_process(check, *args) -> None:
    """Run ``check(*args)`` in a new interpreter (spawned): the helper is forked only where no
    other thread runs, and earlier tests (Dask) leave one in this process."""
    process = multiprocessing.get_context("spawn").Process(target=check, args=args)
    process.start()
    process.join(WAIT_S)
    if process.exitcode is None:
        process.kill()
    assert process.exitcode == 0, "the check failed in its process (its traceback: stderr)"


WAIT_S = 300  # bound for a check's process (generous: a loaded machine)


@linux_only
def test_two_processes_draw_the_same_files(swept, tmp_path):
    plan, out, reference = swept
    in_fresh_process(check_two_processes, plan, copy_table(out, tmp_path / "two"), reference)


def check_two_processes(plan, folder, reference):
    helpers = []
    start = plots.start_helper
    plots.start_helper = lambda *a: helpers.append(start(*a)) or helpers[-1]
    paths = plots.write_sweep_plots(folder, plan, processes=2)
    assert len(helpers) == 1 and helpers[0].exitcode == 0  # the helper drew its share
    assert sorted(p.name for p in paths) == FIGURES
    assert pngs(folder) == reference  # byte for byte, and no temporary file left
    assert multiprocessing.active_children() == []


@linux_only
def test_failed_helper_figures_drawn_by_parent(swept, tmp_path):
    plan, out, reference = swept
    in_fresh_process(check_failed_helper, plan, copy_table(out, tmp_path / "failed"),
                     reference, tmp_path / "helper-ran")


def check_failed_helper(plan, folder, reference, marker):
    def failing_helper(draw, share, parent_pid):
        marker.write_text(" ".join(map(str, share)))
        os._exit(1)

    plots._draw_share = failing_helper
    plots.write_sweep_plots(folder, plan, processes=2)
    assert marker.read_text() == "0"  # the helper had the first key's figure, and failed
    assert pngs(folder) == reference


@linux_only
def test_error_in_parent_stops_the_helper(swept, tmp_path):
    """The parent's share fails while the helper still draws: the error is raised, the helper
    is stopped (SIGTERM) and leaves neither its figure nor a temporary file."""
    plan, out, _ = swept
    in_fresh_process(check_error_in_parent, plan, copy_table(out, tmp_path / "stopped"),
                     tmp_path / "helper-started")


def check_error_in_parent(plan, folder, started):
    lines = plots._lines

    def slow_first_key(plt, plan, grids, headlines, axis, out_dir):
        if axis == 0:  # the helper's share: blocks until it is stopped
            assert os.getpid() != parent
            started.touch()
            time.sleep(WAIT_S)
        return lines(plt, plan, grids, headlines, axis, out_dir)

    def broken_heatmap(*args):
        while not started.exists():  # the helper is drawing
            time.sleep(0.01)
        raise RuntimeError("heat map failed")

    parent = os.getpid()
    plots._lines, plots._heatmap = slow_first_key, broken_heatmap
    with pytest.raises(RuntimeError, match="heat map failed"):
        plots.write_sweep_plots(folder, plan, processes=2)
    assert multiprocessing.active_children() == []
    assert sorted(pngs(folder)) == ["sweep_materials_ratio_ip_gb.png"]  # the parent's only


def test_no_helper_for_one_process_or_one_figure(swept, tmp_path, monkeypatch):
    plan, out, reference = swept
    monkeypatch.setattr(plots, "start_helper", lambda *a: pytest.fail("a helper was started"))
    folder = copy_table(out, tmp_path / "one")
    plots.write_sweep_plots(folder, plan, processes=1)
    assert pngs(folder) == reference
    one_way = build_plan(write_case(tmp_path), (parse_param("materials.ratio_ip_gb=1,20"),))
    out_one = tmp_path / "one_way"
    run_sweep(one_way, out_one, jobs=2)
    assert sorted(p.name for p in out_one.glob("*.png")) == ["sweep_materials_ratio_ip_gb.png"]


def test_no_helper_while_another_thread_runs(swept, tmp_path, monkeypatch):
    """A fork copies only the calling thread: with another thread alive, one process draws."""
    plan, out, reference = swept
    monkeypatch.setattr(plots, "start_helper", lambda *a: pytest.fail("a helper was started"))
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        folder = copy_table(out, tmp_path / "threaded")
        plots.write_sweep_plots(folder, plan, processes=2)
    finally:
        release.set()
        other.join()
    assert pngs(folder) == reference


def test_meanwhile_runs_while_workers_work_and_has_ended(swept, tmp_path):
    plan, _, _ = swept
    seen = []

    def meanwhile():
        time.sleep(0.2)  # still running when the workers' rows arrive
        seen.append(threading.current_thread().name)

    rows = []
    run_processes(plan, list(plan.points), None, 2, rows.extend, meanwhile=meanwhile)
    assert seen == ["netsolve-meanwhile"]
    assert not any(t.name == "netsolve-meanwhile" for t in threading.enumerate())
    assert sorted(r["point_id"] for r in rows) == sorted(p.point_id for p in plan.points)
    assert all(r["status"] == "ok" for r in rows)


# --------------------------------------------------------------------------- worker memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
@pytest.mark.parametrize("keep", [True, False])
def test_worker_keeps_freed_memory_for_the_next_arrays(keep):
    """After keep_freed_memory, a 16 MiB array comes from the heap, not from a fresh mmap, and
    its memory stays in the heap when it is freed; without it (the control), it is mmapped
    (mallinfo2: glibc >= 2.33)."""
    in_fresh_process(check_keeps_freed_memory, keep)


def check_keeps_freed_memory(keep: bool):
    import ctypes

    import numpy as np

    from netsolve.sweep.worker import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        return  # an older glibc: nothing to observe
    libc.mallinfo2.restype = MallInfo2
    size = 16 * 1024 * 1024  # under the 32 MiB threshold; no array this large was freed yet
    if keep:
        assert keep_freed_memory()
    before = libc.mallinfo2()
    a = np.ones(size // 8)
    during = libc.mallinfo2()
    if not keep:  # glibc's default: an mmap of its own
        assert during.hblkhd >= before.hblkhd + size
        return
    assert during.hblkhd == before.hblkhd and during.uordblks >= before.uordblks + size
    del a
    after = libc.mallinfo2()
    assert after.arena == during.arena and after.fordblks >= size  # kept for the next array


def test_pool_workers_keep_freed_memory(swept, tmp_path, monkeypatch):
    """Each worker process of `--jobs` sets the allocator up before its first point."""
    from netsolve.sweep import local

    plan, _, _ = swept
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setattr(local, "keep_freed_memory",
                        lambda: (marks / str(os.getpid())).touch() or True)
    rows = []
    run_processes(plan, list(plan.points), None, 2, rows.extend)
    assert len(rows) == len(plan.points)
    pids = {int(p.name) for p in marks.iterdir()}
    assert len(pids) == 2 and os.getpid() not in pids

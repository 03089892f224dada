"""Signals and crashes at exact points (subprocesses of the real console script).

The process is stopped at a named point by the test hook of :mod:`netsolve.interrupts`
(``NETSOLVE_TEST_PAUSE``), announces itself through a file, and gets its signal exactly there.
SIGINT / SIGTERM / SIGHUP: one line on stderr, status 130 / 143 / 129, no temporary folder, the
previous result untouched. SIGKILL: the result's name holds the old or the new result, and the
leftovers are removed (or moved back) by the next writer or reader.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import bicrystal_toml

from netsolve import cli
from netsolve.export import read_result_dir
from netsolve.interrupts import PAUSE_ENV, PAUSE_READY_ENV

EXE = Path(sys.executable).with_name("netsolve")
WAIT_S = 120  # generous bounds on a loaded machine: a hung process fails, nothing is timed
FALLBACK = ("import sys; import netsolve.atomic as a; a.EXCHANGE = None; "
            "from netsolve.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.fixture
def work(tmp_path):
    """work/: the cases (old.toml drives 1 V, new.toml 2 V); ctl/: the pause files."""
    (tmp_path / "work").mkdir()
    (tmp_path / "ctl").mkdir()
    (tmp_path / "work" / "old.toml").write_text(bicrystal_toml(1.0))
    (tmp_path / "work" / "new.toml").write_text(bicrystal_toml(2.0))
    return tmp_path


def source_potential(result: Path) -> float:
    return json.loads((result / "summary.json").read_text())["electrode_potentials_V"]["source"]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def paused(work: Path, point: str, argv: list[str], fallback: bool = False) -> subprocess.Popen:
    """Start netsolve with ``argv`` and return once it waits at ``point``."""
    ready = work / "ctl" / f"ready-{point}"
    env = {**os.environ, PAUSE_ENV: point, PAUSE_READY_ENV: str(ready)}
    command = [sys.executable, "-c", FALLBACK] if fallback else [str(EXE)]
    proc = subprocess.Popen(command + argv, cwd=work / "work", env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + WAIT_S
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"netsolve never reached {point!r} (status {proc.returncode}): {err}")
        time.sleep(0.01)
    assert int(ready.read_text()) == proc.pid
    return proc


def stop(proc: subprocess.Popen, signum: int) -> tuple[int, str]:
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=WAIT_S)
    return proc.returncode, err


def old_result(work: Path) -> Path:
    """work/res: a finished result of old.toml, with a file of the user's in it."""
    out = work / "work" / "res"
    assert cli.main(["run", str(work / "work" / "old.toml"), "-o", str(out), "-q"]) == 0
    (out / "notes.txt").write_text("mine")
    return out


NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                            (signal.SIGHUP, 129)])
def test_signal_during_start_up(work, signum, status):
    # before NumPy/SciPy are imported: the handlers are already there
    proc = paused(work, "startup", ["run", "old.toml", "-o", "res", "-q"])
    assert stop(proc, signum) == (status, f"netsolve: interrupted by {NAMES[signum]}\n")
    assert sorted(p.name for p in (work / "work").iterdir()) == ["new.toml", "old.toml"]


def test_start_up_imports_nothing_heavy():
    code = ("import sys, netsolve.cli; "
            "print(sorted(m for m in ('numpy', 'scipy', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=WAIT_S)
    assert proc.stdout == "[]\n", proc.stderr


@pytest.mark.parametrize("point, signum", [("solve", signal.SIGTERM),
                                           ("write-tables", signal.SIGHUP),
                                           ("commit", signal.SIGINT)])
def test_signal_keeps_the_old_result_and_leaves_nothing(work, point, signum):
    out = old_result(work)
    proc = paused(work, point, ["run", "new.toml", "-o", "res", "-q", "--overwrite"])
    status, err = stop(proc, signum)
    assert (status, err) == (128 + signum, f"netsolve: interrupted by {NAMES[signum]}\n")
    assert source_potential(out) == 1.0 and (out / "notes.txt").read_text() == "mine"
    assert hidden(work / "work") == [] and hidden(out) == []
    read_result_dir(out)  # complete


@pytest.mark.parametrize("fallback, point", [(False, "exchanged"), (True, "renamed-aside")])
def test_signal_while_moving_the_result_into_place_finishes_the_move(work, fallback, point):
    # the two renames are not separated by a signal: it acts right after, the new result whole
    out = old_result(work)
    proc = paused(work, point, ["run", "new.toml", "-o", "res", "-q", "--overwrite"], fallback)
    assert stop(proc, signal.SIGTERM) == (143, "netsolve: interrupted by SIGTERM\n")
    assert source_potential(out) == 2.0 and (out / "notes.txt").read_text() == "mine"
    assert hidden(work / "work") == [] and hidden(out) == []


@pytest.mark.parametrize("point, potential", [("commit", 1.0), ("exchanged", 2.0)])
def test_sigkill_leaves_old_or_new_and_the_next_run_cleans_up(work, point, potential):
    out = old_result(work)
    proc = paused(work, point, ["run", "new.toml", "-o", "res", "-q", "--overwrite"])
    assert stop(proc, signal.SIGKILL)[0] == -signal.SIGKILL
    assert source_potential(out) == potential and (out / "notes.txt").read_text() == "mine"
    read_result_dir(out)  # complete
    [leftover] = hidden(work / "work")
    assert leftover.startswith(f".res.tmp-") and leftover.split("-")[2] == str(proc.pid)
    # the next run writing into the same folder removes the dead process's folder
    assert cli.main(["run", str(work / "work" / "old.toml"), "-o",
                     str(work / "work" / "other"), "-q"]) == 0
    assert hidden(work / "work") == []


def test_sigkill_between_the_two_renames_is_repaired_by_a_reader(work):
    # the fallback without renameat2(RENAME_EXCHANGE): the one instant the name is empty
    out = old_result(work)
    proc = paused(work, "renamed-aside", ["run", "new.toml", "-o", "res", "-q", "--overwrite"],
                  fallback=True)
    assert stop(proc, signal.SIGKILL)[0] == -signal.SIGKILL
    assert not out.exists()
    assert [p.split(".")[2].split("-")[0] for p in hidden(work / "work")] == ["old", "tmp"]
    data = read_result_dir(out)  # a reader moves the parked old result back
    assert data.label == "old.toml" and source_potential(out) == 1.0
    assert (out / "notes.txt").read_text() == "mine"
    assert cli.main(["run", str(work / "work" / "old.toml"), "-o",
                     str(work / "work" / "other"), "-q"]) == 0
    assert hidden(work / "work") == []


def test_netsolve_solve_is_the_function_even_after_importing_the_submodule():
    # the package imports lazily (light start-up); netsolve/solve.py must not hide the API
    import netsolve
    import netsolve.solve  # noqa: F401

    assert netsolve.solve.__module__ == "netsolve.api" and callable(netsolve.solve)

"""Hostile inputs through the CLI: is every one refused cleanly, in bounded time and memory?

Generates a corpus of malformed, special, huge and out-of-range inputs in a temporary folder,
runs each through `netsolve run` (or `check`) in a child process with a 10 s timeout, and prints
per class: handled/total, the worst time and the worst peak memory (ru_maxrss of the child).

An input is *handled* when the CLI exits with status 2, writes exactly one stderr line starting
``netsolve: error:`` that names the file or key (the entry's ``words``), no traceback, and
leaves the folder as it was (no output directory); or, for the few valid inputs of the corpus,
exits 0. The classes are a list of generator functions (``hostile_corpus.CLASSES``): add one
to add a class. ``tests/test_hostile_inputs.py`` runs a representative sample of each class.

    .venv/bin/python validation/adversarial.py [--jobs 2] [--only CLASS] [-v]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hostile_corpus import CLASSES, TIMEOUT_S, Hostile, judge


@dataclass
class Outcome:
    name: str
    handled: bool
    seconds: float
    peak_bytes: int
    why: str = ""
    stderr: list[str] = field(default_factory=list)


def run_cli(argv: list[str], cwd: Path, timeout_s: float = TIMEOUT_S):
    """(exit status or None on timeout, stderr text, seconds, peak RSS bytes) of one CLI call
    in a child process (``wait4`` gives the child's own peak)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen([sys.executable, "-m", "netsolve.cli", *argv], cwd=cwd,
                                 stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        timer = threading.Timer(timeout_s, child.kill)
        timer.start()
        _, status, usage = os.wait4(child.pid, 0)
        timed_out = not timer.is_alive()
        timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    seconds = time.perf_counter() - start
    return (None if timed_out else child.returncode), text, seconds, usage.ru_maxrss * 1024


def evaluate(entry: Hostile, root: Path, index: int) -> Outcome:
    folder = root / f"{index:04d}"
    folder.mkdir()
    case = entry.build(folder) or folder / "case.toml"
    before = set(os.listdir(folder))
    argv = [entry.command, str(case)] + (["-q", "-o", str(folder / "out")]
                                         if entry.command == "run" else []) + list(entry.args)
    status, stderr, seconds, peak = run_cli(argv, folder)
    why = judge(entry, status, stderr, before, set(os.listdir(folder)))
    return Outcome(entry.name, not why, seconds, peak, why, stderr.strip().splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1, help="inputs at a time (default 1)")
    parser.add_argument("--only", help="run only the class with this name")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every input's error line")
    args = parser.parse_args()
    classes = [(name, gen) for name, gen in CLASSES if args.only in (None, name)]
    print(f"{'class':<15} {'handled':>9} {'worst s':>8} {'worst MiB':>10}")
    total = handled = 0
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        index = 0
        for name, generate in classes:
            entries = generate()
            with ThreadPoolExecutor(args.jobs) as pool:
                outcomes = list(pool.map(evaluate, entries, [root] * len(entries),
                                         range(index, index + len(entries))))
            index += len(entries)
            ok = sum(o.handled for o in outcomes)
            total, handled = total + len(outcomes), handled + ok
            print(f"{name:<15} {ok:>4}/{len(outcomes):<4} {max(o.seconds for o in outcomes):>8.2f} "
                  f"{max(o.peak_bytes for o in outcomes) / 2**20:>10.0f}", flush=True)
            failures += [(name, o) for o in outcomes if not o.handled]
            if args.verbose:
                for o in outcomes:
                    print(f"    {o.name}: {(o.stderr or ['(ok)'])[-1][:160]}")
    print(f"{'all':<15} {handled:>4}/{total:<4}")
    for name, o in failures:
        print(f"NOT HANDLED [{name}] {o.name}: {o.why}")


if __name__ == "__main__":
    main()

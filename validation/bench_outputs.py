"""Benchmark: the default outputs of ``netsolve run`` against its solve (not a test).

    python validation/bench_outputs.py [--cases porous128 lamella2048] [--repeats 3]
                                       [--keep DIR]

Issue 15 item 3: all default outputs of ``netsolve run`` together must cost less than the solve.
Each repeat is one fresh process that runs ``netsolve run CASE -o OUT -q`` through
``netsolve.cli.main`` (the command itself: the case file, imports, the stage order, the result
directory written atomically), with a handler on the ``netsolve`` logger that records the wall
clock (``perf_counter``) and the process CPU time (``process_time``: all threads) at every stage
line. A stage lasts until the next stage line (the last one until ``main`` returns).

* solve = the stages ``properties`` + ``operator`` + ``solve`` (grain conductivities, operator
  assembly, connectivity, matrix, linear solver setup and iterations): what
  ``bench_solve.py`` calls assembly + solve;
* outputs = every stage from the first "writing ..." line on: summary.json + fields.npz (+
  the case file), the two CSV tables, each export format of ``[output] formats`` (vti, gbnet;
  graphml too in versions that wrote it by default), each figure of ``[output] figures``;
* the other stages (case load, imports, microstructure, fields, the applied-field solve, the
  GB analysis, and "grain and GB tables": the analysis tables when the summary did not need
  them) are printed for context; they belong to neither side. (Versions without the "grain
  and GB tables" stage line computed them inside the first writing stage: there they count
  as outputs.)

Cases (``[solver] discretization = "tpfa"``, ``method = "auto"``: the grid multigrid at these
sizes; everything else ``netsolve run``'s defaults):

* ``porous128``: the 128^3 porous cube of ``bench_peers.py`` (isotropic, ~25 % insulating
  spheres, electrodes on the x faces, rtol 1e-6 as there);
* ``lamella2048``: the 2048^2 Voronoi polycrystal of ``bench_solve.py`` (10 486 grains, 1000:1,
  GB resistors, 2 % ZrO2; rtol 1e-8 as there).

(The case default rtol = 1e-10 would make the solve, and so the target, larger: these rtols
are the stricter comparison.) Printed: per stage the median over the repeats of CPU and wall
seconds, then outputs against solve, and the load average before and after. On a machine
shared with other jobs compare CPU times; wall times follow the load.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_peers import porous_structure  # noqa: E402
from bench_solve import case_dict  # noqa: E402

CASES = ("porous128", "lamella2048")
SOLVE_STAGES = ("properties", "operator", "solve")
OUTPUT_FROM = "write"  # the first stage of write_result


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def toml_text(case: dict) -> str:
    """A case dict (tables of scalars, lists and one array of tables) as TOML."""
    lines = []
    for key, table in case.items():
        if isinstance(table, list):
            for row in table:
                lines.append(f"[[{key}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in row.items()]
            continue
        lines.append(f"[{key}]")
        for k, v in table.items():
            if isinstance(v, dict):
                v = "{" + ", ".join(f"{a} = {toml_value(b)}" for a, b in v.items()) + "}"
                lines.append(f"{k} = {v}")
            else:
                lines.append(f"{k} = {toml_value(v)}")
    return "\n".join(lines) + "\n"


def write_case(name: str, folder: Path) -> Path:
    """The case file of a benchmark case in ``folder`` (with its label map for porous128)."""
    import numpy as np

    if name == "porous128":
        n = 128
        np.save(folder / "porous.npy", porous_structure(n))
        case = {
            "grid": {"shape": [n, n, n], "voxel_size_nm": 1.0},
            "microstructure": {"source": "labels", "path": "porous.npy", "phases": {"void": 0}},
            "materials": {"sigma_ip_S_per_m": 1.0, "conductivity_model": "isotropic",
                          "electrode_link": "half_voxel"},
            "electrodes": [{"name": "left", "region": "left", "potential_V": 1.0},
                           {"name": "right", "region": "right", "potential_V": 0.0}],
            "solver": {"method": "auto", "rtol": 1e-6, "discretization": "tpfa"},
        }
    elif name == "lamella2048":
        case = case_dict((2048, 2048), "auto", 1e-8, "tpfa")
    else:
        raise SystemExit(f"unknown case {name!r}; cases: {', '.join(CASES)}")
    path = folder / f"{name}.toml"
    path.write_text(toml_text(case))
    return path


class StageClock(logging.Handler):
    """Records (stage message, wall s, CPU s) at every stage line."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.marks: list[tuple[str, float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.marks.append((record.getMessage(), time.perf_counter(), time.process_time()))


def stage_key(message: str) -> str:
    """A stable short name for a stage line (without sizes and paths)."""
    if message.startswith("writing ") and ": summary.json" in message:
        return "summary.json + fields.npz"
    if message.startswith("writing "):
        return message.removeprefix("writing ")
    if message.startswith("drawing "):
        return message.removeprefix("drawing ").split(" (")[0] + ".png"
    if message.startswith("solve: "):
        return "solve"
    if message.startswith("load case"):
        return "load"
    if message == "grain conductivities":
        return "properties"
    if message.startswith("operator"):
        return "operator"
    return message


def child(case_path: str, out: str) -> int:
    """One ``netsolve run`` in this process; prints the stage times as JSON."""
    clock = StageClock()
    logger = logging.getLogger("netsolve")
    logger.addHandler(clock)
    logger.setLevel(logging.INFO)
    start = (time.perf_counter(), time.process_time())
    from netsolve.cli import main

    status = main(["run", case_path, "-o", out, "-q"])
    end = (time.perf_counter(), time.process_time())
    if status != 0:
        return status
    marks = clock.marks + [("end", *end)]
    stages = [{"stage": stage_key(m), "wall_s": marks[i + 1][1] - w, "cpu_s": marks[i + 1][2] - c,
               "raw": m} for i, (m, w, c) in enumerate(marks[:-1])]
    stages.insert(0, {"stage": "start-up", "wall_s": marks[0][1] - start[0],
                      "cpu_s": marks[0][2] - start[1], "raw": ""})
    sizes = {p.name: p.stat().st_size for p in Path(out).iterdir()}
    print(json.dumps({"stages": stages, "files": sizes}))
    return 0


def run_case(name: str, repeats: int, keep: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        case_path = write_case(name, folder)
        runs = []
        for i in range(repeats):
            out = (Path(keep) if keep else folder) / f"{name}-{i}"  # must not exist yet
            cmd = [sys.executable, __file__, "--child", str(case_path), str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{name}: run failed: {proc.stderr.strip()[-800:]}")
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    report(name, runs)


def report(name: str, runs: list[dict]) -> None:
    keys = [s["stage"] for s in runs[0]["stages"]]

    def med(key: str, what: str) -> float:
        return statistics.median(sum(s[what] for s in r["stages"] if s["stage"] == key)
                                 for r in runs)

    def total(keys_: list[str], what: str) -> float:
        return statistics.median(sum(s[what] for s in r["stages"] if s["stage"] in keys_)
                                 for r in runs)

    first_output = keys.index(next(k for k, s in zip(keys, runs[0]["stages"])
                                   if s["raw"].startswith("writing ")))
    outputs = keys[first_output:]
    print(f"\n{name}: median of {len(runs)} runs (one process each)")
    print(f"{'stage':<34}{'cpu s':>8}{'wall s':>8}{'MiB':>9}")
    files = runs[0]["files"]
    for key in keys:
        size = sum(v for k, v in files.items() if k in key.replace(",", " ").split())
        mib = f"{size / 2**20:9.1f}" if size else ""
        print(f"{key:<34}{med(key, 'cpu_s'):8.2f}{med(key, 'wall_s'):8.2f}{mib}")
    solve = [k for k in keys if k in SOLVE_STAGES]
    for label, group in (("solve (properties+operator+solve)", solve),
                         ("all default outputs", outputs)):
        print(f"{label:<34}{total(group, 'cpu_s'):8.2f}{total(group, 'wall_s'):8.2f}")
    ratio_cpu = total(outputs, "cpu_s") / total(solve, "cpu_s")
    ratio_wall = total(outputs, "wall_s") / total(solve, "wall_s")
    print(f"{'outputs / solve':<34}{ratio_cpu:8.2f}{ratio_wall:8.2f}")
    print(f"{'whole command':<34}{total(keys, 'cpu_s'):8.2f}{total(keys, 'wall_s'):8.2f}")
    print("files: " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sorted(files.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", help="folder to keep the result directories in")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{os.cpu_count()} cores")
    for name in args.cases:
        run_case(name, args.repeats, args.keep)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

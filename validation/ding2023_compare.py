"""Do the paper's statements survive the consistent and the certified discretization? (not a test)

Solves cases/ding2023_{isotropic,reduced,full}.toml with the paper's two-point network (`tpfa`),
full-tensor Q1 finite elements (`fem`) and the certified mixed method (`mixed`: hybridized RT0
with the Q1/RT0 bracket of R_eff and adaptive sub-voxel refinement to `bound_tol`, as `netsolve
compare` runs it) and prints, per case:
- the time and peak memory of the certified solve, the gap reached and the refinement steps;
- the bracket of R_eff and where the R_eff of tpfa and fem fall relative to it;
- every statement of validation/ding2023.py checked on each solution (value and pass/fail);
- the `netsolve compare` summary: rank correlations against the mixed reference, GB
  classification changes, blocking GBs and the top-5 risk GBs of each discretization.
Each case runs in its own process (so that its peak memory is its own). The numbers in
validation/README.md come from this script.

    .venv/bin/python validation/ding2023_compare.py [--cases isotropic,reduced,full]
        [--bound-tol 0.03] [--refine-max-cells 2000000] [--discretizations tpfa,fem,mixed]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import netsolve  # noqa: E402
from ding2023 import isotropic_rows, solved_rows  # noqa: E402
from netsolve.compare import compare_results, solve_for_comparison  # noqa: E402
from netsolve.result import strict_json  # noqa: E402

CASES = ("isotropic", "reduced", "full")


def run_case(kind: str, names: list[str], bound_tol: float, budget: int) -> dict:
    """One case with every discretization (the certified one first, so that the process's
    peak memory is that of the certified solve); JSON-ready."""
    case = netsolve.load_case(ROOT.parent / "cases" / f"ding2023_{kind}.toml")
    case = replace(case, solver=replace(case.solver, bound_tol=bound_tol,
                                        refine_max_cells=budget))
    results, wall, cpu, peak = {}, {}, {}, {}
    for name in sorted(names, key=lambda n: n != "mixed"):
        start, start_cpu = time.perf_counter(), time.process_time()
        results[name] = solve_for_comparison(case, name)
        wall[name] = time.perf_counter() - start
        cpu[name] = time.process_time() - start_cpu
        peak[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    results = {name: results[name] for name in names}
    rows = {name: (isotropic_rows(result) if kind == "isotropic" else solved_rows(result, kind))
            for name, result in results.items()}
    summary = compare_results(results).summary
    pair = None  # tpfa against fem (the earlier two-way comparison of validation/README.md)
    if {"tpfa", "fem"} <= set(results):
        pair = compare_results({"tpfa": results["tpfa"], "fem": results["fem"]}).summary
    return strict_json({"kind": kind, "shape": list(case.grid.shape), "wall_s": wall,
                        "cpu_s": cpu, "peak_GB": peak, "rows": rows, "summary": summary,
                        "tpfa_vs_fem": pair, "load_average": os.getloadavg()})


def print_case(out: dict) -> None:
    s, kind, names = out["summary"], out["kind"], list(out["rows"])
    shape = "x".join(map(str, out["shape"]))
    print(f"=== {kind} ({shape} voxels; load average {out['load_average'][0]:.1f} at the end)")
    for name in names:
        print(f"  {name:>5}: {out['wall_s'][name]:7.1f} s wall, {out['cpu_s'][name]:7.1f} s CPU, "
              f"peak RSS so far {out['peak_GB'][name]:.2f} GB; R_eff "
              f"{s['effective_resistance_ohm'][name]:.5g} ohm")
    bounds = s["bounds"]
    if bounds is not None and bounds["reason"] is not None:
        print(f"  no R_eff bracket: {bounds['reason']}")
    elif bounds is not None:
        mesh = ("on the voxels" if bounds["cells"] is None else
                f"{bounds['cells']} cells, refinement stopped by {bounds['stopped_by']}")
        print(f"  R_eff bracket [{bounds['lower_ohm']:.5g}, {bounds['upper_ohm']:.5g}] "
              f"ohm, gap {bounds['relative_gap']:.2%} (bound_tol {bounds['bound_tol']:g}, "
              f"certified {bounds['certified']}), {mesh}")
        for name, place in bounds["position"].items():
            excess = "" if place["side"] == "inside" else f" by {place['excess']:+.1%}"
            print(f"    {name}: {place['side']}{excess}")
    rows = out["rows"]
    width = max(len(r[0]) for r in rows[names[0]])
    print(f"  {'statement':<{width}}  " + "".join(f"{name:<48}" for name in names))
    for index, (statement, *_) in enumerate(rows[names[0]]):
        cells = [f"{rows[n][index][1]:<42} {'pass' if rows[n][index][2] else 'FAIL':<5}"
                 for n in names]
        print(f"  {statement:<{width}}  " + "".join(cells))
    print("  passed: " + ", ".join(f"{n} {sum(r[2] for r in rows[n])}/{len(rows[n])}"
                                   for n in names))
    ref = s["reference"]
    for name, rho in s["spearman"].items():
        print(f"  Spearman vs {ref}, {name}: grain mean |J| {_num(rho['grain_mean_abs_J'])}, "
              f"GB |current| {_num(rho['gb_abs_current'])}")
    pair = out["tpfa_vs_fem"]
    if pair is not None:
        rho, c = pair["spearman"]["fem"], pair["classification"]
        risk = "" if c is None else (f", risk {_num(c['spearman_risk']['fem'])}; "
                                     f"classification differs for {c['n_changed']} GBs")
        print(f"  tpfa vs fem: Spearman grain mean |J| {_num(rho['grain_mean_abs_J'])}, GB "
              f"|current| {_num(rho['gb_abs_current'])}{risk}")
    c = s["classification"]
    if c is None:
        print("  GB classification: none (no orientations)\n")
        return
    risk = ", ".join(f"{n} {_num(v)}" for n, v in c["spearman_risk"].items())
    changed = ", ".join(f"{n} {v}" for n, v in c["n_changed_vs_reference"].items())
    print(f"  GB classification differs from {ref} for {changed} of {c['n_classified']} GBs; "
          f"Spearman of the risk score vs {ref}: {risk}")
    for name in names:
        print(f"  blocking ({name}, {c['n_blocking'][name]}): "
              f"{', '.join(c['blocking'][name]) or '-'}")
    for name in names:
        print(f"  top-5 risk ({name}): {', '.join(c['top_risk'][name])}")
    for line in c["changed"]:
        print(f"    {line}")
    print()


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--discretizations", default="tpfa,fem,mixed")
    parser.add_argument("--bound-tol", type=float, default=0.03)
    parser.add_argument("--refine-max-cells", type=int, default=2_000_000)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.discretizations.split(",")
    if args.one:
        print(json.dumps(run_case(args.one, names, args.bound_tol, args.refine_max_cells)))
        return 0
    print(f"{os.cpu_count()} cores, load average at the start "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}\n", flush=True)
    for kind in args.cases.split(","):
        command = [sys.executable, __file__, "--one", kind, "--discretizations",
                   args.discretizations, "--bound-tol", str(args.bound_tol),
                   "--refine-max-cells", str(args.refine_max_cells)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            print(f"=== {kind} failed:\n{done.stderr}")
            return 1
        print_case(json.loads(done.stdout.strip().splitlines()[-1]))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

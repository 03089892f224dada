"""Benchmark: assembly and solve of random Voronoi polycrystals (not a test).

    python validation/bench_solve.py [--sizes 512x512 2048x2048 64x64x64 128x128x128]
                                     [--method auto gmg amg direct cg] [--rtol 1e-8]
                                     [--discretization tpfa|fem|mixed] [--repeats 3]

Each size runs in its own process (so its peak memory is its own): a Voronoi polycrystal with
one grain per ~20^d voxels, random orientations, sigma_ip/sigma_op = 1e3, GB resistors
(sigma_ip/sigma_GB = 20, t_GB = 1 nm), 2 % ZrO2, electrodes on the two x faces. Printed per
size: microstructure generation, assembly (properties + network + matrix), solve (AMG setup +
iterations, or factorization), iterations, residual, fields, peak RSS; "cpu s" is the process
CPU time of assembly + solve (single-threaded: about the wall time on an idle machine, and
less sensitive than it to other jobs on a shared one). Each size's process runs NumPy on
ordinary pages, as ``netsolve run`` and ``netsolve.solve`` do (set NUMPY_MADVISE_HUGEPAGE=1 to
measure with transparent huge pages).
Targets (issue 2): 2048^2 assembled + solved to rtol 1e-8 in <= 20 s with <= 2.5 GB;
128^3 in <= 15 s with <= 3 GB (2 cores). Issue 15: 2048^2 with the grid multigrid (``--method
gmg``) in <= 10 s and <= 1.5 GB, in no more iterations than ``amg``. Issue 7: ``--discretization fem`` within 2x the
two-point time and memory on the same structures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

DEFAULT_SIZES = ["512x512", "2048x2048", "64x64x64", "128x128x128"]


def case_dict(shape: tuple[int, ...], method: str, rtol: float,
              discretization: str = "tpfa") -> dict:
    n_grains = max(2, int(round(float(__import__("numpy").prod(shape)) / 20 ** len(shape))))
    return {
        "grid": {"shape": list(shape), "voxel_size_nm": 10.0},
        "microstructure": {"source": "voronoi", "n_grains": n_grains, "seed": 1,
                           "zro2_fraction": 0.02, "zro2_radius_nm": 30.0},
        "materials": {"sigma_ip_S_per_m": 1.0, "ratio_ip_op": 1000.0, "ratio_ip_gb": 20.0,
                      "gb_thickness_nm": 1.0},
        "electrodes": [{"name": "source", "region": "left", "potential_V": 1.0},
                       {"name": "sink", "region": "right", "potential_V": 0.0}],
        "solver": {"method": method, "rtol": rtol, "discretization": discretization},
    }


def run_one(shape: tuple[int, ...], method: str, rtol: float, discretization: str) -> dict:
    import netsolve
    from netsolve.discretization import build_operator
    from netsolve.microstructure import build_microstructure
    from netsolve.properties import compute_properties
    from netsolve.solve import solve_network

    case = netsolve.case_from_dict(case_dict(shape, method, rtol, discretization))
    t0 = time.perf_counter()
    micro = build_microstructure(case)
    t1 = time.perf_counter()
    cpu1 = time.process_time()
    props = compute_properties(micro, case.materials)
    network = build_operator(case, micro, props)
    t2 = time.perf_counter()
    solution = solve_network(network, case.electrodes, case.solver)
    t3 = time.perf_counter()
    cpu3 = time.process_time()
    network.fields(solution, props, micro.electrode_index)
    t4 = time.perf_counter()
    stats = solution.stats
    # solve_network = connectivity + matrix assembly + linear solve; the linear solve is timed
    # inside, the rest counts as assembly.
    assembly = (t2 - t1) + (t3 - t2 - stats.time_s)
    return {
        "shape": "x".join(map(str, shape)), "unknowns": solution.n_unknowns,
        "discretization": discretization,
        "microstructure_s": t1 - t0, "assembly_s": assembly, "setup_s": stats.setup_time_s,
        "solve_s": stats.time_s, "assembled_solved_s": assembly + stats.time_s,
        "assembled_solved_cpu_s": cpu3 - cpu1,
        "iterations": stats.iterations, "residual": stats.residual_rel, "method": stats.method,
        "fields_s": t4 - t3,
        "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--method", nargs="+", default=["auto"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--discretization", default="tpfa", choices=("tpfa", "fem", "mixed"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        shape = tuple(int(v) for v in args.one.split("x"))
        print(json.dumps(run_one(shape, args.method[0], args.rtol, args.discretization)))
        return 0
    header = (f"{'size':>12} {'disc':>5} {'unknowns':>10} {'method':>7} {'micro s':>8} {'assembly s':>10} "
              f"{'setup s':>8} {'solve s':>8} {'asm+solve s':>11} {'cpu s':>6} {'iters':>6} {'residual':>9} "
              f"{'fields s':>8} {'peak MB':>8}")
    print(header)
    # NumPy on ordinary pages, as in `netsolve run` and `netsolve.solve` (resources.ordinary_pages)
    child_env = {**os.environ,
                 "NUMPY_MADVISE_HUGEPAGE": os.environ.get("NUMPY_MADVISE_HUGEPAGE", "0")}
    for size in args.sizes:
        runs: dict[str, list[dict]] = {m: [] for m in args.method}
        for _ in range(args.repeats):
            for method in args.method:  # alternating, so load changes hit every method
                proc = subprocess.run([sys.executable, __file__, "--one", size, "--method",
                                       method, "--rtol", str(args.rtol), "--discretization",
                                       args.discretization], capture_output=True, text=True,
                                      env=child_env)
                if proc.returncode != 0:
                    print(f"{size:>12} {method} failed: "
                          f"{proc.stderr.strip().splitlines()[-1:]}")
                    continue
                runs[method].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        for method, results in runs.items():
            if not results:
                continue
            r = {key: (statistics.median(x[key] for x in results)
                       if isinstance(results[0][key], (int, float)) else results[0][key])
                 for key in results[0]}
            print(f"{r['shape']:>12} {r['discretization']:>5} {r['unknowns']:>10} {r['method']:>7} "
                  f"{r['microstructure_s']:>8.2f} {r['assembly_s']:>10.2f} {r['setup_s']:>8.2f} "
                  f"{r['solve_s']:>8.2f} {r['assembled_solved_s']:>11.2f} "
                  f"{r['assembled_solved_cpu_s']:>6.2f} {r['iterations']:>6.0f} "
                  f"{r['residual']:>9.1e} {r['fields_s']:>8.2f} {r['peak_rss_MB']:>8.0f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

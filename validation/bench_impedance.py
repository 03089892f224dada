"""Benchmark of the impedance sweep (not a test).

    python validation/bench_impedance.py sweep [--sizes 512x512 2048x2048] [--freqs 50 10]
    python validation/bench_impedance.py krylov [--size 512x512]
    python validation/bench_impedance.py direct [--sizes 50x50 100x100 200x200 20x20x20]

``sweep``: the whole ``compute_impedance`` (network, terminal system, the frequency sweep,
Lin-KK, DRT) on the Voronoi polycrystals of ``bench_solve.py`` (one grain per ~20^d voxels,
1000:1 grains, GB resistors, 2 % ZrO2), with eps_r = 10 and the window 1e4-1e12 Hz, one
process per size; prints wall time, CPU time, iterations, AMG setups and peak RSS.
``krylov``: at 9 frequencies, COCG / GMRES(50) / BiCGStab, each with the AMG V-cycle of
P = Re Y + Im Y set up at that frequency, and COCG with one hierarchy of the DC matrix reused
at every frequency: iterations and seconds. ``direct``: SuperLU of the complex matrix against
COCG + AMG per frequency, for the "auto" threshold.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_solve import case_dict  # noqa: E402  (the same polycrystals)


def impedance_case(shape, n_freq: int, method: str = "auto"):
    import netsolve

    data = case_dict(tuple(shape), "auto", 1e-8)
    decades = 8
    data["impedance"] = {"f_min_Hz": 1e4, "f_max_Hz": 1e12, "method": method,
                         "points_per_decade": max(1, round((n_freq - 1) / decades))}
    return netsolve.case_from_dict(data)


def systems(shape):
    """(admittance function of f, TerminalSystem) of a benchmark polycrystal."""
    from netsolve.impedance.admittance import build_admittance
    from netsolve.impedance.options import default_options
    from netsolve.impedance.system import build_terminal_system
    from netsolve.microstructure import build_microstructure
    from netsolve.discretization.tpfa import build_network
    from netsolve.properties import compute_properties

    case = impedance_case(shape, 9)
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    net = build_network(case, micro, props)
    model = build_admittance(case, micro, props, net)
    system = build_terminal_system(net, ("source", "sink"),
                                   default_options(case).terminals, "bench")

    def admittance(f):
        z_lo, z_up, z_gb = model.link_parts(2 * np.pi * f)
        z_b, z_c = model.electrode_parts(2 * np.pi * f)
        return 1.0 / np.concatenate([z_lo + z_up + z_gb, z_b + z_c])

    return admittance, system


def run_sweep(shape, n_freq):
    from netsolve.impedance import compute_impedance

    case = impedance_case(shape, n_freq)
    start, cpu = time.perf_counter(), time.process_time()
    result = compute_impedance(case)
    stats = result.response.stats
    return {"size": "x".join(map(str, shape)), "n_frequencies": len(stats),
            "unknowns": result.n_unknowns, "method": result.method,
            "wall_s": round(time.perf_counter() - start, 1),
            "cpu_s": round(time.process_time() - cpu, 1),
            "iterations": [s.iterations for s in stats],
            "amg_setups": int(sum(s.setup for s in stats)),
            "kk_max_residual": result.kk.max_residual,
            "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def run_krylov(shape):
    import scipy.sparse.linalg as spla
    from threadpoolctl import threadpool_limits

    from netsolve.impedance.krylov import ComplexAMG, cocg

    admittance, system = systems(shape)
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        y0 = admittance(0.0)
        dc = ComplexAMG(system.matrix(y0).real.tocsr(), system.ndim)
        for f in np.logspace(4, 12, 9):
            y = admittance(f)
            matrix, rhs = system.matrix(y), system.rhs(y)
            t = time.perf_counter()
            amg = ComplexAMG(system.matrix(y.real + y.imag).real.tocsr(), system.ndim)
            row = {"f_Hz": f"{f:.0e}", "setup_s": round(time.perf_counter() - t, 2)}
            operator = spla.LinearOperator(matrix.shape, matvec=amg, dtype=complex)
            for name in ("cocg", "gmres", "bicgstab"):
                t, count = time.perf_counter(), [0]

                def tick(*_):
                    count[0] += 1

                if name == "cocg":
                    _, count[0], _ = cocg(matrix, rhs, amg, 1e-8, 2000)
                elif name == "gmres":
                    spla.gmres(matrix, rhs, rtol=1e-8, atol=0.0, restart=50, maxiter=40,
                               M=operator, callback=tick, callback_type="pr_norm")
                else:
                    spla.bicgstab(matrix, rhs, rtol=1e-8, atol=0.0, maxiter=2000, M=operator,
                                  callback=tick)
                row[name] = (count[0], round(time.perf_counter() - t, 2))
            t = time.perf_counter()
            _, its, _ = cocg(matrix, rhs, dc, 1e-8, 2000)
            row["cocg_dc_hierarchy"] = (its, round(time.perf_counter() - t, 2))
            rows.append(row)
    return rows


def run_direct(shape):
    from threadpoolctl import threadpool_limits

    from netsolve.impedance.krylov import HierarchyReuse, solve_amg, solve_direct

    admittance, system = systems(shape)
    y = admittance(1e9)
    matrix, rhs = system.matrix(y), system.rhs(y)
    with threadpool_limits(limits=1, user_api="blas"):
        _, direct = solve_direct(matrix, rhs)
        t = time.perf_counter()
        _, krylov = solve_amg(matrix, rhs, lambda: system.matrix(y.real + y.imag).real.tocsr(),
                              system.ndim, HierarchyReuse(), 1e-8, 2000, "bench")
    return {"size": "x".join(map(str, shape)), "unknowns": system.n_unknowns,
            "direct_s": round(direct.time_s, 3),
            "amg_s": round(time.perf_counter() - t, 3), "amg_iterations": krylov.iterations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("sweep", "krylov", "direct"))
    parser.add_argument("--sizes", nargs="+", default=None)
    parser.add_argument("--freqs", nargs="+", type=int, default=None)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # child process: one measurement, printed as JSON
        mode, size, n = json.loads(args.one)
        shape = tuple(int(v) for v in size.split("x"))
        out = {"sweep": lambda: run_sweep(shape, n), "krylov": lambda: run_krylov(shape),
               "direct": lambda: run_direct(shape)}[mode]()
        print(json.dumps(out))
        return
    defaults = {"sweep": ["512x512", "2048x2048"], "krylov": ["512x512"],
                "direct": ["50x50", "100x100", "200x200", "300x300", "15x15x15", "25x25x25"]}
    sizes = args.sizes or defaults[args.mode]
    freqs = args.freqs or [50, 10]
    for k, size in enumerate(sizes):
        job = json.dumps([args.mode, size, freqs[min(k, len(freqs) - 1)]])
        out = subprocess.run([sys.executable, __file__, args.mode, "--one", job],
                             capture_output=True, text=True, check=True).stdout
        print(out.strip(), flush=True)


if __name__ == "__main__":
    main()

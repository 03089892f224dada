"""Benchmark: the grid multigrid for the hybridized mixed (RT0) operator against the shipped
root-node AMG (not a test).

    python validation/bench_mixed_grid.py [--cases grains48 grains64 lamella512 ...]
                                          [--ratios 1000 100] [--candidates rootnode gmg ...]
                                          [--repeats 3]

Each case's mixed matrix (active unknowns, as the solve stage hands it to the linear solver),
its first right-hand side and its :class:`netsolve.multigrid.mixed.FaceGrid` are built once
per process from the real pipeline (``netsolve.solve.solve_network`` with the linear solve
intercepted). Then every candidate preconditioner is set up and CG
(``netsolve.stopping.pcg``, float64) runs to rtol 1e-8; printed per candidate: setup CPU s,
iterations, CG CPU s, total CPU s (medians over ``--repeats``, candidates alternating), and the
load average. BLAS on one thread (as in the solve stage).

Cases: ``lamellaN`` = the ``bench_solve.py`` polycrystal (Voronoi, one grain per ~20^d voxels,
random orientations, GB resistors, 2 % ZrO2) at N^2; ``grainsN`` the same at N^3; ``--ratios``:
its sigma_ip/sigma_op values.

Candidates: ``rootnode`` = what ``amg`` runs for this operator
(``RugeStubenPreconditioner(hierarchy="rootnode")``); ``gmg`` = what ``gmg`` runs
(``FaceMultigrid``, ``SWEEPS`` Gauss-Seidel sweeps per side: one in 2D, two in 3D);
``gmg-sgsK``: K sweeps per side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")  # as in bench_q1_grid.py

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

RTOL = 1e-8
MAXITER = 2000


def extract(name: str, ratio: float) -> dict:
    import netsolve
    from bench_q1_grid import solver_system
    from bench_solve import case_dict
    from netsolve.discretization import build_operator
    from netsolve.microstructure import build_microstructure
    from netsolve.properties import compute_properties

    kind = name.rstrip("0123456789")
    n = int(name[len(kind):])
    shape = {"lamella": (n, n), "grains": (n, n, n)}.get(kind)
    if shape is None:
        raise SystemExit(f"unknown case {name!r}")
    data = case_dict(shape, "amg", RTOL, "mixed")
    data["solver"]["bounds"] = False
    data["materials"]["ratio_ip_op"] = ratio
    case = netsolve.case_from_dict(data)
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    op = build_operator(case, micro, props)
    captured = solver_system(op, case)
    captured["matrix"] = captured["matrix"].tocsr()
    grid = op.grid_operator(np.flatnonzero(~captured["floating"]))
    return {"matrix": captured["matrix"], "rhs": captured["rhs"], "grid": grid}


def build(candidate: str, matrix, grid):
    from netsolve.multigrid import mixed
    from netsolve.solvers import RugeStubenPreconditioner

    if candidate == "rootnode":
        return RugeStubenPreconditioner(matrix, np.float32, "classical", "rootnode")
    if candidate == "gmg":
        return mixed.FaceMultigrid(matrix, grid, np.float32)
    if candidate.startswith("gmg-sgs"):
        return mixed.FaceMultigrid(matrix, grid, np.float32, sweeps=int(candidate[7:]))
    raise SystemExit(f"unknown candidate {candidate!r}")


def run(candidate: str, system: dict) -> tuple[float, int, float]:
    from netsolve.stopping import pcg

    matrix, rhs = system["matrix"], system["rhs"]
    start = time.process_time()
    precond = build(candidate, matrix, system["grid"])
    setup = time.process_time() - start
    start = time.process_time()
    _, iterations, residual = pcg(matrix, rhs, precond.operator(matrix.shape[0]), RTOL, MAXITER)
    solve = time.process_time() - start
    if not residual <= RTOL:
        print(f"  {candidate}: residual {residual:.1e} after {iterations} iterations")
    return setup, iterations, solve


def main() -> int:
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["grains48", "grains64", "lamella512"])
    parser.add_argument("--ratios", nargs="+", type=float, default=[1000.0])
    parser.add_argument("--candidates", nargs="+", default=["rootnode", "gmg"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'case':<12} {'ratio':>6} {'candidate':<10} {'unknowns':>9} {'setup s':>8} "
          f"{'its':>5} {'CG s':>7} {'total s':>8} {'load':>5}")
    with threadpool_limits(limits=1, user_api="blas"):
        for name in args.cases:
            for ratio in args.ratios:
                system = extract(name, ratio)
                runs = {c: [] for c in args.candidates}
                for _ in range(args.repeats):
                    for candidate in args.candidates:  # alternating
                        runs[candidate].append(run(candidate, system))
                for candidate, rows in runs.items():
                    setup = statistics.median(r[0] for r in rows)
                    its = int(statistics.median(r[1] for r in rows))
                    solve = statistics.median(r[2] for r in rows)
                    total = statistics.median(r[0] + r[2] for r in rows)
                    print(f"{name:<12} {ratio:>6g} {candidate:<10} "
                          f"{system['matrix'].shape[0]:>9} {setup:>8.2f} {its:>5} "
                          f"{solve:>7.2f} {total:>8.2f} {os.getloadavg()[0]:>5.1f}",
                          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

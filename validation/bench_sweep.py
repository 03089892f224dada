"""Benchmark: a 100-point sweep on a 512x512 lamella (not a test).

    python validation/bench_sweep.py [--jobs 2] [--size 512] [--runs 3] [--ablation 10]
                                     [--method amg|gmg|auto] [--cpu-split K]

The case: a Voronoi polycrystal (one grain per ~20^2 voxels, random orientations, 2 % ZrO2),
electrodes on the two x faces, AMG (``--method``: or the grid multigrid) to rtol 1e-8. The sweep: sigma_ip/sigma_op =
logspace(1, 4, 10) x sigma_ip/sigma_GB = 1,2,5,10,20,50,100,200,500,1000 (100 points), run as
``netsolve sweep --jobs N`` in a subprocess (whole command: start-up, validation of all points,
CSV, Parquet, plots). The reference is ``--runs`` independent ``netsolve run`` calls on points
of the same grid (whole commands, each writing its result directory), extrapolated to 100
points. ``--ablation K``: K points solved serially in one process by the sweep engine with and
without warm starts + hierarchy reuse (stage caching stays on in both), to show what those bring.
``--cpu-split K`` (alone): the CPU time per point of K points of one engine, inside the linear
solve (``solve_network``) and outside it (the per-point cost that is not the solve), with the
allocator set up as in a sweep's worker process (``keep_freed_memory``, where it exists).
Target (issue 5): 100 points in <= 60 s with --jobs 2 on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RATIO_IP_OP = "logspace(1,4,10)"
RATIO_IP_GB = "1,2,5,10,20,50,100,200,500,1000"


def case_text(size: int, method: str = "amg") -> str:
    n_grains = max(2, round(size * size / 400))
    return f"""
[grid]
shape = [{size}, {size}]
voxel_size_nm = 10.0

[microstructure]
source = "voronoi"
n_grains = {n_grains}
seed = 1
zro2_fraction = 0.02
zro2_radius_nm = 30.0

[materials]
ratio_ip_op = 1000.0
ratio_ip_gb = 20.0

[[electrodes]]
name = "source"
region = "left"
potential_V = 1.0

[[electrodes]]
name = "sink"
region = "right"
potential_V = 0.0

[solver]
# the two-point network the sweep targets were set on (the default became "mixed", which
# certifies each point instead; the grid multigrid needs the two-point operator)
discretization = "tpfa"
method = "{method}"
rtol = 1e-8
"""


def netsolve_command() -> list[str]:
    return [sys.executable, "-m", "netsolve.cli"]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def ablation(case: Path, k: int) -> list[tuple[str, float, float]]:
    from netsolve.sweep import build_plan, parse_param
    from netsolve.sweep.engine import SweepEngine

    plan = build_plan(case, (parse_param(f"materials.ratio_ip_op={RATIO_IP_OP}"),
                             parse_param(f"materials.ratio_ip_gb={RATIO_IP_GB}")))
    points = plan.points[:k]
    out = []
    for label, reuse in (("stage caching only", False), ("+ warm start + hierarchy reuse", True)):
        engine = SweepEngine(plan, reuse=reuse)
        start = time.perf_counter()
        with sweep_blas_limits():
            rows = [engine.evaluate(p) for p in points]
        elapsed = time.perf_counter() - start
        iterations = statistics.mean(int(r["solver_iterations"]) for r in rows)
        out.append((label, elapsed / k, iterations))
    return out


def cpu_split(case: Path, k: int) -> tuple[float, float, float]:
    """CPU seconds per point of ``k`` points solved serially by one engine after a first one
    (stage caches built): the whole evaluation, the part inside ``solve_network`` (the linear
    solve with its checks) and the rest (properties, conductances, fields, the row)."""
    import importlib

    from netsolve.sweep import build_plan, parse_param
    from netsolve.sweep.engine import SweepEngine

    stage = importlib.import_module("netsolve.solve")  # the module (netsolve.solve: a function)
    worker_allocator()
    plan = build_plan(case, (parse_param(f"materials.ratio_ip_op={RATIO_IP_OP}"),
                             parse_param(f"materials.ratio_ip_gb={RATIO_IP_GB}")))
    engine = SweepEngine(plan)
    engine.evaluate(plan.points[0])
    solving = [0.0]
    inner = stage.solve_network

    def timed_solve(*args, **kwargs):
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            solving[0] += time.process_time() - start

    stage.solve_network = timed_solve  # the engine imports it at each point
    try:
        with sweep_blas_limits():
            start, start_wall = time.process_time(), time.perf_counter()
            for point in plan.points[1:k + 1]:
                engine.evaluate(point)
            total = time.process_time() - start
            wall = time.perf_counter() - start_wall
    finally:
        stage.solve_network = inner
    return (total / k, solving[0] / k, (total - solving[0]) / k, wall / k,
            stage_times(engine, plan, k))


def sweep_blas_limits():
    """The BLAS thread limits a sweep evaluates its points with (one thread since 2026-12-03;
    none in older versions, so that the script measures either as its sweep runs)."""
    from contextlib import nullcontext

    try:
        from netsolve.sweep.worker import single_threaded_blas
    except ImportError:
        return nullcontext()
    return single_threaded_blas()


def worker_allocator() -> None:
    """The allocator setting of a sweep's worker processes (since 2026-12-03; none before), so
    that the per-point CPU time is the one a worker pays."""
    try:
        from netsolve.sweep.worker import keep_freed_memory
    except ImportError:
        return
    keep_freed_memory()


def stage_times(engine, plan, k: int, repeats: int = 7) -> dict[str, float]:
    """CPU s of each per-point stage outside the solve, at point ``k`` with the engine's caches
    (the least of ``repeats``: other jobs on the machine only add)."""
    from netsolve.discretization.tpfa import with_conductances
    from netsolve.properties import compute_properties
    from netsolve.result import Result
    from netsolve.sweep.engine import point_row

    point = plan.points[k]
    case = plan.point_case(point)
    result = engine.solve(point)
    micro, props, solution = result.microstructure, result.properties, result.solution

    def row():
        fresh = Result(case, micro, props, result.network, solution, result.fields)
        fresh.__dict__.update(graph=engine._graph, gb_geometry=engine._geometry)
        point_row(plan, fresh)

    stages = {
        "properties": lambda: compute_properties(micro, case.materials),
        "conductances": lambda: with_conductances(engine._network, case, props),
        "matrix refill": lambda: engine._pattern.refill(result.network),
        "fields": lambda: result.network.fields(solution, props, micro.electrode_index),
        "row (GB table, headline, summary values)": row}
    if getattr(engine, "_pattern", None) is None:  # the grid multigrid needs no CSR matrix
        del stages["matrix refill"]
    out = {}
    for name, stage in stages.items():
        times = []
        for _ in range(repeats):
            start = time.process_time()
            stage()
            times.append(time.process_time() - start)
        out[name] = min(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3, help="independent `netsolve run` calls")
    parser.add_argument("--ablation", type=int, default=10, help="points (0: skip)")
    parser.add_argument("--method", default="amg", help="solver.method of the case")
    parser.add_argument("--cpu-split", type=int, default=0, metavar="K",
                        help="only: CPU per point of K engine points, in and outside the solve")
    args = parser.parse_args()
    if args.cpu_split:
        with tempfile.TemporaryDirectory() as tmp:
            case = Path(tmp) / "lamella.toml"
            case.write_text(case_text(args.size, args.method))
            total, solve, rest, wall, stages = cpu_split(case, args.cpu_split)
        print(f"engine, {args.cpu_split} points after a first one, CPU s / point: total "
              f"{total:.3f}, solve_network {solve:.3f}, outside it {rest:.3f}; wall s / point "
              f"{wall:.3f}")
        print("stages outside the solve, CPU ms (least of 7): "
              + ", ".join(f"{name} {1000 * t:.1f}" for name, t in stages.items()))
        return
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "lamella.toml"
        case.write_text(case_text(args.size, args.method))
        out = Path(tmp) / "sweep"
        sweep_s = timed([*netsolve_command(), "sweep", str(case), "-o", str(out),
                         "--jobs", str(args.jobs),
                         "--param", f"materials.ratio_ip_op={RATIO_IP_OP}",
                         "--param", f"materials.ratio_ip_gb={RATIO_IP_GB}"])
        with open(out / "sweep.csv", newline="") as stream:
            rows = list(csv.DictReader(stream))
        n_ok = sum(r["status"] == "ok" for r in rows)
        wall = [float(r["wall_s"]) for r in rows]
        run_s = []
        for k, (op, gb) in enumerate([(10.0, 20), (1000.0, 1), (10000.0, 1000)][:args.runs]):
            point = Path(tmp) / f"point{k}.toml"
            point.write_text(case_text(args.size, args.method).replace("ratio_ip_op = 1000.0",
                                                          f"ratio_ip_op = {op}")
                             .replace("ratio_ip_gb = 20.0", f"ratio_ip_gb = {gb}"))
            run_s.append(timed([*netsolve_command(), "run", str(point), "-q",
                                "-o", str(Path(tmp) / f"run{k}")]))
        rows_ablation = ablation(case, args.ablation) if args.ablation else []
    per_run = statistics.median(run_s)
    print(f"{args.size}x{args.size} lamella, {len(rows)} points ({n_ok} ok), --jobs {args.jobs}, "
          f"solver.method = {args.method}")
    print("| what | wall s | s / point |")
    print("|---|---|---|")
    print(f"| netsolve sweep, {len(rows)} points, --jobs {args.jobs} (whole command) | "
          f"{sweep_s:.1f} | {sweep_s / len(rows):.2f} |")
    print(f"| netsolve run, median of {len(run_s)} calls (whole command) | {per_run:.1f} | "
          f"{per_run:.2f} |")
    print(f"| 100 x netsolve run (extrapolated) | {100 * per_run:.0f} | {per_run:.2f} |")
    print(f"speed-up over independent runs: {100 * per_run / sweep_s * len(rows) / 100:.1f}x; "
          f"per-point worker time (wall_s column): median {statistics.median(wall):.2f} s, "
          f"max {max(wall):.2f} s")
    if rows_ablation:
        print(f"\nengine, {args.ablation} points serially in one process:")
        print("| engine | s / point | mean CG iterations |")
        print("|---|---|---|")
        for label, per_point, iterations in rows_ablation:
            print(f"| {label} | {per_point:.2f} | {iterations:.1f} |")


if __name__ == "__main__":
    main()

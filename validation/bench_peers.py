"""Benchmark: netsolve vs TauFactor 2 on an isotropic porous 3D structure (not a test).

    python validation/bench_peers.py [--sizes 64 128] [--repeats 3] [--rtols 1e-6 1e-8]
                                     [--methods gmg amg] [--conv-crit 1e-2]
                                     [--torch-threads 0 1] [--no-process] [--run-process]

TauFactor 2 is an optional, benchmark-only peer; it is not a netsolve dependency. Install it
(CPU build) in a separate virtual environment, together with netsolve, and run this script from
that environment::

    python -m venv tfvenv
    tfvenv/bin/pip install torch taufactor   # a CPU build of torch is enough
    tfvenv/bin/pip install -e .              # netsolve, from the repository root
    tfvenv/bin/python validation/bench_peers.py

(On Linux the default torch wheel from PyPI carries large CUDA libraries; install a CPU build
of torch first if you have one.)
Without ``taufactor`` the script exits with status 2.

What is compared. An n^3 grid of conducting voxels with overlapping insulating spheres (radius
~ U[3, 4] voxels, centres uniform, numpy ``default_rng(0)``, count chosen for ~25 % insulating
volume; a voxel is insulating when its centre lies within a sphere). Both tools solve the same
discrete problem: a two-point (7-point stencil) network of unit-conductivity voxels, electrodes
on the two x faces linked by half-voxel resistors, insulating side walls; floating clusters do
not carry current. Compared quantity: the effective diffusivity / relative conductivity
D_eff = sigma_eff / sigma = L / (R_eff A sigma) (TauFactor's ``D_eff``).

* exact reference: netsolve, AMG-preconditioned CG at rtol 1e-12 (its change from rtol 1e-10
  is printed as the reference's own uncertainty);
* TauFactor: ``Solver(img, device="cpu").solve(conv_crit=...)`` (its default conv_crit 1e-2,
  float32), after one untimed warm-up solve in the process, once per ``--torch-threads`` value
  (0 = torch's default thread count; default: torch's default and 1). torch's OpenMP threads
  degrade badly when a core is busy with another process (measured up to 100x on 2 cores), so
  the speed ratios use the fastest TauFactor row;
* netsolve: the whole ``netsolve.solve(case)`` call (label file read + microstructure + network
  + solver setup + CG + fields) at each ``--rtols`` value, for each ``--methods`` value (grid
  multigrid ``gmg`` and classical AMG ``amg`` side by side). "SpMV eq" is the linear solve
  (setup + iterations) in units of one float64 CSR product with the assembled matrix, timed in
  the same process (median of 20).

In-process times are min and median over ``--repeats`` (the two tools interleaved); the
whole-process time is the median wall time of a fresh Python process (interpreter start +
imports + load the structure from a .npy + solve + print D_eff), run with this script's hidden
``--child`` option. With ``--run-process`` each netsolve row also gets "run s": the median wall
time of the command ``netsolve run CASE -o OUT -q`` in a fresh process with every default
output (summary.json, fields.npz, the CSV tables, fields.vti, gb_network.vtu and the four
figures), against TauFactor's whole process (which writes nothing). Ratios: speed = TauFactor time / netsolve time, accuracy = TauFactor
D_eff error / netsolve D_eff error. The machine's load average is printed; the script reports
what it measures and makes no pass/fail decision.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RADIUS_RANGE = (3.0, 4.0)
INSULATING_FRACTION = 0.25
VOXEL_SIZE_NM = 1.0
REFERENCE_RTOL = 1e-12
DEFAULT_TORCH_THREADS: list[int] = []  # torch's own default, recorded before any change


# --------------------------------------------------------------------------- structure


def porous_structure(n: int, seed: int = 0) -> np.ndarray:
    """n^3 array, 1 = conducting, 0 = inside an insulating sphere (overlapping, non-periodic)."""
    rng = np.random.default_rng(seed)
    lo, hi = RADIUS_RANGE
    mean_r3 = (hi**4 - lo**4) / (4 * (hi - lo))  # E[r^3] for r ~ U[lo, hi]
    count = int(round(-math.log(1 - INSULATING_FRACTION) * n**3 / (4 / 3 * math.pi * mean_r3)))
    centres = rng.uniform(0, n, size=(count, 3))
    radii = rng.uniform(lo, hi, size=count)
    img = np.ones((n, n, n), dtype=np.int32)
    for c, r in zip(centres, radii):
        box = [slice(max(0, math.floor(ci - r)), min(n, math.ceil(ci + r) + 1)) for ci in c]
        ax = [np.arange(s.start, s.stop) + 0.5 - ci for s, ci in zip(box, c)]
        d2 = ax[0][:, None, None] ** 2 + ax[1][None, :, None] ** 2 + ax[2][None, None, :] ** 2
        img[tuple(box)][d2 <= r * r] = 0
    return img


# --------------------------------------------------------------------------- the two tools


# ``--balance-tol``: netsolve's [solver] balance_tol for every netsolve row (None: the case
# default, 1e-9); through the environment so that the timed child processes see it too
BALANCE_TOL_ENV = "BENCH_PEERS_BALANCE_TOL"


def balance_settings() -> dict:
    value = os.environ.get(BALANCE_TOL_ENV)
    return {} if value is None else {"balance_tol": float(value)}


def netsolve_case(npy: Path, shape: tuple[int, ...], rtol: float, method: str = "amg"):
    import netsolve

    return netsolve.case_from_dict({
        "grid": {"shape": list(shape), "voxel_size_nm": VOXEL_SIZE_NM},
        "microstructure": {"source": "labels", "path": npy.name, "phases": {"void": 0}},
        "materials": {"sigma_ip_S_per_m": 1.0, "conductivity_model": "isotropic",
                      "electrode_link": "half_voxel"},
        "electrodes": [{"name": "left", "region": "left", "potential_V": 1.0},
                       {"name": "right", "region": "right", "potential_V": 0.0}],
        "solver": {"method": method, "rtol": rtol, "discretization": "tpfa",
                   **balance_settings()},
    }, base_dir=npy.parent)


def d_eff_from_result(result, shape: tuple[int, ...]) -> float:
    nx, ny, nz = shape
    h = VOXEL_SIZE_NM * 1e-9
    return (nx * h) / (result.effective_resistance_ohm * (ny * nz * h * h) * 1.0)


def run_netsolve(case, shape: tuple[int, ...], detail: bool = False):
    """(wall time of netsolve.solve, D_eff, CG iterations); with ``detail`` also the linear
    solve's time (setup + iterations) in SpMV equivalents."""
    import netsolve

    t0 = time.perf_counter()
    result = netsolve.solve(case)
    elapsed = time.perf_counter() - t0
    out = (elapsed, d_eff_from_result(result, shape), int(result.solution.stats.iterations))
    return (*out, result.solution.stats.time_s / spmv_seconds(result)) if detail else out


def spmv_seconds(result) -> float:
    """Median time of one float64 CSR product with the solved (active-node) matrix."""
    from netsolve.solve import network_matrix

    active = np.flatnonzero(~result.solution.floating)
    matrix = network_matrix(result.network)[active][:, active].tocsr()
    x = np.ones(matrix.shape[0])
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        matrix @ x
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_taufactor(img: np.ndarray, conv_crit: float, threads: int = 0) -> tuple[float, float, int]:
    """(wall time of Solver construction + solve, D_eff, iterations); threads 0: torch default."""
    import taufactor as tau
    import torch

    torch.set_num_threads(threads or DEFAULT_TORCH_THREADS[0])

    t0 = time.perf_counter()
    solver = tau.Solver(img, device="cpu")
    solver.solve(verbose=False, conv_crit=conv_crit, iter_limit=10000)
    elapsed = time.perf_counter() - t0
    if not getattr(solver, "converged", True):
        print(f"  warning: TauFactor did not converge (conv_crit {conv_crit})", file=sys.stderr)
    d_eff = solver.D_eff[0] if np.ndim(solver.D_eff) else solver.D_eff
    return elapsed, float(d_eff), int(solver.iter)


def record_torch_default() -> int:
    import torch

    if not DEFAULT_TORCH_THREADS:
        DEFAULT_TORCH_THREADS.append(torch.get_num_threads())
    return DEFAULT_TORCH_THREADS[0]


def child(tool: str, npy: Path, setting: float, threads: int) -> int:
    """Whole-process measurement: imports + load structure + solve + print D_eff."""
    if tool == "taufactor":
        record_torch_default()
        img = np.load(npy, allow_pickle=False)
        _, d_eff, iters = run_taufactor(img, setting, threads)
    else:
        method = tool.split(":")[1]
        shape = tuple(np.load(npy, mmap_mode="r", allow_pickle=False).shape)
        _, d_eff, iters = run_netsolve(netsolve_case(npy, shape, setting, method), shape)
    print(json.dumps({"d_eff": d_eff, "iterations": iters}))
    return 0


def time_process(tool: str, npy: Path, setting: float, threads: int,
                 repeats: int) -> tuple[float, float]:
    """Median wall time of a fresh process, and the D_eff it printed."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", tool, str(npy), repr(setting),
           str(threads)]
    return median_wall(cmd, repeats, f"{tool} child",
                       lambda proc: json.loads(proc.stdout.strip().splitlines()[-1])["d_eff"])


def median_wall(cmd: list[str], repeats: int, what: str, d_eff_of) -> tuple[float, float]:
    """Median wall time of ``repeats`` runs of ``cmd`` in fresh processes, and the D_eff that
    ``d_eff_of(completed process)`` reads from the last one."""
    times, d_eff = [], float("nan")
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"{what} failed: {proc.stderr.strip()[-500:]}")
        d_eff = d_eff_of(proc)
    return statistics.median(times), d_eff


def case_toml(npy: Path, shape: tuple[int, ...], rtol: float, method: str) -> Path:
    """The case of :func:`netsolve_case` as a case file next to ``npy`` (for ``netsolve run``)."""
    path = npy.with_name(f"{npy.stem}_{method}_{rtol:g}.toml")
    path.write_text(
        f"[grid]\nshape = {list(shape)}\nvoxel_size_nm = {VOXEL_SIZE_NM}\n\n"
        f"[microstructure]\nsource = \"labels\"\npath = \"{npy.name}\"\n"
        f"phases = {{ void = 0 }}\n\n"
        f"[materials]\nsigma_ip_S_per_m = 1.0\nconductivity_model = \"isotropic\"\n"
        f"electrode_link = \"half_voxel\"\n\n"
        f"[[electrodes]]\nname = \"left\"\nregion = \"left\"\npotential_V = 1.0\n\n"
        f"[[electrodes]]\nname = \"right\"\nregion = \"right\"\npotential_V = 0.0\n\n"
        f"[solver]\nmethod = \"{method}\"\nrtol = {rtol!r}\ndiscretization = \"tpfa\"\n"
        + "".join(f"{k} = {v!r}\n" for k, v in balance_settings().items()))
    return path


def time_run(npy: Path, shape: tuple[int, ...], rtol: float, method: str,
             repeats: int) -> tuple[float, float]:
    """Median wall time of ``netsolve run`` (default outputs) in a fresh process, and the
    D_eff of its summary.json."""
    case = case_toml(npy, shape, rtol, method)
    out = npy.with_name(f"run_{npy.stem}_{method}")
    cmd = [sys.executable, "-c", "import sys; from netsolve.cli import main; sys.exit(main())",
           "run", str(case), "-o", str(out), "-q", "--overwrite"]

    def d_eff_of(_proc) -> float:
        r_eff = json.loads((out / "summary.json").read_text())["effective_resistance_ohm"]
        return (shape[0] * VOXEL_SIZE_NM * 1e-9) / (r_eff * shape[1] * shape[2]
                                                    * (VOXEL_SIZE_NM * 1e-9) ** 2)

    return median_wall(cmd, repeats, "netsolve run", d_eff_of)


# --------------------------------------------------------------------------- driver


def fmt_err(e: float) -> str:
    return f"{e:9.1e}" if e > 0 else f"{'<1e-16':>9}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rtols", nargs="+", type=float, default=[1e-6, 1e-8],
                        help="netsolve solver.rtol values (one row each)")
    parser.add_argument("--methods", nargs="+", default=["gmg", "amg"],
                        help="netsolve solver.method values (one row each per rtol)")
    parser.add_argument("--conv-crit", type=float, default=1e-2, help="TauFactor conv_crit")
    parser.add_argument("--torch-threads", nargs="+", type=int, default=[0, 1],
                        help="torch thread counts for TauFactor rows (0: torch default)")
    parser.add_argument("--no-process", action="store_true",
                        help="skip the whole-process (fresh interpreter) timings")
    parser.add_argument("--run-process", action="store_true",
                        help="also time `netsolve run` with its default outputs, fresh process")
    parser.add_argument("--balance-tol", type=float, default=None,
                        help="netsolve's [solver] balance_tol (default: the case default, 1e-9)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.balance_tol is not None:
        os.environ[BALANCE_TOL_ENV] = repr(args.balance_tol)
    if args.child:
        tool, npy, setting, threads = args.child
        return child(tool, Path(npy), float(setting), int(threads))

    try:
        import taufactor  # noqa: F401
        import torch
    except ImportError:
        print("bench_peers.py: TauFactor 2 is not installed. This benchmark needs the optional "
              "peer: pip install torch taufactor (CPU build of torch, e.g. "
              "--index-url https://download.pytorch.org/whl/cpu), in a separate virtual "
              "environment that also has netsolve installed.", file=sys.stderr)
        return 2
    import netsolve

    default_threads = record_torch_default()
    thread_counts = list(dict.fromkeys(t or default_threads for t in args.torch_threads))
    print(f"python {sys.version.split()[0]}, netsolve {netsolve.__version__}, "
          f"taufactor {importlib.metadata.version('taufactor')}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), cpus {os.cpu_count()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"structure: insulating spheres r~U{list(RADIUS_RANGE)}, ~{INSULATING_FRACTION:.0%} "
          f"insulating, seed 0; repeats {args.repeats}; times in s; netsolve balance_tol "
          f"{balance_settings().get('balance_tol', 'default (1e-9)')}")

    header = (f"{'n':>4} {'tool':>9} {'setting':>16} {'min s':>7} {'median s':>8} "
              f"{'process s':>9} {'run s':>7} {'D_eff':>12} {'rel.err':>9} {'iters':>6} {'SpMV eq':>7}")
    summaries = []
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up (untimed): first TauFactor/torch call and netsolve/pyamg imports in this process.
        warm = porous_structure(16, seed=1)
        for threads in thread_counts:
            run_taufactor(warm, args.conv_crit, threads)
        np.save(Path(tmp) / "warm.npy", warm)
        for method in args.methods:
            run_netsolve(netsolve_case(Path(tmp) / "warm.npy", warm.shape, 1e-8, method),
                         warm.shape)

        for n in args.sizes:
            img = porous_structure(n)
            npy = Path(tmp) / f"porous_{n}.npy"
            np.save(npy, img)
            shape = img.shape
            t0 = time.perf_counter()
            _, d_ref, it_ref = run_netsolve(netsolve_case(npy, shape, REFERENCE_RTOL), shape)
            _, d_chk, _ = run_netsolve(netsolve_case(npy, shape, 1e-10), shape)
            ref_s = time.perf_counter() - t0
            print(f"\nn = {n}: insulating fraction {1 - img.mean():.4f}, "
                  f"exact D_eff = {d_ref:.12f} (amg rtol {REFERENCE_RTOL:g}, {it_ref} it; "
                  f"|rtol 1e-10 - ref|/ref = {abs(d_chk - d_ref) / d_ref:.1e}; {ref_s:.1f} s)")
            load_before = os.getloadavg()[0]

            rows: dict[tuple[str, str], dict] = {}
            tau_keys = [("TauFactor", f"cc {args.conv_crit:g}, {t} thr") for t in thread_counts]
            ns_runs = [(m, r) for m in args.methods for r in args.rtols]
            ns_keys = [("netsolve", f"{m} rtol {r:g}") for m, r in ns_runs]
            cases = {(m, r): netsolve_case(npy, shape, r, m) for m, r in ns_runs}
            for key in [*tau_keys, *ns_keys]:
                rows[key] = {"times": [], "d_eff": None, "iters": None, "spmv": float("nan")}
            for _ in range(args.repeats):  # interleaved, so load changes hit both tools
                for threads, key in zip(thread_counts, tau_keys):
                    t, d, it = run_taufactor(img, args.conv_crit, threads)
                    rows[key]["times"].append(t)
                    rows[key].update(d_eff=d, iters=it)
                for run, key in zip(ns_runs, ns_keys):
                    t, d, it, spmv = run_netsolve(cases[run], shape, detail=True)
                    rows[key]["times"].append(t)
                    rows[key].update(d_eff=d, iters=it, spmv=spmv)
            settings = {k: ("taufactor", args.conv_crit, t)
                        for k, t in zip(tau_keys, thread_counts)}
            settings.update({k: (f"netsolve:{m}", r, 0) for k, (m, r) in zip(ns_keys, ns_runs)})
            for key, row in rows.items():
                row["min"] = min(row["times"])
                row["median"] = statistics.median(row["times"])
                row["err"] = abs(row["d_eff"] - d_ref) / d_ref
                row["process"] = row["run"] = float("nan")
                if not args.no_process:
                    tool, setting, threads = settings[key]
                    row["process"], d_proc = time_process(tool, npy, setting, threads,
                                                          args.repeats)
                    if abs(d_proc - row["d_eff"]) > 1e-6 * d_ref:
                        print(f"  note: {key[0]} child process gave D_eff {d_proc:.10f}")
                if args.run_process and key[0] == "netsolve":
                    method, rtol = ns_runs[ns_keys.index(key)]
                    row["run"], d_run = time_run(npy, shape, rtol, method, args.repeats)
                    if abs(d_run - row["d_eff"]) > 1e-6 * d_ref:
                        print(f"  note: netsolve run gave D_eff {d_run:.10f}")
            load_after = os.getloadavg()[0]

            print(header)
            for (tool, setting), row in rows.items():
                print(f"{n:>4} {tool:>9} {setting:>16} {row['min']:>7.3f} {row['median']:>8.3f} "
                      f"{row['process']:>9.2f} {row['run']:>7.2f} {row['d_eff']:>12.9f} "
                      f"{fmt_err(row['err'])} "
                      f"{row['iters']:>6} {row['spmv']:>7.0f}")
            # Speed ratios against the fastest TauFactor row for each statistic (conservative).
            best = {stat: min(rows[k][stat] for k in tau_keys) for stat in ("min", "median")}
            best["process"] = min((rows[k]["process"] for k in tau_keys), default=float("nan"))
            tau_err = min(rows[k]["err"] for k in tau_keys)
            for key in ns_keys:
                ns = rows[key]
                acc = tau_err / ns["err"] if ns["err"] > 0 else float("inf")
                line = (f"  best TauFactor / netsolve {key[1]}: "
                        f"speed min {best['min'] / ns['min']:.2f}x, "
                        f"median {best['median'] / ns['median']:.2f}x, "
                        f"process {best['process'] / ns['process']:.2f}x, "
                        f"run {best['process'] / ns['run']:.2f}x; accuracy {acc:.3g}x")
                print(line)
                summaries.append(f"n={n} {key[1]}: " + line.split(": ", 1)[1])
            print(f"  load average (1 min) before/after timings: {load_before:.2f} / "
                  f"{load_after:.2f}")

    print("\nsummary (ratio > 1: netsolve faster / more accurate):")
    for s in summaries:
        print("  " + s)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

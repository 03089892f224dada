"""Benchmark: a 20-point impedance sweep (``netsolve sweep --impedance``; not a test).

    python validation/bench_impedance_sweep.py [--size 128] [--jobs 1 2] [--runs 3]

The case: a Voronoi lamella (one grain per ~20^2 voxels, isotropic grains, sigma_ip/sigma_GB
= 200, GB 1 nm: a bulk arc and a GB arc, as in a pellet with resistive GBs), the two-point
network, electrodes on the two x faces. (With the tensor model at sigma_ip/sigma_op = 1e3 the
anisotropic bulk spreads over three decades and hides a GB arc of this size.) The sweep:
eps_r_gb = logspace(0, 2, 20), window derived per point, 5 points per decade, 3 arcs per row. Each run is the whole command in a subprocess (start-up, validation
of all points, CSV, Parquet, plots); its wall time, the CPU time of it and its children, and
the load average are printed, then the median per --jobs value. The last table's arcs: every GB
has the same sigma_GB and t_GB, so the GB arc's summit should move as 1/eps_r_gb
(``f x eps_r_gb`` printed per point).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def case_text(size: int) -> str:
    return f"""
[grid]
shape = [{size}, {size}]
voxel_size_nm = 10.0

[microstructure]
source = "voronoi"
n_grains = {max(2, round(size * size / 400))}
seed = 1

[materials]
conductivity_model = "isotropic"
ratio_ip_gb = 200.0

[[electrodes]]
name = "source"
region = "left"
potential_V = 1.0

[[electrodes]]
name = "sink"
region = "right"
potential_V = 0.0

[solver]
discretization = "tpfa"

[impedance]
points_per_decade = 5
"""


def run(case: Path, out: Path, jobs: int) -> tuple[float, float]:
    """Wall and CPU seconds of one whole sweep command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "netsolve.cli", "sweep", str(case), "--impedance",
                    "--param", "materials.eps_r_gb=logspace(0,2,20)", "--jobs", str(jobs),
                    "-o", str(out)], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        case = folder / "lamella.toml"
        case.write_text(case_text(args.size))
        times = {jobs: [] for jobs in args.jobs}
        last = None
        for r in range(args.runs):
            for jobs in args.jobs:  # alternating, so that a load change hits both
                out = folder / f"sweep_{jobs}_{r}"
                wall, cpu = run(case, out, jobs)
                load = os.getloadavg()[0]
                times[jobs].append((wall, cpu))
                print(f"run {r + 1}, --jobs {jobs}: wall {wall:.1f} s, CPU {cpu:.1f} s, "
                      f"load average {load:.1f}", flush=True)
                last = out
        print(f"\n{args.size}^2 lamella, 20 points (eps_r_gb = logspace(0, 2, 20)):")
        for jobs, values in times.items():
            print(f"  --jobs {jobs}: median wall {statistics.median(v[0] for v in values):.1f} "
                  f"s, median CPU {statistics.median(v[1] for v in values):.1f} s")
        with open(last / "sweep.csv", newline="") as stream:
            rows = sorted(csv.DictReader(stream), key=lambda r: float(r["materials.eps_r_gb"]))
        print("\n  eps_r_gb  n_frequencies  arcs (f Hz, R ohm, origin)  GB summit x eps_r_gb  "
              "fit residual  wall_s")
        for row in rows:
            eps = float(row["materials.eps_r_gb"])
            arcs = [(float(row[f"arc_{i}_frequency_Hz"]), float(row[f"arc_{i}_resistance_ohm"]),
                     row[f"arc_{i}_origin"]) for i in range(1, 4) if row[f"arc_{i}_origin"]]
            gb = [f for f, _, origin in arcs if origin == "gb"]
            text = ", ".join(f"({f:.3g}, {r:.3g}, {o})" for f, r, o in arcs)
            print(f"  {eps:8.3g}  {row['n_frequencies']:>13}  {text}  "
                  f"{gb[0] * eps if gb else float('nan'):.6g}  "
                  f"{float(row['arc_fit_residual_rel']):.1e}  {float(row['wall_s']):.2f}")


if __name__ == "__main__":
    main()

"""Calibrate netsolve.resources: measure the peak memory of `netsolve run` and fit the model.

Each point runs `netsolve run` (default outputs: figures, VTK, GB network, tables) in its own
process on a Voronoi map (tensor model, ~400 voxels per grain) and reads the child's peak
resident set (ru_maxrss from wait4). The model, per dimension x discretization x method, is

    peak = BASE + a * n + b * n * f(n),   f = n^(1/2) (2D direct), n (3D direct), else 0

with n the number of voxels and BASE the peak of a tiny run of that dimension (the interpreter and the imported
libraries). a and b are fitted by non-negative least squares; the script prints them as the
table ``netsolve.resources.COEFFICIENTS`` and compares the estimate (with its safety factor)
with every measurement.

    .venv/bin/python validation/calibrate_memory.py [--quick] [--jobs 2]

Takes about 30 minutes on 2 cores (--quick: the two smallest sizes only, ~2 minutes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from netsolve.resources import estimate_bytes, superlinear

SIZES = {  # (ndim, discretization, method): grid edge lengths
    (2, "tpfa", "amg"): (256, 512, 1024, 2048),
    (2, "tpfa", "direct"): (256, 512, 768),
    (2, "tpfa", "cg"): (128, 256, 512),
    (2, "fem", "amg"): (256, 512, 1024),
    (2, "fem", "direct"): (128, 256, 512),
    (2, "fem", "cg"): (128, 256, 512),
    (3, "tpfa", "amg"): (32, 48, 64, 96),
    (3, "tpfa", "direct"): (16, 24, 32, 40),
    (3, "tpfa", "cg"): (24, 32, 48),
    (3, "fem", "amg"): (24, 32, 48, 64),
    (3, "fem", "direct"): (12, 16, 20, 24),
    (3, "fem", "cg"): (16, 24, 32),
}


def case_text(ndim: int, edge: int, discretization: str, method: str) -> str:
    shape = [edge] * ndim
    n_grains = max(2, edge**ndim // (400 if ndim == 2 else 512))
    # cg converges slowly on 1000:1 grains: a looser target, so that the run completes
    solver = (f'method = "{method}"\ndiscretization = "{discretization}"\n'
              + ('rtol = 1e-6\nmaxiter = 200000\n' if method == "cg" else ""))
    return (f"[grid]\nshape = {shape}\nvoxel_size_nm = 10.0\n\n[microstructure]\n"
            f'source = "voronoi"\nn_grains = {n_grains}\nseed = 3\n\n[solver]\n{solver}\n'
            '[[electrodes]]\nregion = "left"\npotential_V = 1.0\n\n'
            '[[electrodes]]\nregion = "right"\npotential_V = 0.0\n')


def measure(folder: Path, text: str) -> tuple[int, float, int]:
    """(peak RSS in bytes, seconds, exit status) of one `netsolve run` in a fresh process."""
    folder.mkdir(parents=True)
    (folder / "case.toml").write_text(text)
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "netsolve.cli", "run", "case.toml", "-q",
                              "-o", "out"], cwd=folder, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        print(f"  run failed ({child.returncode}): {child.stderr.read().decode()[-300:]}",
              file=sys.stderr)
    child.stderr.close()
    return usage.ru_maxrss * 1024, seconds, child.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two smallest sizes only")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    args = parser.parse_args()
    jobs = []
    for key, edges in SIZES.items():
        for edge in edges[:2] if args.quick else edges:
            jobs.append((key, edge))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = {2: measure(root / "base2", case_text(2, 8, "tpfa", "direct"))[0],
                3: measure(root / "base3", case_text(3, 4, "tpfa", "direct"))[0]}

        def one(job):
            (ndim, disc, method), edge = job
            folder = root / f"{ndim}d_{disc}_{method}_{edge}"
            return job, measure(folder, case_text(ndim, edge, disc, method))

        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(one, jobs))

    print(f"BASE_BYTES = {{2: {base[2]}, 3: {base[3]}}}  # tiny runs")
    print("COEFFICIENTS = {  # (ndim, discretization, method): (a, b) bytes per voxel")
    fitted = {}
    for key in SIZES:
        rows = [(edge, peak) for (k, edge), (peak, _, status) in results
                if k == key and status == 0]
        if not rows:
            continue
        n = np.array([edge**key[0] for edge, _ in rows], float)
        excess = np.array([peak - base[key[0]] for _, peak in rows], float)
        f = superlinear(key[0], key[2], n)
        if f.any():
            (a, b), _ = nnls(np.stack([n, n * f], axis=1), np.maximum(excess, 0))
        else:
            (a,), _ = nnls(n[:, None], np.maximum(excess, 0))
            b = 0.0
        fitted[key] = (a, b)
        print(f"    {key}: ({a:.0f}, {b:.4g}),")
    print("}\n")
    print("estimate: the coefficients in netsolve/resources.py now (re-run after pasting)")
    print(f"{'dim':>3} {'disc':>5} {'method':>7} {'grid':>6} {'voxels':>9} {'measured MiB':>13} "
          f"{'estimate MiB':>13} {'ratio':>6} {'time s':>7}")
    for ((ndim, disc, method), edge), (peak, seconds, status) in results:
        shape = (edge,) * ndim
        est = estimate_bytes(shape, disc, method)
        flag = "" if status == 0 else f"  (exit {status})"
        print(f"{ndim:>3} {disc:>5} {method:>7} {edge:>6} {edge**ndim:>9} {peak / 2**20:>13.0f} "
              f"{est / 2**20:>13.0f} {est / peak:>6.2f} {seconds:>7.1f}{flag}")


if __name__ == "__main__":
    main()

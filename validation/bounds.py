"""Certified bounds: brackets that must contain exact values, and what they cost (not a test).

    python validation/bounds.py                 # exact checks (a few minutes)
    python validation/bounds.py --perf [NAMES]  # the issue's performance rows, one process each
                                                # (640-1000, 640-100, their -voxels rows,
                                                # lamella, cube)

Exact checks:

- Keller-Mendelson duality: a 2D polycrystal of uniaxial grains with c in the lamella plane, on
  a square with electrodes on two opposite faces and insulating walls, has G_x G_y =
  (t sigma_ip)(t sigma_op) for EVERY map and voxelization (t: lamella thickness; t_GB = 0, no
  ZrO2). Printed per ratio and pixels per grain diameter: the bracket of sqrt(G_x G_y) relative
  to the exact value, its width, and whether it contains it, on the voxels and after adaptive
  refinement to bound_tol. A bracket that misses the exact value is a bug (the script says
  MISSED and exits 1). ``plain`` is the width the Q1 / RT0 bracket on the voxels alone has
  (each axis' plain gap, combined); in 2D the bracket itself uses the reconstructed Q2
  potential and the stream-function-corrected flux where they are better
  (netsolve.certify.reconstruct, .equilibrate).
- Homogeneous rotated anisotropic slab (2D and 3D, insulating walls): both bounds converge to
  each other under refinement; the long-slab value W V / (L (K^-1)_xx) is the limit for long
  slabs only, so the bracket's convergence is what is shown.
- Bicrystal with R_GB (exact R = L / (sigma A) + R_GB); a ZrO2 particle in a square (bracket
  shrinks under uniform refinement of the same map and every bracket contains the finest
  one's).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

THICKNESS_NM = 100.0


def voronoi_labels(n: int, n_grains: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.random((n_grains, 2)) * n
    x = np.arange(n) + 0.5
    grid = np.stack(np.meshgrid(x, x, indexing="ij"), axis=-1).reshape(-1, 2)
    return (cKDTree(centres).query(grid)[1] + 1).reshape(n, n).astype(np.int32)


def polycrystal_case(folder: Path, labels: np.ndarray, ratio: float, axis: int, solver: dict,
                     side_nm: float = 1000.0, seed: int = 1):
    import netsolve

    n_grains = int(labels.max())
    angles = np.random.default_rng(seed).random(n_grains) * np.pi
    path = folder / f"labels_{labels.shape[0]}_{n_grains}.npy"
    np.save(path, labels)
    edges = ("left", "right") if axis == 0 else ("bottom", "top")
    return netsolve.case_from_dict({
        "grid": {"shape": list(labels.shape), "voxel_size_nm": side_nm / labels.shape[0],
                 "thickness_nm": THICKNESS_NM},
        "microstructure": {"source": "labels", "path": str(path)},
        "grains": [{"id": g + 1, "c_axis": [float(np.cos(a)), float(np.sin(a)), 0.0]}
                   for g, a in enumerate(angles)],
        "materials": {"sigma_ip_S_per_m": 1.0, "ratio_ip_op": ratio, "gb_thickness_nm": 0.0,
                      "conductivity_model": "tensor"},
        "electrodes": [{"name": "a", "region": edges[0], "potential_V": 1.0},
                       {"name": "b", "region": edges[1], "potential_V": 0.0}],
        "solver": {"discretization": "mixed", **solver}}, base_dir=folder)


def duality(folder: Path, n_grains: int = 12, refine_ratios=(10.0, 100.0, 1000.0)) -> bool:
    import netsolve

    print("Keller-Mendelson duality: bracket of sqrt(G_x G_y) / exact - 1 "
          f"({n_grains} grains, c in plane, t_GB = 0)")
    print(f"{'ratio':>6} {'px/grain':>8} {'mode':>9} {'lower':>9} {'upper':>9} {'width':>8} "
          f"{'plain':>8} {'inside':>6} {'cells':>9} {'time':>7}")
    ok = True
    for ratio in (10.0, 100.0, 1000.0):
        for per_grain in (8, 16, 32):
            n = int(round(per_grain * np.sqrt(n_grains)))
            labels = voronoi_labels(n, n_grains, seed=4)
            modes = [("voxels", {"refine": False})]
            if per_grain == 8 and ratio in refine_ratios:
                modes.append(("adaptive", {"refine": True, "bound_tol": 0.03}))
            for mode, solver in modes:
                start = time.perf_counter()
                brackets, cells, plain = [], [], 1.0
                for axis in (0, 1):
                    case = polycrystal_case(folder, labels, ratio, axis, solver)
                    certificate = netsolve.solve(case).certificate
                    brackets.append(certificate.conductance_S)
                    first = certificate.refinement.gaps[0] if certificate.refinement else \
                        certificate.plain_gap
                    plain *= 1 + first
                    refined = certificate.refinement
                    cells.append(refined.cells[-1] if refined else n * n)
                exact = THICKNESS_NM * 1e-9 * np.sqrt(1.0 / ratio) * 1.0
                lower = np.sqrt(brackets[0].lower * brackets[1].lower) / exact - 1
                upper = np.sqrt(brackets[0].upper * brackets[1].upper) / exact - 1
                inside = lower <= 0 <= upper
                ok &= inside
                print(f"{ratio:6.0f} {per_grain:8d} {mode:>9} {lower:+9.3%} {upper:+9.3%} "
                      f"{upper - lower:8.2%} {np.sqrt(plain) - 1:8.2%} "
                      f"{'yes' if inside else 'MISSED':>6} "
                      f"{max(cells):9d} {time.perf_counter() - start:6.1f}s")
    return ok


def slabs_and_bicrystal(folder: Path) -> bool:
    import netsolve

    ok = True
    print("\nHomogeneous rotated slab (c = (1, 0.7, 0), ratio 100, insulating walls): "
          "relative gap of the R bracket under uniform refinement")
    for shape in ((20, 10), (10, 5, 5)):
        gaps = []
        for factor in (1, 2, 4):
            fine = tuple(n * factor for n in shape)
            labels = np.ones(fine, dtype=np.int32)
            path = folder / f"slab_{'x'.join(map(str, fine))}.npy"
            np.save(path, labels)
            case = netsolve.case_from_dict({
                "grid": {"shape": list(fine), "voxel_size_nm": 10.0 / factor,
                         **({"thickness_nm": THICKNESS_NM} if len(fine) == 2 else {})},
                "microstructure": {"source": "labels", "path": str(path)},
                "grains": [{"id": 1, "c_axis": [1.0, 0.7, 0.0]}],
                "materials": {"sigma_ip_S_per_m": 1.0, "ratio_ip_op": 100.0,
                              "gb_thickness_nm": 0.0, "conductivity_model": "tensor"},
                "electrodes": [{"name": "a", "region": "left", "potential_V": 1.0},
                               {"name": "b", "region": "right", "potential_V": 0.0}],
                "solver": {"discretization": "mixed", "refine": False}}, base_dir=folder)
            gaps.append(netsolve.solve(case).certificate.relative_gap)
        ok &= gaps[0] > gaps[1] > gaps[2]
        print(f"  {len(shape)}D {shape}: gaps {', '.join(f'{g:.2%}' for g in gaps)} "
              f"(x1, x2, x4)")
    print("\nBicrystal with R_GB (exact R = L/(sigma A) + R_GB), fixed potentials:")
    labels = np.ones((30, 8), dtype=np.int32)
    labels[15:] = 2
    path = folder / "bicrystal.npy"
    np.save(path, labels)
    case = netsolve.case_from_dict({
        "grid": {"shape": [30, 8], "voxel_size_nm": 10.0, "thickness_nm": THICKNESS_NM},
        "microstructure": {"source": "labels", "path": str(path)},
        "grains": [{"id": 1, "c_axis": [0, 0, 1]}, {"id": 2, "c_axis": [0, 1, 0]}],
        "materials": {"sigma_ip_S_per_m": 1.0, "ratio_ip_op": 1000.0, "ratio_ip_gb": 20.0,
                      "gb_thickness_nm": 1.0, "conductivity_model": "tensor"},
        "electrodes": [{"name": "a", "region": "left", "potential_V": 1.0},
                       {"name": "b", "region": "right", "potential_V": 0.0}],
        "solver": {"discretization": "mixed"}}, base_dir=folder)
    resistance = netsolve.solve(case).certificate.resistance_ohm
    area = 8 * 10e-9 * THICKNESS_NM * 1e-9
    exact = 300e-9 / area + 1e-9 / (1.0 / 20 * area)
    inside = resistance.lower * (1 - 1e-12) <= exact <= resistance.upper * (1 + 1e-12)
    ok &= inside
    print(f"  R in [{resistance.lower:.9e}, {resistance.upper:.9e}], exact {exact:.9e}: "
          f"{'inside' if inside else 'MISSED'}, gap {resistance.relative_gap:.1e}")
    return ok


# --------------------------------------------------------------------------- performance

PERF = {
    "640-1000": "640^2 random polycrystal, 450 grains, c in plane, ratio 1000, bound_tol 0.03",
    "640-100": "640^2 random polycrystal, 450 grains, c in plane, ratio 100, bound_tol 0.01",
    "640-1000-voxels": "the 640-1000 map, bounds on the voxels (no refinement)",
    "640-100-voxels": "the 640-100 map, bounds on the voxels (no refinement)",
    "lamella": "2048^2 lamella (bench_solve.py structure), ratio 1000: bounds on the voxels",
    "lamella-refined": "the same, refined to bound_tol 0.03 within --budget cells",
    "cube": "128^3 polycrystal (bench_solve.py structure): bounds without refinement vs fem",
}


def perf_one(name: str, budget: int) -> dict:
    import netsolve

    folder = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    if name.startswith("640"):
        ratio = 1000.0 if name.startswith("640-1000") else 100.0
        tol = 0.03 if ratio == 1000.0 else 0.01
        labels = voronoi_labels(640, 450, seed=7)
        case = polycrystal_case(folder, labels, ratio, 0,
                                {"bound_tol": tol, "refine_max_cells": budget,
                                 "refine": not name.endswith("voxels")}, 6400.0)
        result = netsolve.solve(case)
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_solve import case_dict

        shape = (2048, 2048) if name.startswith("lamella") else (128, 128, 128)
        data = case_dict(shape, "auto", 1e-8, "mixed")
        data["solver"].update(bound_tol=0.03, refine=name == "lamella-refined")
        if name == "lamella-refined":
            data["solver"]["refine_max_cells"] = max(budget, 2048 * 2048)
        result = netsolve.solve(netsolve.case_from_dict(data))
    certificate = result.certificate
    refined = certificate.refinement
    return {"name": name, "gap": certificate.relative_gap,
            "first_gap": refined.gaps[0] if refined else certificate.plain_gap,
            "from": f"{certificate.upper_from}/{certificate.lower_from}",
            "cells": refined.cells[-1] if refined else None, "steps": len(refined.cells) - 1
            if refined else 0,
            "path": list(zip(refined.cells, refined.gaps, refined.bracket_gaps)) if refined
            else [],
            "wall_s": time.perf_counter() - start,
            "cpu_s": time.process_time(),
            "peak_GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--perf", nargs="*", default=None, help="performance rows to run")
    parser.add_argument("--budget", type=int, default=2_000_000, help="refine_max_cells")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(perf_one(args.one, args.budget)))
        return 0
    if args.perf is not None:
        names = args.perf or list(PERF)
        print(f"{'case':>15} {'plain gap':>10} {'gap final':>9} {'bounds from':>18} {'steps':>5} "
              f"{'cells':>9} {'wall s':>7} {'cpu s':>7} {'peak GB':>7}  what")
        for name in names:
            out = subprocess.run([sys.executable, __file__, "--one", name, "--budget",
                                  str(args.budget)], capture_output=True, text=True)
            if out.returncode:
                print(f"{name:>15} failed: {out.stderr.strip().splitlines()[-1]}")
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{name:>15} {row['first_gap']:10.2%} {row['gap']:9.2%} {row['from']:>18} "
                  f"{row['steps']:5d} "
                  f"{row['cells'] or 0:9d} {row['wall_s']:7.1f} {row['cpu_s']:7.1f} "
                  f"{row['peak_GB']:7.2f}  {PERF[name]}")
            if row.get("path"):  # cells, plain gap / the mesh's own bracket after every step
                print(" " * 10 + "steps (cells plain/bracket): " + ", ".join(
                    f"{c} {g:.2%}/" + ("-" if b is None else f"{b:.2%}")  # -: not computed
                    for c, g, b in row["path"]))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        ok = duality(Path(tmp)) & slabs_and_bicrystal(Path(tmp))
    print("\nall brackets contain the exact values" if ok else "\nA BRACKET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

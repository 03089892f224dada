"""Compare netsolve with exact results (model.md section 4) and print a table.

    python validation/analytic.py

Each row: a configuration, the exact value, netsolve's value, relative error. Exits 1 if any
error exceeds 1e-9 (the two-point network reproduces these cases exactly).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import netsolve

H_NM, SIGMA = 10.0, 1.0
H = H_NM * 1e-9


def case(shape, labels=None, grains=(), phases=None, materials=None, method="direct", tmp=None):
    data = {
        "grid": {"shape": list(shape), "voxel_size_nm": H_NM},
        "microstructure": {"source": "uniform"},
        "materials": {"sigma_ip_S_per_m": SIGMA, "conductivity_model": "tensor",
                      **(materials or {})},
        "grains": [{"id": 1, "c_axis": [0, 0, 1]}] if labels is None else list(grains),
        "electrodes": [{"name": "a", "region": "left", "potential_V": 1.0},
                       {"name": "b", "region": "right", "potential_V": 0.0}],
        "solver": {"method": method, "rtol": 1e-12},
    }
    if labels is not None:
        np.save(Path(tmp) / "labels.npy", labels.astype(np.int32))
        data["microstructure"] = {"source": "labels", "path": "labels.npy",
                                  "phases": phases or {}}
    return netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp or "."))


def rows(tmp):
    n = (64, 32)
    area2d = n[1] * H * H
    yield ("slab 2D, c = z", n[0] * H / (SIGMA * area2d),
           case(n).effective_resistance_ohm)
    for method in ("direct", "amg", "cg"):
        yield (f"slab 3D 24x12x10, {method}", 24 * H / (SIGMA * 12 * 10 * H * H),
               case((24, 12, 10), method=method).effective_resistance_ohm)
    yield ("slab 2D, full_voxel electrode links", (n[0] + 1) * H / (SIGMA * area2d),
           case(n, materials={"electrode_link": "full_voxel"}).effective_resistance_ohm)
    # Series: c along x (sigma_op = sigma_ip/1000 along x) | c along z | c along x.
    widths = np.array([16, 32, 16])
    labels = np.repeat([1, 2, 3], widths)[:, None].repeat(n[1], axis=1)
    grains = [{"id": 1, "c_axis": [1, 0, 0]}, {"id": 2, "c_axis": [0, 0, 1]},
              {"id": 3, "c_axis": [1, 0, 0]}]
    s = np.array([SIGMA / 1000, SIGMA, SIGMA / 1000])
    exact = (widths * H / (s * area2d)).sum() + 2 * 1e-9 / (SIGMA / 20 * area2d)
    yield ("series layers + 2 GBs", exact,
           case(n, labels, grains, tmp=tmp).effective_resistance_ohm)
    # Parallel: stripes along x, grain (sigma_ip) over backbone (sigma_ip/250).
    labels = np.repeat([1, -2], [12, 20])[None, :].repeat(n[0], axis=0)
    exact = n[0] * H / ((SIGMA * 12 + SIGMA / 250 * 20) * H * H)
    yield ("parallel stripes grain | backbone", exact,
           case(n, labels, [{"id": 1, "c_axis": [0, 1, 0]}], {"backbone": -2},
                tmp=tmp).effective_resistance_ohm)
    labels = np.repeat([1, 2], [32, 32])[:, None].repeat(n[1], axis=1)
    grains = [{"id": 1, "c_axis": [0, 0, 1]}, {"id": 2, "c_axis": [0, 1, 0]}]
    exact = n[0] * H / (SIGMA * area2d) + 1e-9 / (SIGMA / 20 * area2d)
    yield ("bicrystal, GB normal to current", exact,
           case(n, labels, grains, tmp=tmp).effective_resistance_ohm)


def main() -> int:
    worst = 0.0
    print(f"{'configuration':<38} {'exact R (ohm)':>14} {'netsolve R':>14} {'rel. error':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, exact, value in rows(tmp):
            err = abs(value - exact) / exact
            worst = max(worst, err)
            print(f"{name:<38} {exact:>14.8e} {value:>14.8e} {err:>10.1e}")
    print(f"largest relative error: {worst:.1e}")
    return 0 if worst < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())

"""How the stored orientations of make_lamella.py (EULER_DEG) were chosen. Deterministic, slow
parts are small (a few seconds); it prints the numbers, it does not edit make_lamella.py.

1. Traces theta of the Table 4-1 grains (least squares, 400 starts, fixed seed): every
   transport-path misorientation within 3.8 degrees of the table, plus the conditions the GB
   types need (README.md, "Orientations"): G11/G16 path >= 80.8 and <= 81.5 (the smallest the
   table allows, so that psi(G11, G16) can stay below 75 with G16's c-axis in the surface),
   G16's trace in (80, 88.3) and G11's in (100, 176) (a converging chevron at G11/G16 under a
   field towards the Au(Pt)), G14/G15 and G13/G14 traces close (low-angle / type I), G10 close
   to 135 (along the applied field).
2. The tilts Phi were then set by hand (README.md) and the rotation about c (phi2) of G11 and
   G15 is chosen here to make the low-angle boundaries G6/G11 and G14/G15 as small as possible.

    python microstructures/ding2023_lamella/search_lamella.py
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares, minimize_scalar

from make_lamella import EULER_DEG, TABLE_4_1
from netsolve.orientation import bunge_matrix
from netsolve.symmetry import misorientation_angle

GRAINS = sorted({g for pair in TABLE_4_1 for g in pair} | {6})


def fold(d):
    """Angle between two line directions (degrees), in [0, 90]."""
    d = np.abs(d) % 180.0
    return np.minimum(d, 180.0 - d)


def fit_traces(seed: int = 0, starts: int = 400) -> dict[int, float]:
    row = {g: k for k, g in enumerate(GRAINS)}

    def residuals(t):
        def trace(g):
            return t[row[g]]
        hinge = np.maximum
        dev = [fold(trace(a) - trace(b)) - p for (a, b), (_, p) in TABLE_4_1.items()]
        extra = [5 * hinge(abs(d) - 3.8, 0) for d in dev]
        extra += [5 * hinge(80.8 - fold(trace(11) - trace(16)), 0),
                  5 * hinge(fold(trace(11) - trace(16)) - 81.5, 0),
                  5 * hinge(trace(16) % 180 - 88.3, 0), 5 * hinge(80 - trace(16) % 180, 0),
                  5 * hinge(trace(11) % 180 - 176, 0), 5 * hinge(100 - trace(11) % 180, 0),
                  2 * hinge(fold(trace(14) - trace(15)) - 12, 0),
                  2 * hinge(fold(trace(13) - trace(14)) - 2, 0), 0.5 * fold(trace(10) - 135)]
        return np.array(dev + extra, float)

    rng = np.random.default_rng(seed)
    best = None
    for _ in range(starts):  # multi-start (table rows, not voxels)
        sol = least_squares(residuals, rng.uniform(0, 180, len(GRAINS)))
        if best is None or sol.cost < best.cost:
            best = sol
    return {g: float(np.mod(best.x[row[g]], 180.0)) for g in GRAINS}


def best_phi2(euler_a, euler_b) -> tuple[float, float]:
    """phi2 of orientation b (degrees) minimizing its misorientation to a, and that angle."""
    def mis(phi2):
        g_a = bunge_matrix(np.radians(np.array(euler_a, float)))
        g_b = bunge_matrix(np.radians(np.array([euler_b[0], euler_b[1], phi2], float)))
        return float(np.degrees(misorientation_angle(g_a[None], g_b[None]))[0])
    grid = np.arange(0.0, 360.0, 2.0)
    start = grid[int(np.argmin([mis(p) for p in grid]))]
    sol = minimize_scalar(mis, bounds=(start - 3, start + 3), method="bounded")
    return float(sol.x % 360.0), float(sol.fun)


def main() -> None:
    for g, t in fit_traces().items():
        print(f"G{g}: theta {t:.2f} (stored phi1 {EULER_DEG[g][0]:.2f})")
    for a, b in ((6, 11), (14, 15)):
        phi2, mis = best_phi2(EULER_DEG[a], EULER_DEG[b])
        print(f"G{a}/G{b}: phi2 of G{b} {phi2:.2f}, misorientation {mis:.1f}")


if __name__ == "__main__":
    main()

"""How the stored parameters of make_lamella.py were chosen. Deterministic (fixed seeds); it
prints the numbers, it does not edit make_lamella.py.

1. Traces theta of the Table 4-1 grains (least squares, 400 starts, fixed seed): every
   transport-path misorientation within 3.8 degrees of the table, plus the conditions the GB
   types need (README.md, "Orientations"): G11/G16 path >= 80.8 and <= 81.5 (the smallest the
   table allows, so that psi(G11, G16) can stay below 75 with G16's c-axis in the surface),
   G16's trace in (80, 88.3) and G11's in (100, 176) (a converging chevron at G11/G16 under a
   field towards the Au(Pt)), G14/G15 and G13/G14 traces close (low-angle / type I), G10 close
   to 135 (along the applied field).
2. The tilts Phi were then set by hand (README.md) and the rotation about c (phi2) of G11 and
   G15 is chosen here to make the low-angle boundaries G6/G11 and G14/G15 as small as possible.
3. Solver in the loop (``--search N``): a greedy random local search over the layout (FREE:
   seed positions, drawn vertices, electrode extents, tilts the texts leave free) that solves
   the reduced case once per step (about 0.5 s) and keeps a move when the objective of
   :func:`evaluate` drops; it starts from the stored parameters and prints the best ones.
   The stored layout came from a hand-drawn start (README.md, "Layout") and a few such runs
   (seeds 1-5, 120-600 steps each, with hand edits and changes of the soft weights in between;
   later runs with the round-2 weights, seeds 6 and 7, found nothing better). The objective
   now also asks each of the four named contrasts to beat the third-largest contrast of the
   other GBs; runs with it (seed 8 from the stored layout, seed 9 from a start with G17, G20,
   G21 oriented like their neighbours G13, G22, G12; about 1000 steps each) raised the named
   ranks to at best #2, #7, #9, #10 but lowered the G10/G1 margin, so the stored layout stayed.
   Ctrl-C (SIGINT) stops a run and prints the best layout found so far.

    python microstructures/ding2023_lamella/search_lamella.py
    python microstructures/ding2023_lamella/search_lamella.py --search 400 --seed 6
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares, minimize_scalar

import make_lamella as ml
from make_lamella import EULER_DEG, TABLE_4_1
from netsolve.orientation import bunge_matrix
from netsolve.symmetry import misorientation_angle

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "validation"))
from ding2023 import solved_rows  # noqa: E402

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


def layout(**changes) -> dict:
    """The stored layout parameters of make_lamella.py, with ``changes`` applied."""
    base = {"seeds": ml.SEEDS_UM, "shapes": ml.SHAPES_UM, "euler": ml.EULER_DEG,
            "na_source_x_um": ml.NA_SOURCE_X_UM, "au_pt_y_um": ml.AU_PT_Y_UM}
    return {**base, **changes}


def evaluate(params: dict, voxel_nm: float = 10.0, kinds=("reduced",)):
    """Solve the lamella built from ``params`` (see :func:`layout`) on a grid of ``voxel_nm``
    voxels; returns (objective, rows of validation/ding2023.py).

    The objective counts failing statements (10 each) plus how far the G10 current ratio, the
    rank checks and the four named contrasts (towards 3) are from passing, so that the search
    sees progress inside a failure; a layout that breaks what the texts require
    (make_lamella.layout_problems) or the isotropic contrast scores 1e6.
    """
    import netsolve
    from netsolve.errors import CaseError
    from netsolve.sources.polygons import write_geojson

    geoms, props = ml.build_polygons(params["seeds"], params["shapes"])
    props = [p if "phase" in p else {**p, "euler_deg": list(params["euler"][p["id"]])}
             for p in props]
    if isotropic_contrast(tuple(params["na_source_x_um"]), tuple(params["au_pt_y_um"])) <= 10.0:
        return 1e6, []  # the electrodes must keep the paper's isotropic contrast
    objective, rows = 0.0, []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "microstructures" / "ding2023_lamella"
        folder.mkdir(parents=True)
        (Path(tmp) / "cases").mkdir()
        write_geojson(folder / "grains.geojson", geoms, props)
        for kind in kinds:
            path = Path(tmp) / "cases" / f"ding2023_{kind}.toml"
            path.write_text(ml.case_text(kind, voxel_nm, params["na_source_x_um"],
                                         params["au_pt_y_um"]))
            try:
                result = netsolve.solve(path)
            except CaseError:  # e.g. two drawn grains overlap after a move
                return 1e6, []
            if ml.layout_problems(result.case, result.microstructure, result.graph, kind):
                return 1e6, []
            rows += solved_rows(result, kind)
            objective += _soft_penalty(result)
    objective += 10.0 * sum(not ok for *_, ok in rows)
    return objective, rows


@functools.lru_cache(maxsize=None)
def isotropic_contrast(na_source_x_um, au_pt_y_um) -> float:
    """Mean |J| of the top fifth over the bottom fifth of the isotropic case with these
    electrodes (validation/ding2023.py's first statement)."""
    import netsolve

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ding2023_isotropic.toml"
        path.write_text(ml.case_text("isotropic", ml.VOXEL_NM, na_source_x_um, au_pt_y_um))
        j = np.linalg.norm(netsolve.solve(path).fields.current_density, axis=-1)
    fifth = j.shape[1] // 5
    return float(np.nanmean(j[:, -fifth:]) / np.nanmean(j[:, :fifth]))


def _soft_penalty(result) -> float:
    grains, gb = result.grain_table, result.gb_table
    mean_j = dict(zip(grains.grain_id.tolist(), grains.mean_abs_j_A_m2.tolist()))
    # G10 over G1 and G11 with a 10 % margin (the full case runs a few % lower than the reduced)
    penalty = 10.0 * sum(max(np.log(1.1 * mean_j[g] / mean_j[10]), 0.0) for g in (1, 11))
    order = list(grains.grain_id[np.argsort(grains.mean_abs_j_A_m2)])
    penalty += sum(max(order.index(g) + 1 - 5, 0) for g in (19, 22)) * 0.2
    whole = np.flatnonzero((gb.segment == -1) & (gb.grain_b > 0))
    contrast = np.nan_to_num(gb.j_contrast[whole], nan=-np.inf)
    ranked = [(int(gb.grain_a[k]), int(gb.grain_b[k]))
              for k in whole[np.argsort(-contrast, kind="stable")]]
    named = ((11, 16), (10, 15), (9, 13), (9, 14))
    penalty += sum(max(ranked.index(p) + 1 - 5, 0) for p in named if p in ranked) * 0.5
    # ... and the contrast values themselves (a rank moves only when a value passes another)
    value = {(int(gb.grain_a[k]), int(gb.grain_b[k])): contrast[i] for i, k in enumerate(whole)}
    penalty += 2.0 * sum(max(np.log(3.0 / value[p]), 0.0) for p in named if value.get(p, 0) > 0)
    # Four named GBs in the top six: each must beat the third-largest contrast of the other GBs
    # (two others may rank above them), with a 15 % margin; this also pushes spurious ratios
    # of nearly idle grains (e.g. G20/G22) down.
    others = sorted((v for p, v in value.items() if p not in named and np.isfinite(v)),
                    reverse=True)
    if len(others) >= 3:
        penalty += 3.0 * sum(max(np.log(1.15 * others[2] / value[p]), 0.0)
                             for p in named if value.get(p, 0) > 0)
    return penalty


# Free layout parameters of the local search: (where, step); "where" addresses a number in the
# layout: ("seeds", grain, seed index, coordinate), ("shapes", grain, vertex, coordinate),
# ("na_source_x_um", end), ("euler", grain, angle).
FREE = [
    *((("seeds", g, 0, c), 0.08) for g in (1, 6, 14) for c in (0, 1)),
    *((("seeds", 13, k, c), 0.08) for k in (1, 2) for c in (0, 1)),
    *((("seeds", 11, k, c), 0.08) for k in (0, 1) for c in (0, 1)),
    *((("seeds", 15, k, c), 0.08) for k in (0, 1) for c in (0, 1)),
    *((("seeds", 9, k, c), 0.08) for k in (1, 2) for c in (0, 1)),
    *((("shapes", 10, k, c), 0.06) for k in range(5) for c in (0, 1)),
    (("shapes", 16, 2, 1), 0.06), (("shapes", 16, 0, 0), 0.05), (("shapes", 11, 2, 1), 0.05),
    (("shapes", 19, 0, 0), 0.06), (("shapes", 19, 0, 1), 0.08), (("shapes", 22, 0, 0), 0.06),
    (("shapes", 22, 2, 1), 0.06), (("shapes", 5, 1, 0), 0.05), (("shapes", 5, 2, 0), 0.05),
    (("na_source_x_um", 0), 0.08), (("na_source_x_um", 1), 0.08), (("au_pt_y_um", 0), 0.05),
    (("euler", 16, 1), 1.0), (("euler", 6, 2), 5.0), (("euler", 3, 0), 10.0),
    *((("euler", g, 1), 5.0) for g in (7, 8, 9, 12, 20)),  # tilts the texts leave free
    *((("euler", g, k), 10.0) for g in (19, 22) for k in (0, 1)),  # free: only "low current"
    *((("seeds", g, 0, c), 0.08) for g in (12, 20) for c in (0, 1)),
    (("shapes", 22, 0, 1), 0.10), (("seeds", 17, 0, 0), 0.08), (("seeds", 21, 0, 0), 0.08),
    *((("euler", g, 1), 5.0) for g in (17, 21)),
]


def _get(params, where):
    value = params[where[0]]
    for key in where[1:]:
        value = value[key]
    return value


def _set(params, where, number) -> dict:
    """A copy of params with one number changed (nested dicts / lists / tuples copied)."""
    def put(node, keys):
        if not keys:
            return number
        key, rest = keys[0], keys[1:]
        if isinstance(node, dict):
            return {**node, key: put(node[key], rest)}
        items = list(node)
        items[key] = put(items[key], rest)
        return type(node)(items) if isinstance(node, tuple) else items
    return {**params, where[0]: put(params[where[0]], list(where[1:]))}


def _rectangle_vertices(params) -> dict:
    """Keep the drawn rectangles (G16, G19) rectangles after a vertex moved: vertex 0 is the
    lower-left corner, vertex 2 the upper-right."""
    shapes = dict(params["shapes"])
    for g in (16, 19, 22):
        if g in shapes:
            (x0, y0), _, (x1, y1), _ = shapes[g]
            shapes[g] = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    if 11 in shapes and 16 in shapes:  # G11's drawn part covers all of G16's top edge
        (x0, _), _, (x1, y1), _ = shapes[16]
        top = shapes[11][2][1]
        shapes[11] = [(x0, y1), (x1, y1), (x1, top), (x0, top)]
    return {**params, "shapes": shapes}


def local_search(params: dict, iterations: int, seed: int = 0, voxel_nm: float = 10.0):
    """Greedy random local search: move one to three FREE numbers by a Gaussian step, keep the
    move if the objective of :func:`evaluate` drops. Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    best, (best_value, best_rows) = params, evaluate(params, voxel_nm)
    try:
        for it in range(iterations):  # one solve per iteration
            trial = best
            for k in rng.choice(len(FREE), size=rng.integers(1, 4), replace=False):
                where, step = FREE[k]
                try:
                    trial = _set(trial, where, round(float(_get(trial, where)
                                                           + step * rng.normal()), 3))
                except (KeyError, IndexError):
                    continue  # a parameter this layout does not have
            value, rows = evaluate(_rectangle_vertices(trial), voxel_nm)
            if value < best_value:
                best, best_value, best_rows = _rectangle_vertices(trial), value, rows
                print(f"{it}: {value:.2f}", flush=True)
    except KeyboardInterrupt:  # Ctrl-C or a time limit's SIGINT: report the best so far
        print("interrupted", flush=True)
    return best, best_value, best_rows


def main() -> None:
    import argparse
    import pprint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", type=int, default=0, metavar="N",
                        help="run N steps of the solver-in-the-loop layout search")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.search:
        best, value, rows = local_search(layout(), args.search, seed=args.seed)
        print(f"objective {value:.2f}")
        for statement, result, ok in rows:
            print(f"  {'pass' if ok else 'FAIL'}  {statement}: {result}")
        pprint.pprint({k: best[k] for k in ("seeds", "shapes", "euler", "na_source_x_um",
                                            "au_pt_y_um")})
        return
    for g, t in fit_traces().items():
        print(f"G{g}: theta {t:.2f} (stored phi1 {EULER_DEG[g][0]:.2f})")
    for a, b in ((6, 11), (14, 15)):
        phi2, mis = best_phi2(EULER_DEG[a], EULER_DEG[b])
        print(f"G{a}/G{b}: phi2 of G{b} {phi2:.2f}, misorientation {mis:.1f}")


if __name__ == "__main__":
    main()

"""Regenerate the reconstructed in situ TEM lamella of Ding et al. (2023): grains.geojson here
and ../../cases/ding2023_{isotropic,reduced,full}.toml.

A RECONSTRUCTION, not measured data (the paper's grain map is not public; see README.md):

- geometry: a Voronoi tessellation of hand-placed seeds (one per grain G1..G22) clipped to the
  4 x 5 um thin region, with a few ZrO2 discs cut out. The seeds were placed by hand until the
  tessellation contains every neighbour pair the texts name (REQUIRED_PAIRS) and the grains the
  texts put at the Au(Pt) electrode (G1, G11, G16, G19, G22) touch the right edge;
- orientations: Bunge Euler angles fitted (scipy least squares, fixed seed) to Table 4-1 of the
  thesis: the Na+ transport-path misorientations (required, within 5 degrees), the
  crystallographic misorientations and the grain-boundary types (as well as they can be).

The script builds the cases with netsolve, checks the adjacency with the grain graph and the
Table 4-1 fit, and fails loudly (exit status 1) if either is violated. Deterministic. Run:
    python microstructures/ding2023_lamella/make_lamella.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import shapely
from scipy.optimize import least_squares
from shapely.geometry import MultiPoint, Point, box

HERE = Path(__file__).resolve().parent
CASES = HERE.parents[1] / "cases"
GEOJSON = HERE / "grains.geojson"

WIDTH_NM, HEIGHT_NM = 4000.0, 5000.0  # thin region: x 0..4 um, y 0..5 um
VOXEL_NM = 10.0
THICKNESS_NM = 170.0
FRAME_NM = 1000.0  # "full": a backbone band this wide on the left and at the bottom

# Seeds (um), placed by hand; a grain with several seeds is the union of their cells (G6 runs
# along the top edge). Right edge (Au(Pt)) from top to bottom: G6, G1, G11, G16, G19, G22.
SEEDS_UM = {
    1: [(3.60, 4.25)], 2: [(0.30, 4.70)], 3: [(1.20, 4.75)], 4: [(0.30, 3.60)],
    5: [(1.05, 4.05)], 6: [(2.10, 4.60), (2.90, 4.80), (3.70, 4.85)], 7: [(0.35, 2.60)],
    8: [(0.70, 1.70)], 9: [(1.30, 2.65)], 10: [(2.35, 3.55)], 11: [(3.35, 3.55)],
    12: [(1.50, 1.30)], 13: [(2.45, 1.65)], 14: [(2.45, 2.50)], 15: [(2.65, 3.00)],
    16: [(3.35, 2.40)], 17: [(1.90, 0.45)], 18: [(0.30, 0.50)], 19: [(3.70, 1.75)],
    20: [(2.75, 0.50)], 21: [(1.10, 0.60)], 22: [(3.60, 1.05)],
}
# Electrodes ("yellow rectangles at top and right", um): the Na source on the top edge and the
# Au(Pt) contact on the right edge of the thin region. They stop short of the common corner, so
# the two electrodes never share a voxel's neighbourhood.
NA_SOURCE_X_UM = (2.5, 3.9)
AU_PT_Y_UM = (1.3, 4.9)
# ZrO2 particles (centre um, radius nm), inside grains, away from the named boundaries.
ZRO2 = [((0.35, 4.45), 90.0), ((0.45, 3.35), 70.0), ((0.40, 2.35), 80.0), ((1.05, 2.55), 60.0),
        ((0.55, 0.90), 100.0), ((1.85, 0.80), 70.0), ((2.70, 0.30), 60.0), ((1.30, 4.55), 60.0)]

# Table 4-1 of the thesis: (a, b): (crystallographic misorientation, transport-path
# misorientation), degrees.
TABLE_4_1 = {
    (1, 11): (51, 14), (5, 9): (82, 66), (7, 9): (88, 29), (8, 9): (76, 66), (9, 10): (55, 79),
    (9, 12): (71, 55), (9, 13): (90, 53), (9, 14): (79, 53), (10, 15): (35, 27),
    (11, 15): (23, 10), (11, 16): (64, 85), (15, 16): (63, 79), (14, 16): (70, 89),
    (13, 16): (74, 89),
}
# Every neighbour pair the texts name: Table 4-1, the GB types, the filaments and the currents.
REQUIRED_PAIRS = sorted(set(TABLE_4_1) | {
    (14, 15), (6, 11), (13, 14), (5, 6), (16, 19), (19, 22),  # LAGBs, CSL, low-current GBs
    (10, 11),  # G10 feeds GB G11/G15 "via the triple boundary" (paper L137)
    (12, 13), (12, 17),  # type III examples (paper L105, thesis L1235)
})
AT_AU_PT = (1, 11, 16, 19, 22)  # grains / GBs the texts place at the Au(Pt) electrode
LOW_ANGLE = ((14, 15), (6, 11))  # misorientation < 15 degrees
PARALLEL_PLANES = ((1, 11), (13, 14))  # type I: c-axes within 15 degrees
OBLIQUE = ((11, 16),)  # type III: c-axes 15..75 degrees apart
PERPENDICULAR = ((15, 16), (14, 16))  # type II: as close to 90 as the misorientation allows
# Soft targets from the texts (theta = trace of the conduction planes, 0 = along x, towards the
# Au(Pt) electrode; the field runs from the top to the right, i.e. along theta ~ 135):
# G1, G11, G16 "aligned towards the Au(Pt) electrode" (paper L81): G1, G11 conduct along x
# (theta ~ 0, steep planes), G16 (85 degrees off G11 by Table 4-1) through planes almost in the
# surface (small alpha); G10 "well aligned with the external electric field" (thesis L1244).
THETA_TARGET = {11: 0.0, 10: 135.0}
ALPHA_MIN = {1: 50.0, 11: 50.0}
ALPHA_MAX = {16: 10.0}


# --------------------------------------------------------------------------- geometry


def build_polygons():
    """(geometries, properties-without-orientation) of the thin region, ZrO2 features first."""
    frame = box(0.0, 0.0, WIDTH_NM, HEIGHT_NM)
    ids = sorted(SEEDS_UM)
    owners = [i for i in ids for _ in SEEDS_UM[i]]
    points = [Point(1000 * x, 1000 * y) for i in ids for x, y in SEEDS_UM[i]]
    cells = shapely.voronoi_polygons(MultiPoint(points), extend_to=frame)
    discs = [Point(1000 * x, 1000 * y).buffer(r, quad_segs=16) for (x, y), r in ZRO2]
    particles = shapely.union_all(discs)
    parts = {i: [] for i in ids}
    for cell in cells.geoms:  # one cell per seed (table rows)
        parts[next(i for i, p in zip(owners, points) if cell.contains(p))].append(cell)
    grains = {i: shapely.union_all(parts[i]).intersection(frame).difference(particles)
              for i in ids}
    geoms = [*discs, *(grains[i] for i in ids)]
    props = [{"phase": "zro2"}] * len(discs) + [{"id": i} for i in ids]
    return geoms, props


# --------------------------------------------------------------------------- orientations


def fit_orientations(seed: int = 2023, starts: int = 60) -> dict[int, tuple[float, float, float]]:
    """Bunge angles (degrees, Phi in [0, 90] so that theta = phi1 mod 180 and alpha = Phi) for
    the grains of Table 4-1 and its GB types; the other grains get random orientations."""
    from netsolve.orientation import bunge_matrix
    from netsolve.symmetry import misorientation_angle

    fitted = sorted({g for pair in [*TABLE_4_1, *LOW_ANGLE, *PARALLEL_PLANES] for g in pair})
    row = {g: k for k, g in enumerate(fitted)}
    pairs = list(TABLE_4_1)
    a_t = np.array([row[a] for a, _ in pairs])
    b_t = np.array([row[b] for _, b in pairs])
    mis_t = np.array([TABLE_4_1[p][0] for p in pairs], float)
    path_t = np.array([TABLE_4_1[p][1] for p in pairs], float)

    def idx(group):
        return np.array([row[a] for a, _ in group]), np.array([row[b] for _, b in group])

    low, par, obl, perp = idx(LOW_ANGLE), idx(PARALLEL_PLANES), idx(OBLIQUE), idx(PERPENDICULAR)
    perp_target = np.array([TABLE_4_1[p][0] for p in PERPENDICULAR], float)
    t_rows = np.array([row[g] for g in THETA_TARGET])
    t_vals = np.array(list(THETA_TARGET.values()))
    amin_rows, amin = np.array([row[g] for g in ALPHA_MIN]), np.array(list(ALPHA_MIN.values()))
    amax_rows, amax = np.array([row[g] for g in ALPHA_MAX]), np.array(list(ALPHA_MAX.values()))

    def angles(x):
        e = np.radians(x.reshape(-1, 3))
        g = bunge_matrix(e)
        c = g[:, 2, :]
        theta = np.mod(x.reshape(-1, 3)[:, 0], 180.0)
        return g, c, theta

    def psi(c, a, b):
        return np.degrees(np.arccos(np.clip(np.abs(np.einsum("ij,ij->i", c[a], c[b])), 0, 1)))

    def residuals(x):
        g, c, theta = angles(x)
        d = np.abs(theta[a_t] - theta[b_t]) % 180.0
        path = np.minimum(d, 180.0 - d)
        mis = np.degrees(misorientation_angle(g[a_t], g[b_t]))
        r = [2.0 * (path - path_t), 2.0 * np.maximum(np.abs(path - path_t) - 3.0, 0) * 5,
             0.7 * (mis - mis_t),
             np.maximum(np.degrees(misorientation_angle(g[low[0]], g[low[1]])) - 10.0, 0),
             np.maximum(psi(c, *par) - 12.0, 0),
             np.maximum(18.0 - psi(c, *obl), 0) + np.maximum(psi(c, *obl) - 72.0, 0),
             0.5 * (psi(c, *perp) - perp_target),
             2.0 * _fold(theta[t_rows] - t_vals),
             0.5 * np.maximum(amin - x.reshape(-1, 3)[amin_rows, 1], 0),
             0.5 * np.maximum(x.reshape(-1, 3)[amax_rows, 1] - amax, 0)]
        return np.concatenate(r)

    rng = np.random.default_rng(seed)
    lower = np.tile([0.0, 3.0, 0.0], len(fitted))
    upper = np.tile([360.0, 90.0, 360.0], len(fitted))
    best = None
    # Stage 1: the traces theta alone (path column and theta targets), many cheap starts.
    def theta_residuals(t):
        d = np.abs(t[a_t] - t[b_t]) % 180.0
        return np.concatenate([np.minimum(d, 180.0 - d) - path_t,
                               _fold(t[t_rows] - t_vals), 0.1 * _fold(t[low[0]] - t[low[1]])])

    thetas = []
    for _ in range(200):  # multi-start (table rows, not voxels)
        sol = least_squares(theta_residuals, rng.uniform(0, 180, len(fitted)))
        thetas.append((sol.cost, np.mod(sol.x, 180.0)))
    theta0 = min(thetas, key=lambda t: t[0])[1]
    # Stage 2: full Euler angles, phi1 started at the stage-1 traces.
    for _ in range(starts):  # multi-start (table rows, not voxels)
        x0 = rng.uniform(lower, upper)
        x0[0::3] = theta0 + 180.0 * rng.integers(0, 2, len(fitted))
        sol = least_squares(residuals, x0, bounds=(lower, upper), x_scale=10.0, max_nfev=3000)
        if best is None or sol.cost < best.cost:
            best = sol
    euler = {g: tuple(float(v) for v in best.x.reshape(-1, 3)[row[g]]) for g in fitted}
    # Grains the texts say nothing about: random, Phi in [0, 90] (c-axis sign is irrelevant).
    rest = np.random.default_rng(seed + 1)
    for gid in sorted(set(SEEDS_UM) - set(fitted)):
        cos_phi = rest.uniform(0.0, 1.0)
        euler[gid] = (float(rest.uniform(0, 360)), float(np.degrees(np.arccos(cos_phi))),
                      float(rest.uniform(0, 360)))
    return {g: tuple(round(v, 2) for v in euler[g]) for g in sorted(euler)}


def _fold(d):
    """Signed difference of two line directions (degrees), folded into [-90, 90)."""
    return np.mod(d + 90.0, 180.0) - 90.0


# --------------------------------------------------------------------------- cases


def case_text(kind: str) -> str:
    nx, ny = int(WIDTH_NM / VOXEL_NM), int(HEIGHT_NM / VOXEL_NM)
    n_frame = int(FRAME_NM / VOXEL_NM)
    full = kind == "full"
    model = "isotropic" if kind == "isotropic" else "tensor"
    head = {
        "isotropic": "Uniform isotropic reference: no microstructure, sigma_ip everywhere",
        "reduced": "Reduced system: anisotropic grains, GBs, ZrO2; the frame is ignored",
        "full": "Full system: the reduced system inside a conducting frame (backbone)",
    }[kind]
    n_off = n_frame if full else 0  # the thin region starts at this voxel on both axes
    if full:
        grid = f"shape = [{nx + n_frame}, {ny + n_frame}]"
        extra = (f'origin_nm = [{-FRAME_NM:.1f}, {-FRAME_NM:.1f}]   # thin region at x, y >= '
                 f'{FRAME_NM / 1000:g} um of the grid\nfill = "backbone"            # every voxel '
                 f'outside the polygons: the frame\n')
        phases = "{ zro2 = -1, backbone = -2 }"
    else:
        grid = f"shape = [{nx}, {ny}]"
        extra = ""
        phases = "{ zro2 = -1 }"
    x0, x1 = (n_off + round(v * 1000 / VOXEL_NM) for v in NA_SOURCE_X_UM)
    y0, y1 = (n_off + round(v * 1000 / VOXEL_NM) for v in AU_PT_Y_UM)
    top, right = n_off + ny, n_off + nx
    na = f"{{ box = [[{x0}, {x1}], [{top - 1}, {top}]] }}   # top row, x {NA_SOURCE_X_UM} um"
    au = f"{{ box = [[{right - 1}, {right}], [{y0}, {y1}]] }}   # last column, y {AU_PT_Y_UM} um"
    # In the full system the thick frame is fed by the Na source too (it is the thick part of the
    # lamella that touches the Cu grid).
    frame_source = (f'\n[[electrodes]]\nname = "na_source_frame"\nregion = {{ box = [[0, {n_frame}], '
                    f'[{top - 1}, {top}]] }}   # top row of the frame\npotential_V = 1.0\n'
                    if full else "")
    materials = (f'conductivity_model = "{model}"\n' if model == "isotropic" else
                 'conductivity_model = "tensor"\nratio_ip_op = 1000.0\n')
    frame_ratio = "ratio_ip_backbone = 250.0\n" if full else ""
    if kind == "isotropic":  # "not considering any microstructure": one uniform medium
        source = 'source = "uniform"'
    else:
        source = (f'source = "polygons"\npath = "../microstructures/ding2023_lamella/'
                  f'grains.geojson"\n{extra}phases = {phases}')
    return f"""# Ding et al. (2023) in situ TEM lamella, RECONSTRUCTED (the real grain map is not public):
# microstructures/ding2023_lamella (README.md; generated by make_lamella.py, do not edit).
# {head}.
# Na source on the top edge, Au(Pt) on the right edge (electrodes at 90 degrees; make_lamella.py).

[grid]
{grid}
voxel_size_nm = {VOXEL_NM}
thickness_nm = {THICKNESS_NM}

[microstructure]
{source}

[materials]
sigma_ip_S_per_m = 1.0
{materials}ratio_ip_gb = 20.0
gb_thickness_nm = 1.0
{frame_ratio}electrode_link = "half_voxel"

[[electrodes]]
name = "na_source"
region = {na}
potential_V = 1.0
{frame_source}
[[electrodes]]
name = "au_pt"
region = {au}
potential_V = 0.0

[solver]
method = "auto"
rtol = 1e-10
"""


# --------------------------------------------------------------------------- checks


def check(euler) -> list[str]:
    """Problems of the written files, checked through netsolve (empty list: all fine)."""
    import netsolve
    from netsolve.graph import build_grain_graph
    from netsolve.microstructure import build_microstructure

    problems = []
    for kind in ("reduced", "full"):
        case = netsolve.load_case(CASES / f"ding2023_{kind}.toml")
        micro = build_microstructure(case)
        graph = build_grain_graph(micro)
        if sorted(graph.nodes) != list(range(1, 23)):
            problems.append(f"{kind}: grain ids {sorted(graph.nodes)} are not 1..22")
        problems += [f"{kind}: G{a}/G{b} are not neighbours" for a, b in REQUIRED_PAIRS
                     if not graph.has_edge(a, b)]
        au_pt = micro.electrode_index == [e.name for e in case.electrodes].index("au_pt")
        beside = np.roll(au_pt, -1, axis=0)  # the voxels just left of the Au(Pt) contact
        right = set(np.unique(micro.labels[beside]).tolist())
        problems += [f"{kind}: G{g} does not touch the Au(Pt) electrode" for g in AT_AU_PT
                     if g not in right]
        for (a, b), (mis, path) in TABLE_4_1.items():
            if not graph.has_edge(a, b):
                continue  # reported above
            e = graph.edges[a, b]
            if abs(e["path_misorientation_deg"] - path) > 5.0:
                problems.append(f"{kind}: G{a}/G{b} path misorientation "
                                f"{e['path_misorientation_deg']:.1f}, Table 4-1: {path}")
    return problems


def main() -> int:
    from netsolve.sources.polygons import write_geojson

    geoms, props = build_polygons()
    euler = fit_orientations()
    props = [p if "phase" in p else {**p, "euler_deg": list(euler[p["id"]])} for p in props]
    write_geojson(GEOJSON, geoms, props)
    for kind in ("isotropic", "reduced", "full"):
        (CASES / f"ding2023_{kind}.toml").write_text(case_text(kind))
    problems = check(euler)
    for p in problems:
        print("FAILED:", p, file=sys.stderr)
    if not problems:
        print(f"wrote {GEOJSON.name} and cases/ding2023_*.toml; adjacency and Table 4-1 OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

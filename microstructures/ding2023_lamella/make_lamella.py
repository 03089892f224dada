"""Regenerate the reconstructed in situ TEM lamella of Ding et al. (2023): grains.geojson here
and ../../cases/ding2023_{isotropic,reduced,full}.toml.

A RECONSTRUCTION, not measured data (the paper's grain map is not public; see README.md):

- geometry: a Voronoi tessellation of seeds (SEEDS_UM) clipped to the 4 x 5 um thin region,
  with drawn polygons cut out of it (SHAPES_UM: G10's band along the field, G5's strip under the
  Na source, G16, G19, G22 and G11's lower part as rectangles, so that the GBs whose type the
  texts name are straight) and a few ZrO2 discs. The layout keeps every neighbour pair the texts
  name (REQUIRED_PAIRS), the grains they put at the Au(Pt) electrode (G1, G11, G16, G19, G22)
  at the right edge, and G10 farther from the electrodes than G1 and G11;
- orientations: stored Bunge Euler angles (EULER_DEG): the Na+ transport-path
  misorientations of Table 4-1 (required, within 5 degrees) and the grain-boundary types the
  texts name come first; the crystallographic column is a soft target;
- seeds, drawn vertices, electrode extents and the free tilts were then refined with the solver
  in the loop (search_lamella.py, README.md "How the layout was found") and stored here.

The script builds the cases with netsolve, checks them (layout_problems: adjacency, Au(Pt)
grains, G10's distance, low-angle GBs, Table 4-1) and fails loudly (exit status 1) if a check
is violated. Deterministic, about a second; it does not re-run the search. Run:
    python microstructures/ding2023_lamella/make_lamella.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, Polygon, box

HERE = Path(__file__).resolve().parent
CASES = HERE.parents[1] / "cases"
GEOJSON = HERE / "grains.geojson"

WIDTH_NM, HEIGHT_NM = 4000.0, 5000.0  # thin region: x 0..4 um, y 0..5 um
VOXEL_NM = 10.0
THICKNESS_NM = 170.0
FRAME_NM = 1000.0  # "full": a backbone band this wide on the left and at the bottom

# Seeds (um); a grain with several seeds is the union of their cells (minus the drawn shapes).
# Right edge (Au(Pt)) from top to bottom: G1, G11, G16, G19, G22. Hand-placed, then refined by
# search_lamella.py.
SEEDS_UM = {
    1: [(3.656, 4.506)],
    2: [(0.300, 4.700)],
    3: [(0.900, 4.800)],
    4: [(0.300, 3.600)],
    5: [(1.300, 4.150)],
    6: [(3.277, 4.470)],
    7: [(0.350, 2.600)],
    8: [(0.700, 1.700)],
    9: [(1.500, 2.750), (2.058, 4.238), (2.617, 3.536)],
    11: [(3.663, 3.513), (3.720, 3.808)],
    12: [(1.364, 1.589)],
    13: [(2.160, 1.440), (2.570, 1.740), (3.274, 1.827)],
    14: [(2.848, 2.655)],
    15: [(2.711, 3.260), (3.028, 3.302)],
    17: [(1.900, 0.450)],
    18: [(0.300, 0.500)],
    20: [(2.750, 0.500)],
    21: [(1.100, 0.600)],
}
# Grains drawn as polygons (vertices, um) cut out of the tessellation of the seeds: their
# boundaries with the grains around them are exactly straight. G10: a band along its trace from
# under the Na source down to the triple junction with G11 and G15; G5: its body (seed) plus a
# thin strip along the top edge that carries the source current down into G10 (the source
# touches G5 only) and reaches G6; G11: its seeds plus a rectangle over all of G16's top edge.
SHAPES_UM: dict[int, list[tuple[float, float]]] = {
    5: [(1.450, 4.850), (2.809, 4.850), (2.840, 5.000), (1.450, 5.000)],
    10: [(2.111, 4.850), (2.838, 4.850), (3.224, 4.171), (3.298, 3.717), (2.958, 3.646)],
    11: [(3.408, 3.212), (4.000, 3.212), (4.000, 3.538), (3.408, 3.538)],
    16: [(3.408, 2.300), (4.000, 2.300), (4.000, 3.212), (3.408, 3.212)],
    19: [(3.445, 2.046), (4.000, 2.046), (4.000, 2.300), (3.445, 2.300)],
    22: [(3.484, 0.000), (4.000, 0.000), (4.000, 2.050), (3.484, 2.050)],
}
# Bunge Euler angles (phi1, Phi, phi2), degrees: theta = phi1 mod 180, alpha = Phi folded into
# [0, 90]; Phi > 90 tilts the c-axis the other way out of the surface. Chosen with
# search_lamella.py (README.md, "Orientations"); G2-G4, G17, G18, G20, G21: random (the texts say
# nothing about them), the tilts of G7, G8, G12, G20 and the orientations of G3 (phi1), G19 and
# G22 refined by the solver-in-the-loop search.
EULER_DEG = {
    1: (184.11, 15.00, 120.00),
    2: (243.30, 77.62, 111.40),
    3: (354.63, 5.25, 51.20),
    4: (28.34, 79.58, 129.47),
    5: (118.36, 90.00, 0.00),
    6: (135.00, 4.00, 0.92),
    7: (81.36, 66.80, 0.00),
    8: (166.36, 60.22, 0.00),
    9: (52.36, 45.00, 0.00),
    10: (134.24, 90.00, 0.00),
    11: (170.11, 15.00, 325.19),
    12: (177.36, 53.61, 0.00),
    13: (179.01, 95.00, 60.00),
    14: (176.84, 100.00, 0.00),
    15: (163.93, 100.00, 117.75),
    16: (88.31, 75.72, 0.00),
    17: (61.06, 53.93, 222.05),
    18: (37.94, 55.55, 1.67),
    19: (90.00, 90.00, 0.00),
    20: (167.44, 3.46, 287.79),
    21: (214.86, 71.01, 74.28),
    22: (0.00, 90.00, 0.00),
}
# Electrodes ("yellow rectangles at top and right", um): the Na source on the top edge and the
# Au(Pt) contact on the right edge of the thin region. They stop short of the common corner, so
# the two electrodes never share a voxel's neighbourhood. The source lies over G5's strip above
# G10; the Au(Pt) ends just below G22's top (isotropic contrast > 10x needs it to stop high).
NA_SOURCE_X_UM = (1.876, 2.600)
AU_PT_Y_UM = (1.950, 4.900)
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


# --------------------------------------------------------------------------- geometry


def build_polygons(seeds=None, shapes=None, zro2=None):
    """(geometries, properties-without-orientation) of the thin region, ZrO2 features first.

    seeds, shapes, zro2: SEEDS_UM, SHAPES_UM, ZRO2 unless given (search_lamella.py varies them).
    """
    seeds = SEEDS_UM if seeds is None else seeds
    shapes = SHAPES_UM if shapes is None else shapes
    zro2 = ZRO2 if zro2 is None else zro2
    frame = box(0.0, 0.0, WIDTH_NM, HEIGHT_NM)
    ids = sorted(set(seeds) | set(shapes))
    owners = [i for i in sorted(seeds) for _ in seeds[i]]
    points = [Point(1000 * x, 1000 * y) for i in sorted(seeds) for x, y in seeds[i]]
    cells = shapely.voronoi_polygons(MultiPoint(points), extend_to=frame)
    discs = [Point(1000 * x, 1000 * y).buffer(r, quad_segs=16) for (x, y), r in zro2]
    particles = shapely.union_all(discs)
    drawn = {i: Polygon(1000 * np.asarray(shapes[i], float)).intersection(frame) for i in shapes}
    cut = shapely.union_all([particles, *drawn.values()])
    parts = {i: [] for i in seeds}
    for cell in cells.geoms:  # one cell per seed (table rows)
        parts[next(i for i, p in zip(owners, points) if cell.contains(p))].append(cell)
    grains = {i: shapely.union_all(parts[i]).intersection(frame).difference(cut) for i in seeds}
    # A grain with seeds and a shape is the union of both (e.g. a body and a drawn strip).
    grains.update({i: drawn[i].difference(particles).union(grains.get(i, Polygon()))
                   for i in shapes})
    geoms = [*discs, *(grains[i] for i in ids)]
    props = [{"phase": "zro2"}] * len(discs) + [{"id": i} for i in ids]
    return geoms, props


# --------------------------------------------------------------------------- cases


def case_text(kind: str, voxel_nm: float = VOXEL_NM, na_source_x_um=None, au_pt_y_um=None) -> str:
    """Case file text; voxel size and electrode extents default to the stored parameters."""
    na_source_x_um = NA_SOURCE_X_UM if na_source_x_um is None else tuple(na_source_x_um)
    au_pt_y_um = AU_PT_Y_UM if au_pt_y_um is None else tuple(au_pt_y_um)
    nx, ny = round(WIDTH_NM / voxel_nm), round(HEIGHT_NM / voxel_nm)
    n_frame = round(FRAME_NM / voxel_nm)
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
    x0, x1 = (n_off + round(v * 1000 / voxel_nm) for v in na_source_x_um)
    y0, y1 = (n_off + round(v * 1000 / voxel_nm) for v in au_pt_y_um)
    top, right = n_off + ny, n_off + nx
    na = f"{{ box = [[{x0}, {x1}], [{top - 1}, {top}]] }}   # top row, x {na_source_x_um} um"
    au = f"{{ box = [[{right - 1}, {right}], [{y0}, {y1}]] }}   # last column, y {au_pt_y_um} um"
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
voxel_size_nm = {voxel_nm}
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


def layout_problems(case, micro, graph, kind: str) -> list[str]:
    """What the texts require of the layout that this built case violates (empty: none):
    grains 1..22, the named neighbour pairs, the grains at the Au(Pt), G10 farther from the
    electrodes than G1 and G11, the low-angle GBs and the Table 4-1 path column within 5
    degrees."""
    problems = []
    if sorted(graph.nodes) != list(range(1, 23)):
        problems.append(f"{kind}: grain ids {sorted(graph.nodes)} are not 1..22")
    problems += [f"{kind}: G{a}/G{b} are not neighbours" for a, b in REQUIRED_PAIRS
                 if not graph.has_edge(a, b)]
    names = [e.name for e in case.electrodes]
    au_pt = micro.electrode_index == names.index("au_pt")
    beside = np.roll(au_pt, -1, axis=0)  # the voxels just left of the Au(Pt) contact
    right = set(np.unique(micro.labels[beside]).tolist())
    problems += [f"{kind}: G{g} does not touch the Au(Pt) electrode" for g in AT_AU_PT
                 if g not in right]
    # "G1 and G11, which are closer to the electrodes" (paper L133): distance from the grain's
    # centroid to the nearest electrode voxel centre.
    h = case.grid.voxel_size_m
    contacts = (np.argwhere(micro.electrode_index >= 0) + 0.5) * h
    distance = {g: float(np.min(np.linalg.norm(contacts - graph.nodes[g]["centroid_m"], axis=1)))
                for g in (1, 10, 11) if g in graph.nodes}
    if len(distance) == 3 and distance[10] <= max(distance[1], distance[11]):
        problems.append(f"{kind}: G10 is not farther from the electrodes than G1 and G11 "
                        f"(centroid distances {distance[10]:.2e}, {distance[1]:.2e}, "
                        f"{distance[11]:.2e} m)")
    problems += [f"{kind}: G{a}/G{b} is not a low-angle boundary (misorientation "
                 f"{graph.edges[a, b]['misorientation_deg']:.1f})" for a, b in LOW_ANGLE
                 if graph.has_edge(a, b) and graph.edges[a, b]["misorientation_deg"] >= 15.0]
    for (a, b), (_, path) in TABLE_4_1.items():
        if not graph.has_edge(a, b):
            continue  # reported above
        e = graph.edges[a, b]
        if abs(e["path_misorientation_deg"] - path) > 5.0:
            problems.append(f"{kind}: G{a}/G{b} path misorientation "
                            f"{e['path_misorientation_deg']:.1f}, Table 4-1: {path}")
    return problems


def check() -> list[str]:
    """Problems of the written files, checked through netsolve (empty list: all fine)."""
    import netsolve
    from netsolve.graph import build_grain_graph
    from netsolve.microstructure import build_microstructure

    problems = []
    for kind in ("reduced", "full"):
        case = netsolve.load_case(CASES / f"ding2023_{kind}.toml")
        micro = build_microstructure(case)
        problems += layout_problems(case, micro, build_grain_graph(micro), kind)
    return problems


def main() -> int:
    from netsolve.sources.polygons import write_geojson

    geoms, props = build_polygons()
    euler = EULER_DEG
    props = [p if "phase" in p else {**p, "euler_deg": list(euler[p["id"]])} for p in props]
    write_geojson(GEOJSON, geoms, props)
    for kind in ("isotropic", "reduced", "full"):
        (CASES / f"ding2023_{kind}.toml").write_text(case_text(kind))
    problems = check()
    for p in problems:
        print("FAILED:", p, file=sys.stderr)
    if not problems:
        print(f"wrote {GEOJSON.name} and cases/ding2023_*.toml; adjacency and Table 4-1 OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

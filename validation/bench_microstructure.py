"""Benchmark: building microstructures from the sources (not a test).

    python validation/bench_microstructure.py [--polygons 3000] [--grid 1000]
                                              [--voronoi-size 2048] [--voronoi-grains 10000]
                                              [--ebsd-size 1000]

1. ``source = "polygons"``: ``--polygons`` Voronoi cells (shapely.voronoi_polygons of uniform
   random seeds, clipped to the box) covering a ``--grid``^2 grid of 10 nm voxels, each with a
   random Bunge orientation, written as GeoJSON and as a WKT CSV. Timed: reading each file
   (parsing, checks), rasterizing, and the whole ``build_microstructure`` of a case that names
   the GeoJSON. Checked: the rasterized map equals the nearest-seed map of the same seeds
   (the two agree except for voxel centres at equal distance from two seeds).
2. ``source = "voronoi"``: a ``--voronoi-size``^2 grid with ``--voronoi-grains`` grains, with and
   without 2 % ZrO2 particles, through ``case_from_dict`` + ``build_microstructure``.
3. ``source = "ebsd"`` (needs orix): a synthetic ``--ebsd-size``^2 .ang (2000 Voronoi cells, random
   orientations, 0.1 degree noise, 3 % low-CI pixels) written by ``write_ang``. Timed: the whole
   ``build_microstructure`` (orix reading + segmentation + grain means; target <= 10 s on 2
   cores), the same with ``orientation = "voxel"`` (per-voxel c-axes), and the segmentation
   alone (misorientations, components, filling, merging, means); then the same pixels written on a
   hexagonal grid (``hex_grid = "nearest"``, resampled to square pixels) through
   ``build_microstructure``.
4. Per-voxel conductivities: ``compute_properties`` of a ``--voronoi-size``^2 voronoi map, per
   grain and with every grain voxel carrying its own (random) c-axis, 2D tensor model: time and
   peak traced memory (tracemalloc; the result arrays included).

Times are the best of ``--repeat`` runs. Target (issue 3): 1000^2 with 3000 polygons in seconds.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from scipy.spatial import cKDTree

import netsolve
from netsolve.microstructure import build_microstructure
from netsolve.sources.polygons import (read_polygons, rasterize, voxel_centres_in_file,
                                       write_geojson)

H_NM = 10.0
ELECTRODES = [{"name": "source", "region": "left", "potential_V": 1.0},
              {"name": "sink", "region": "right", "potential_V": 0.0}]


def best_of(repeat: int, fn):
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), value


def voronoi_cells(n: int, size_nm: float, rng: np.random.Generator):
    """Voronoi cells of n random seeds clipped to the square [0, size_nm]^2, in seed order."""
    seeds = rng.random((n, 2)) * size_nm
    box = shapely.box(0.0, 0.0, size_nm, size_nm)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=box))
    cells = shapely.intersection(cells, box)
    seed_idx, cell_idx = shapely.STRtree(cells).query(shapely.points(seeds), predicate="within")
    ordered = np.empty(n, dtype=object)
    ordered[seed_idx] = cells[cell_idx]
    return seeds, ordered


def write_csv(path: Path, cells, euler: np.ndarray) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["wkt", "id", "phi1", "Phi", "phi2"])
        for k, (wkt, angles) in enumerate(zip(shapely.to_wkt(cells, rounding_precision=-1), euler)):
            writer.writerow([wkt, k + 1, *angles])


def bench_polygons(n: int, grid: int, repeat: int) -> list[tuple[str, float, str]]:
    rng = np.random.default_rng(3)
    seeds, cells = voronoi_cells(n, grid * H_NM, rng)
    euler = np.round(rng.random((n, 3)) * [360.0, 180.0, 360.0], 3)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        geojson, table = Path(tmp) / "grains.geojson", Path(tmp) / "grains.csv"
        write_geojson(geojson, cells, [{"id": k + 1, "euler_deg": e.tolist()}
                                       for k, e in enumerate(euler)])
        write_csv(table, cells, euler)
        mb = geojson.stat().st_size / 1e6
        t, polygons = best_of(repeat, lambda: read_polygons(geojson))
        rows.append((f"read GeoJSON ({n} polygons, {mb:.1f} MB)", t, ""))
        t, _ = best_of(repeat, lambda: read_polygons(table))
        rows.append((f"read WKT CSV ({n} polygons)", t, ""))
        x, y = voxel_centres_in_file((grid, grid), H_NM, "nm", (0.0, 0.0))

        def raster():
            shapely.destroy_prepared(polygons.geometries)  # time the preparation too
            return rasterize(polygons.geometries, x, y)

        t, (owner, overlap) = best_of(repeat, raster)
        rows.append((f"rasterize onto {grid}x{grid}", t,
                     f"{int((owner < 0).sum())} uncovered, {int(overlap.sum())} overlapping"))
        case = netsolve.case_from_dict({
            "grid": {"shape": [grid, grid], "voxel_size_nm": H_NM},
            "microstructure": {"source": "polygons", "path": str(geojson)},
            "electrodes": ELECTRODES})
        t, micro = best_of(repeat, lambda: build_microstructure(case))
        points = (np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1).reshape(-1, 2))
        nearest = cKDTree(seeds).query(points, workers=-1)[1].reshape(grid, grid) + 1
        differ = int((micro.labels != nearest).sum())
        rows.append(("build_microstructure (read + rasterize + orientations)", t,
                     f"{differ} voxels differ from the nearest-seed map"))
    return rows


def bench_voronoi(size: int, n_grains: int, repeat: int) -> list[tuple[str, float, str]]:
    rows = []
    for fraction in (0.0, 0.02):
        micro_keys = {"source": "voronoi", "n_grains": n_grains, "seed": 1}
        if fraction:
            micro_keys.update(zro2_fraction=fraction, zro2_radius_nm=30.0)
        case = netsolve.case_from_dict({"grid": {"shape": [size, size], "voxel_size_nm": H_NM},
                                        "microstructure": micro_keys, "electrodes": ELECTRODES})
        t, micro = best_of(repeat, lambda: build_microstructure(case))
        zro2 = micro.phase_fractions()["zro2"]
        rows.append((f"voronoi {size}x{size}, {n_grains} grains, zro2 {fraction:.0%}", t,
                     f"ZrO2 fraction {zro2:.3f}"))
    return rows


def bench_ebsd(size: int, repeat: int) -> list[tuple[str, float, str]]:
    try:
        import orix  # noqa: F401
    except ImportError:
        return [("ebsd: skipped (pip install 'netsolve[ebsd]')", float("nan"), "")]
    from netsolve.orientation import random_orientations
    from netsolve.sources.ebsd import grains_of, place_on_grid, read_raw, write_ang
    from netsolve.symmetry import quaternion_from_euler
    from netsolve.sources.voronoi import voronoi_labels

    rng = np.random.default_rng(4)
    n_cells = 2000
    cells = voronoi_labels((size, size), n_cells, rng)
    euler = random_orientations(np.arange(1, n_cells + 1), rng).euler_rad[cells - 1]
    euler += rng.normal(0.0, np.radians(0.1 / np.sqrt(3)), euler.shape)
    ci = np.where(rng.random((size, size)) < 0.03, 0.02, 0.8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "map.ang"
        image = lambda a: np.swapaxes(a[:, ::-1], 0, 1)  # noqa: E731  grid -> file order
        write_ang(path, image(euler), H_NM, ci=image(ci))
        mb = path.stat().st_size / 1e6
        keys = {"source": "ebsd", "path": str(path), "min_confidence": 0.1,
                "min_grain_voxels": 5}
        case = netsolve.case_from_dict({"grid": {"shape": [size, size], "voxel_size_nm": H_NM},
                                        "microstructure": keys, "electrodes": ELECTRODES})
        t_all, micro = best_of(repeat, lambda: build_microstructure(case))
        keys["orientation"] = "voxel"
        per_voxel = netsolve.case_from_dict({"grid": {"shape": [size, size],
                                                      "voxel_size_nm": H_NM},
                                             "microstructure": keys, "electrodes": ELECTRODES})
        t_voxel, _ = best_of(repeat, lambda: build_microstructure(per_voxel))
        raw = read_raw(path)
        placed = place_on_grid(raw, "refuse")
        q = quaternion_from_euler(raw.euler_rad[placed.order]).reshape(placed.shape + (4,))
        good = (raw.indexed & (raw.quality["confidence"] >= 0.1))[placed.order]
        good = good.reshape(placed.shape)

        def segment():
            return grains_of(q, good, np.zeros(placed.shape, np.int64), True, np.radians(5.0), 5)

        t_seg, _ = best_of(repeat, segment)
        # The same pixels written on a hexagonal grid (rows sqrt(3)/2 apart), resampled.
        write_ang(path, image(euler), H_NM, ci=image(ci), hexagonal=True)
        keys.update(orientation="grain_mean", hex_grid="nearest")
        hex_shape = [size, int(np.rint((size - 1) * np.sqrt(3) / 2)) + 1]
        hexagonal = netsolve.case_from_dict({"grid": {"shape": hex_shape, "voxel_size_nm": H_NM},
                                             "microstructure": keys, "electrodes": ELECTRODES})
        t_hex, micro_hex = best_of(repeat, lambda: build_microstructure(hexagonal))
    return [(f"ebsd: build_microstructure of a {size}x{size} .ang ({mb:.0f} MB)", t_all,
             f"{len(micro.orientations)} grains from {n_cells} cells"),
            ("ebsd: the same with orientation = \"voxel\"", t_voxel, ""),
            ("ebsd: segmentation + clean-up + grain means only", t_seg, ""),
            (f"ebsd: the same pixels on a hexagonal grid, resampled to {hex_shape[0]}x"
             f"{hex_shape[1]}", t_hex, f"{len(micro_hex.orientations)} grains")]


def bench_voxel_properties(size: int, repeat: int) -> list[tuple[str, float, str]]:
    import tracemalloc
    from dataclasses import replace

    from netsolve.orientation import random_orientations
    from netsolve.properties import compute_properties

    case = netsolve.case_from_dict({
        "grid": {"shape": [size, size], "voxel_size_nm": H_NM},
        "microstructure": {"source": "voronoi", "n_grains": 10000, "seed": 1},
        "materials": {"conductivity_model": "tensor"}, "electrodes": ELECTRODES})
    micro = build_microstructure(case)
    c = random_orientations(np.arange(size * size), np.random.default_rng(2)).c_axis
    per_voxel = replace(micro, voxel_c_axis=c.reshape(size, size, 3))
    rows = []
    for name, m in (("per grain", micro), ("per voxel", per_voxel)):
        t, _ = best_of(repeat, lambda: compute_properties(m, case.materials))
        tracemalloc.start()
        props = compute_properties(m, case.materials)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        rows.append((f"properties {size}x{size}, {name}", t,
                     f"peak {peak:.0f} MB traced, tensor table {props.tensor_table.nbytes / 1e6:.0f}"
                     f" MB"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--polygons", type=int, default=3000)
    parser.add_argument("--grid", type=int, default=1000)
    parser.add_argument("--voronoi-size", type=int, default=2048)
    parser.add_argument("--voronoi-grains", type=int, default=10000)
    parser.add_argument("--ebsd-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = bench_polygons(args.polygons, args.grid, args.repeat)
    rows += bench_voronoi(args.voronoi_size, args.voronoi_grains, args.repeat)
    rows += bench_ebsd(args.ebsd_size, args.repeat)
    rows += bench_voxel_properties(args.voronoi_size, args.repeat)
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'time_s':>7}  note")
    for name, t, note in rows:
        print(f"{name:<{width}}  {t:7.3f}  {note}")


if __name__ == "__main__":
    main()

"""Benchmark: exporting and plotting a large result (not a test).

    python validation/bench_export.py [--size 2048x2048] [--skip-mesh]

Solves the random Voronoi polycrystal of ``bench_solve.py`` (one grain per ~20^2 voxels, GB
resistors, 2 % ZrO2, electrodes on the x faces, AMG to rtol 1e-8; the solve is not timed
here), then times each export and figure once on the solved result and prints a table (seconds,
file size). Targets (issue 6): 2048^2 -> .vti <= 5 s; all default figures <= 15 s (2 cores).
The .vti is written twice, zlib-compressed (the default) and raw, to show what compression
costs and saves.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_solve import case_dict  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="2048x2048")
    parser.add_argument("--keep", help="folder to keep the figures in (to look at them)")
    parser.add_argument("--skip-mesh", action="store_true",
                        help="skip the (large, slow) meshio .vtu/.xdmf exports")
    args = parser.parse_args()
    shape = tuple(int(n) for n in args.size.split("x"))

    import netsolve
    from netsolve.export import result_data, write_fields_npz
    from netsolve.export.gbnet import write_gb_network
    from netsolve.export.grain_tables import write_result_graphml, write_tables
    from netsolve.export.mesh import write_vtu, write_xdmf
    from netsolve.export.vti import write_vti
    from netsolve.plot import (plot_current_density, plot_electric_field, plot_gb_map,
                               plot_grain_map)

    case = netsolve.case_from_dict(case_dict(shape, "auto", 1e-8))
    t0 = time.perf_counter()
    result = netsolve.solve(case)
    print(f"solved {args.size}: {time.perf_counter() - t0:.1f} s "
          f"({len(result.fields.gb_face_current)} GB faces)")
    start = time.perf_counter()
    data = result_data(result)  # builds the GB and grain tables (analysis, not timed below)
    print(f"analysis tables: {time.perf_counter() - start:.1f} s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        def timed(label, function, *names):
            start = time.perf_counter()
            function()
            seconds = time.perf_counter() - start
            size = sum((folder / n).stat().st_size for n in names) / 2**20
            rows.append((label, seconds, size))

        data.graph  # the grain graph is built once and shared by the GB exports  # noqa: B018
        timed("fields.vti (zlib where it pays, default)", lambda: write_vti(data, folder / "c.vti"),
              "c.vti")
        timed("fields.vti (raw)", lambda: write_vti(data, folder / "r.vti", compress=False),
              "r.vti")
        timed("fields.npz", lambda: write_fields_npz(data, folder / "f.npz"), "f.npz")
        timed("gb_network.vtu", lambda: write_gb_network(data, folder / "gb.vtu"), "gb.vtu")
        timed("grain_table.csv + gb_table.csv", lambda: write_tables(data, folder),
              "grain_table.csv", "gb_table.csv")
        timed("grains.graphml", lambda: write_result_graphml(data, folder / "g.graphml"),
              "g.graphml")
        if not args.skip_mesh:
            timed("fields.vtu (meshio)", lambda: write_vtu(data, folder / "m.vtu"), "m.vtu")
            timed("fields.xdmf + .h5 (meshio)", lambda: write_xdmf(data, folder / "m.xdmf"),
                  "m.xdmf", "m.h5")
        figures = [("current_density.png", plot_current_density),
                   ("electric_field.png", plot_electric_field),
                   ("grain_map.png", plot_grain_map),
                   ("gb_map.png", plot_gb_map)]
        start_figures = time.perf_counter()
        for name, plot in figures:
            timed(name, lambda plot=plot, name=name: plot(data, folder / name), name)
        rows.append(("all default figures", time.perf_counter() - start_figures, float("nan")))
        if args.keep:
            import shutil

            for name, _ in figures:
                shutil.copy(folder / name, Path(args.keep) / name)
        timed("current_density.png + contours + streamlines",
              lambda: plot_current_density(data, folder / "cs.png", contours="potential",
                                           streamlines=True), "cs.png")
    print(f"{'step':<48}{'time_s':>8}{'MiB':>9}")
    for label, seconds, size in rows:
        print(f"{label:<48}{seconds:8.2f}{size:9.1f}")


if __name__ == "__main__":
    main()

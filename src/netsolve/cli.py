"""Command line: a thin layer over the Python API.

    netsolve run CASE.toml [-o OUT]     solve and write a result directory
    netsolve check CASE.toml            validate a case (and its network) without solving
    netsolve graph CASE.toml [-o FILE]  write the grain graph as GraphML (no solve)
    netsolve classify CASE.toml [-o FILE]  classify the grain boundaries (CSV, no solve)
    netsolve export RESULT_DIR --format vti,vtu,xdmf,gbnet,csv,graphml [-o DIR]
    netsolve plot RESULT_DIR [--what j,e,grains,gb] [--format png,svg,pdf] [-o DIR]
    netsolve explain RESULT_DIR G11/G16  why a grain boundary got its classification
    netsolve inspect MAP.ang [--figure grains.png]  phases, symmetry, grid, grains of a map
    netsolve compare CASE.toml [-o OUT] solve with tpfa, fem and mixed and compare them
    netsolve sweep CASE.toml --param KEY=VALUES ... -o OUT [--jobs N] [--resume] [--impedance]
                                        a grid of case values, DC or spectra (docs/sweeps.md)
    netsolve impedance CASE.toml [-o OUT]  impedance spectrum between two terminals
                                        (docs/impedance.md)

User errors print one line ``netsolve: error: ...`` on stderr and exit with status 2. SIGINT,
SIGTERM and SIGHUP print one line and exit with 130, 143, 129, leaving no temporary files
(:mod:`netsolve.interrupts`); the handlers are installed before NumPy and SciPy are imported, so
this module imports nothing heavy at the top. Long steps print stage lines on stderr (``-q``:
none; :mod:`netsolve.progress`). An existing non-empty output is replaced only with
``--overwrite``, and then only netsolve's own files (:mod:`netsolve.atomic`).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import warnings
from pathlib import Path

from . import __version__, interrupts
from .case import CONTOURS, EXPORT_FORMATS, FIGURE_FORMATS, load_case
from .errors import CaseError
from .progress import stage, stage_lines
from .tables import check_choices

EXIT_USER_ERROR = 2


def _out_dir(case, override: str | None) -> Path:
    if override is not None:
        return Path(override)
    if case.output.dir is not None:
        return case.output.dir
    return Path("out") / case.name


def _load(path: str):
    stage("load", f"load case {path}")
    return load_case(path)


def _check_output_dir(path: str | Path, overwrite: bool) -> None:
    """Refuse an output directory before the work, not after it."""
    from .atomic import check_output_dir, output_path

    check_output_dir(output_path(path), overwrite)


def _max_memory(args: argparse.Namespace) -> float | None:
    """``--max-memory`` in GB (None when not given)."""
    from .ranges import RANGES

    text = args.max_memory
    if text is None:
        return None
    allowed = RANGES["solver.max_memory_GB"]
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not allowed.contains(value):
        raise CaseError(f"--max-memory: expected a number {allowed.describe()}, got "
                        f"{text!r}")
    return value


def _memory(args: argparse.Namespace, case, **kwargs):
    """Refuse a case whose estimated peak memory exceeds the limit, before it allocates."""
    from .resources import check_memory

    return check_memory(case, max_memory_GB=_max_memory(args), **kwargs)


def cmd_run(args: argparse.Namespace) -> int:
    case = _load(args.case)
    out = _out_dir(case, args.output)
    _check_output_dir(out, args.overwrite)
    _memory(args, case)
    stage("imports", "loading the numerical libraries")
    from .api import solve  # the pipeline's libraries load after the case is accepted
    from .export import write_result
    from .run_report import human_summary

    result = solve(case, compare_applied=case.analysis.compare_applied)
    stage("analysis", "grain-boundary analysis")
    summary = human_summary(result)
    if not args.quiet:  # the answers first: writing a large result takes a while
        print(summary, flush=True)
    out = write_result(result, out, overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote {out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    import numpy as np

    from .discretization import build_operator
    from .microstructure import build_microstructure
    from .properties import compute_properties
    from .solve import check_connectivity

    case = _load(args.case)
    memory = _memory(args, case)
    stage("microstructure")
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    stage("operator", f"operator ({case.solver.discretization})")
    network = build_operator(case, micro, props)
    floating = check_connectivity(network, case.electrodes, case.label)
    grid = case.grid
    fractions = ", ".join(f"{k} {v:.1%}" for k, v in micro.phase_fractions().items() if v > 0)
    n_grains = int(np.unique(micro.labels[micro.phase == 0]).size)
    print(f"{case.label}: OK")
    print(f"  grid {grid.shape} voxels of {grid.voxel_size_m * 1e9:g} nm"
          + (f", thickness {grid.thickness_m * 1e9:g} nm" if grid.ndim == 2 else ""))
    print(f"  {n_grains} grains; phases: {fractions}")
    print(f"  model {case.materials.conductivity_model}; discretization "
          f"{network.discretization}: {network.n_links} links ({network.n_gb_links} across grain "
          f"boundaries)")
    for k, e in enumerate(case.electrodes):
        drive = f"{e.potential_V:g} V" if e.potential_V is not None else f"{e.current_A:g} A"
        n_faces = int((network.contact_face_electrode == k).sum())
        print(f"  electrode {e.name}: {e.region.describe()}, {drive}, {n_faces} contact faces")
    print(f"  {network.n_nodes - int(floating.sum())} unknowns, "
          f"{int(network.floating_voxels(floating).sum())} floating voxels")
    print(f"  run: {memory.describe()}")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from .atomic import atomic_file
    from .graph import build_grain_graph, write_graphml
    from .microstructure import build_microstructure

    case = _load(args.case)
    out = Path(args.output) if args.output is not None else Path(f"{case.name}.graphml")
    _memory(args, case)
    with atomic_file(out, overwrite=args.overwrite) as tmp:
        stage("microstructure")
        micro = build_microstructure(case)
        stage("graph", "grain graph")
        graph = build_grain_graph(micro)
        write_graphml(graph, tmp)
    print(f"{case.label}: {graph.number_of_nodes()} grains, {graph.number_of_edges()} grain "
          f"boundaries; wrote {out}")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from collections import Counter

    import numpy as np

    from .api import classify
    from .atomic import atomic_file

    case = _load(args.case)
    out = (Path(args.output) if args.output is not None
           else Path(f"{case.name}_gb_table.csv"))
    _memory(args, case)
    with atomic_file(out, overwrite=args.overwrite) as tmp:
        table = classify(case)
        table.write_csv(tmp)
    whole = (table.segment == -1) & (table.grain_b > 0)
    subtype = table.subtype
    counts = Counter(subtype[whole].tolist())
    print(f"{case.label}: {int(whole.sum())} grain boundaries (applied field); "
          + ", ".join(f"{k or 'undetermined'} {n}" for k, n in sorted(counts.items())))
    blocking = np.flatnonzero(whole & table.blocking)
    if len(blocking):
        print("  blocking: " + ", ".join(f"G{table.grain_a[k]}/G{table.grain_b[k]} "
                                         f"({subtype[k]})" for k in blocking))
    print(f"wrote {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import (EXPORT_FORMATS, check_formats, export_files, export_formats,
                         read_result_dir, staged_files)

    formats = check_formats(_names(args.format or ",".join(EXPORT_FORMATS)))
    stage("load", f"read {args.result}")
    data = read_result_dir(args.result)
    out = Path(args.output) if args.output is not None else Path(args.result)
    with staged_files(out, overwrite=args.overwrite, expected=export_files(formats)) as tmp:
        written = export_formats(data, tmp, formats)
    print(f"{data.label}: wrote {', '.join(p.name for p in written)} in {out}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .export import read_result_dir, staged_files, write_figures
    from .plot import FIGURES, check_figures

    names = check_figures(_names(args.what or ",".join(FIGURES)))
    formats = check_choices(_names(args.format), FIGURE_FORMATS, "--format", "figure format")
    stage("load", f"read {args.result}")
    data = read_result_dir(args.result)
    out = Path(args.output) if args.output is not None else Path(args.result)
    files = [f"{FIGURES[name][0]}.{fmt}" for name in names for fmt in formats]
    with staged_files(out, overwrite=args.overwrite, expected=files) as tmp:
        written = write_figures(data, tmp, names, formats, contours=args.contours,
                                streamlines=args.streamlines)
    print(f"{data.label}: wrote {', '.join(p.name for p in written)} in {out}")
    return 0


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated option value as a tuple of names (blanks dropped, order kept)."""
    return tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import check_discretizations, compare, format_comparison, write_comparison

    names = check_discretizations(_names(args.discretizations))
    case = _load(args.case)
    _memory(args, case, discretizations=("tpfa", "fem"))
    if args.output is not None:
        _check_output_dir(args.output, args.overwrite)
    comparison = compare(case, names)
    print(format_comparison(comparison), flush=True)
    if args.output is not None:
        print(f"wrote {write_comparison(comparison, args.output, overwrite=args.overwrite)}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    import signal

    from .sweep import SweepInterrupted, build_plan, parse_param, run_sweep

    parameters = tuple(parse_param(text) for text in args.param)
    plan = build_plan(args.case, parameters, top_k=args.top_k, max_points=args.max_points,
                      allow_large=args.yes, impedance=args.impedance, arcs=args.arcs)
    local = args.scheduler in (None, "local")  # a remote cluster: per worker, explicit limit only
    for case in plan.memory_cases():
        _memory(args, case, copies=max(1, args.jobs) if local else 1, local=local)
    out = Path(args.output) if args.output is not None else Path("out") / f"{plan.case_name}_sweep"
    try:
        outcome = run_sweep(plan, out, jobs=args.jobs, scheduler=args.scheduler,
                            resume=args.resume, save_fields=args.save_fields,
                            plots=not args.no_plots, scheduler_timeout=args.scheduler_timeout,
                            save_spectra=args.save_spectra)
    except (SweepInterrupted, interrupts.Interrupted) as stop:  # the sweep's or the CLI's handler
        table = out / "sweep.csv"
        kept = f"; the finished points are in {table}: rerun with --resume" if table.exists() else ""
        print(f"netsolve: interrupted ({signal.Signals(stop.signum).name}){kept}", file=sys.stderr)
        return 128 + stop.signum
    print(f"{plan.case_name}: {outcome.n_points} points ({outcome.n_skipped} done before), "
          f"{outcome.n_ok} ok, {outcome.n_error} errors; wrote "
          f"{', '.join(p.name for p in outcome.files)} in {outcome.out_dir}")
    return 0


def cmd_impedance(args: argparse.Namespace) -> int:
    from .impedance import compute_impedance, write_impedance

    case = _load(args.case)
    out = (Path(args.output) if args.output is not None
           else Path("out") / f"{case.name}_impedance")
    _check_output_dir(out, args.overwrite)
    result = compute_impedance(case)
    write_impedance(result, out, figures=not args.no_plots, overwrite=args.overwrite)
    z = result.impedance_ohm
    terminals = [" + ".join(group) for group in result.options.terminals]
    print(f"{case.label}: Z({terminals[0]}, {terminals[1]}) at {len(z)} frequencies "
          f"{result.frequency_Hz[0]:.3g}-{result.frequency_Hz[-1]:.3g} Hz: Z' "
          f"{z[0].real:.6g} -> {z[-1].real:.6g} ohm; {result.n_unknowns} unknowns, "
          f"{result.method}")
    for arc in result.arcs:
        print(f"  arc summit at {arc['frequency_Hz']:.4g} Hz: -Z'' = "
              f"{arc['minus_z_imag_ohm']:.6g} ohm")
    for arc in result.arc_fit.arcs:
        print(f"  arc fitted (one RC): summit {arc.frequency_Hz:.6g} Hz, R = "
              f"{arc.resistance_ohm:.6g} ohm, C = {arc.capacitance_F:.4g} F ({arc.origin})")
    kk = result.kk
    print(f"  Lin-KK: largest residual {kk.max_residual:.1e} ({kk.n_elements} RC elements)"
          + ("" if kk.passed else f"; WARNING: above kk_tolerance {kk.tolerance:g}: the "
                                  f"spectrum is not Kramers-Kronig consistent, or too coarsely sampled "
                                  f"(points_per_decade < 5)"))
    print(f"wrote {out}")
    return 0


def _phase_map(items: list[str] | None) -> dict[str, str] | None:
    """``--phase-map NAME=ROLE`` options as a dict (None when none was given)."""
    if not items:
        return None
    out = {}
    for item in items:
        name, sep, role = item.rpartition("=")
        if not sep or not name.strip() or not role.strip():
            raise CaseError(f"--phase-map: expected NAME=ROLE (e.g. \"Beta-alumina=grain\"), "
                            f"got {item!r}")
        out[name.strip()] = role.strip()
    return out


def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from .atomic import atomic_file
    from .map_report import format_inspection, plot_label_map
    from .sources.ebsd import inspect_map_labels

    threshold = args.threshold_deg
    if not (math.isfinite(threshold) and 0 < threshold < 180):
        raise CaseError(f"--threshold-deg: expected a number of degrees in (0, 180), got "
                        f"{threshold:g}")
    figure = None if args.figure is None else Path(args.figure)
    if figure is not None and figure.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise CaseError(f"--figure {figure}: expected a .png, .svg or .pdf file")
    stage("inspect", f"read and segment {args.map}")
    # A hexagonal grid is resampled to square pixels (nearest), as a case would ask for.
    report, labels = inspect_map_labels(args.map, _phase_map(args.phase_map), threshold)
    if figure is not None and labels is None:
        raise CaseError(f"--figure: no grains to draw: {report['no_grains_because']}")
    if figure is not None:
        with atomic_file(figure, overwrite=args.overwrite) as tmp:
            plot_label_map(labels, report["grid"]["step_nm"], tmp,
                           f"{report['file']}: {report['grains']} grains")
    print(json.dumps(report, indent=1) if args.json else format_inspection(report))
    if figure is not None:
        print(f"wrote {figure}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from .analysis import explain, read_gb_table

    print(explain(read_gb_table(args.result), args.gb))
    return 0


def _output_options(command: argparse.ArgumentParser, overwrite_help: str) -> None:
    """``--overwrite`` and ``-q`` of a command that writes."""
    command.add_argument("--overwrite", action="store_true", help=overwrite_help)
    _quiet_option(command)


def _quiet_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("-q", "--quiet", action="store_true",
                         help="no progress lines on stderr")


def _add_max_memory(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-memory", metavar="GB",
                        help="refuse a case whose estimated peak memory exceeds this many GB "
                             "(default: [solver] max_memory_GB, else the available memory)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netsolve", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"netsolve {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="solve a case and write a result directory")
    run.add_argument("case", help="case file (TOML)")
    run.add_argument("-o", "--output", help="result directory (default: [output] dir, "
                                            "else out/<case name>)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an existing result directory (or write into a non-empty "
                          "folder); files netsolve did not write are kept")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="print nothing on success (no progress lines, no summary)")
    _add_max_memory(run)
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check", help="validate a case without solving")
    check.add_argument("case", help="case file (TOML)")
    _quiet_option(check)
    _add_max_memory(check)
    check.set_defaults(func=cmd_check)
    graph = sub.add_parser("graph", help="write the grain graph of a case as GraphML")
    graph.add_argument("case", help="case file (TOML)")
    graph.add_argument("-o", "--output", help="GraphML file (default: <case name>.graphml)")
    _output_options(graph, "replace an existing file")
    _add_max_memory(graph)
    graph.set_defaults(func=cmd_graph)
    classify = sub.add_parser("classify", help="classify the grain boundaries of a case "
                                               "(applied field, no solve) and write a CSV")
    classify.add_argument("case", help="case file (TOML)")
    classify.add_argument("-o", "--output",
                          help="CSV file (default: <case name>_gb_table.csv)")
    _output_options(classify, "replace an existing file")
    _add_max_memory(classify)
    classify.set_defaults(func=cmd_classify)
    export = sub.add_parser("export", help="write files (VTK, XDMF, CSV, GraphML) of a result")
    export.add_argument("result", help="result directory written by 'netsolve run'")
    export.add_argument("--format", help=f"comma-separated: {','.join(EXPORT_FORMATS)} "
                                         f"(default: all)")
    export.add_argument("-o", "--output", help="folder for the files (default: the result "
                                               "directory)")
    _output_options(export, "replace files of the same name that netsolve did not write")
    export.set_defaults(func=cmd_export)
    plot = sub.add_parser("plot", help="draw figures of a result")
    plot.add_argument("result", help="result directory written by 'netsolve run'")
    plot.add_argument("--what", help="comma-separated figures: j (current density), e "
                                     "(electric field), grains (orientation map), gb (GB "
                                     "behaviour map); default: all")
    plot.add_argument("--format", default="png", help="comma-separated: png, svg, pdf "
                                                      "(default: png)")
    plot.add_argument("--contours", choices=CONTOURS, default="none",
                      help="lines on the j and e maps: equipotentials or iso-|J| lines")
    plot.add_argument("--streamlines", action="store_true",
                      help="draw current / field streamlines on the j and e maps")
    plot.add_argument("-o", "--output", help="folder for the figures (default: the result "
                                             "directory)")
    _output_options(plot, "replace files of the same name that netsolve did not write")
    plot.set_defaults(func=cmd_plot)
    why = sub.add_parser("explain", help="why a grain boundary of a result got its "
                                         "classification (rules, angles, thresholds)")
    why.add_argument("result", help="result directory written by 'netsolve run'")
    why.add_argument("gb", help="the grain boundary, e.g. G11/G16")
    why.set_defaults(func=cmd_explain)
    look = sub.add_parser("inspect", help="what an orientation map (.ang, .ctf, .h5) holds: "
                                          "grid, step, phases, symmetry, grains (no case "
                                          "needed)")
    look.add_argument("map", help="orientation map file")
    look.add_argument("--phase-map", action="append", metavar="NAME=ROLE",
                      help="map a phase of the file to grain, zro2, backbone, void or fill "
                           "(repeat for each phase; as [microstructure.phase_map])")
    look.add_argument("--threshold-deg", type=float, default=5.0,
                      help="misorientation that separates grains, degrees (default 5)")
    look.add_argument("--json", action="store_true", help="print the report as JSON")
    look.add_argument("--figure", metavar="FILE",
                      help="also draw the segmented grains (.png, .svg or .pdf)")
    _output_options(look, "replace an existing figure file")
    look.set_defaults(func=cmd_inspect)
    comp = sub.add_parser("compare", help="solve a case with several discretizations (two-"
                                          "point, finite elements, the certified mixed one) "
                                          "and compare grains, GBs and R_eff")
    comp.add_argument("case", help="case file (TOML)")
    comp.add_argument("--discretizations", default="tpfa,fem,mixed", metavar="NAMES",
                      help="comma-separated, at least two of tpfa, fem, mixed (default: all "
                           "three); mixed runs with bounds and is the reference when present")
    comp.add_argument("-o", "--output", help="also write summary.json, grain_comparison.csv "
                                             "and gb_comparison.csv into this directory")
    _output_options(comp, "replace an existing comparison directory (or write into a "
                          "non-empty folder); files netsolve did not write are kept")
    _add_max_memory(comp)
    comp.set_defaults(func=cmd_compare)
    sweep = sub.add_parser("sweep", help="solve a grid of case values (cartesian product) and "
                                         "write one row per point (docs/sweeps.md)")
    sweep.add_argument("case", help="case file (TOML), optionally with a [sweep] table")
    sweep.add_argument("--param", action="append", default=[], metavar="KEY=VALUES",
                       help="a dotted case key and its values: 1,5,20 or linspace(a,b,n) or "
                            "logspace(a,b,n) (exponents, as numpy); repeat for a grid")
    sweep.add_argument("-o", "--output", help="sweep folder (default: out/<case name>_sweep)")
    sweep.add_argument("--jobs", type=int, default=1, help="local worker processes "
                                                            "(default 1); Dask workers with "
                                                            "--scheduler local")
    sweep.add_argument("--scheduler", help="'local' (a Dask LocalCluster) or the address of a "
                                           "Dask scheduler, e.g. tcp://host:8786")
    sweep.add_argument("--scheduler-timeout", metavar="SECONDS",
                       help="give up when the Dask scheduler does not answer, or has no "
                            "worker, within this time (default 10)")
    sweep.add_argument("--resume", action="store_true",
                       help="continue an interrupted sweep in the same folder")
    sweep.add_argument("--save-fields", action="store_true",
                       help="also write fields/<point_id>.npz (compressed) per point")
    sweep.add_argument("--impedance", action="store_true", default=None,
                       help="each point computes the impedance spectrum (netsolve impedance); "
                            "its row: arc summits, resistances, DC resistance, Lin-KK "
                            "(default: [sweep] impedance)")
    sweep.add_argument("--arcs", type=int, help="arcs per row of an impedance sweep (default: "
                                                "[sweep] arcs, else 3)")
    sweep.add_argument("--save-spectra", action="store_true",
                       help="impedance sweeps: also write spectra/<point_id>/impedance.csv "
                            "(and drt.csv) per point")
    sweep.add_argument("--top-k", type=int, help="highest-risk GBs per row (default: [sweep] "
                                                 "top_k, else 5)")
    sweep.add_argument("--max-points", type=int, help="refuse larger grids without --yes "
                                                      "(default: [sweep] max_points, else 10000)")
    sweep.add_argument("--yes", action="store_true", help="run a grid larger than the cap")
    sweep.add_argument("--no-plots", action="store_true", help="write no figures")
    _add_max_memory(sweep)
    sweep.set_defaults(func=cmd_sweep)
    imp = sub.add_parser("impedance", help="impedance spectrum between two terminals: "
                                           "impedance.csv, shares per grain and GB, DRT, "
                                           "Nyquist and Bode figures (docs/impedance.md)")
    imp.add_argument("case", help="case file (TOML), optionally with an [impedance] table")
    imp.add_argument("-o", "--output", help="result directory (default: "
                                            "out/<case name>_impedance)")
    imp.add_argument("--no-plots", action="store_true", help="write no figures")
    imp.add_argument("--overwrite", action="store_true",
                     help="replace an existing result directory; files netsolve did not write "
                          "are kept")
    imp.set_defaults(func=cmd_impedance)
    return parser


def main(argv: list[str] | None = None) -> int:
    # NumPy asks the kernel for transparent huge pages on every array >= 4 MiB; where the kernel
    # compacts memory to serve them (defrag = madvise, a fragmented or shared machine) each
    # 2 MiB fault stalls: measured 6-7 s of system time in a 128^3 run that needs 1.5-3 s with
    # ordinary pages. Set before NumPy is imported (nothing heavy is, yet); the user's own
    # NUMPY_MADVISE_HUGEPAGE wins.
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = interrupts.install() if in_main_thread else {}
    try:
        interrupts.pause_point("startup")
        args = build_parser().parse_args(argv)
        # Library warnings about a damaged input (Pillow, shapely) would add lines to the one
        # line of an error; they are shown only when the command succeeds.
        with stage_lines(enabled=not getattr(args, "quiet", True)):  # sweep: its own bar
            with warnings.catch_warnings(record=True) as caught:
                status = args.func(args)
        for w in caught:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        return status
    except CaseError as exc:
        message = " ".join(str(exc).split())  # one line, whatever a library's text held
        _say(f"netsolve: error: {message}")
        return EXIT_USER_ERROR
    except interrupts.Interrupted as exc:
        _say(f"netsolve: interrupted by {exc.name}")
        return exc.exit_status
    except KeyboardInterrupt:
        _say("netsolve: interrupted")
        return 130
    except BrokenPipeError:  # e.g. `netsolve run ... | head`: the result is already written
        sys.stderr.close()
        return 0
    finally:
        interrupts.restore(previous)


def _say(line: str) -> None:
    """One line on stderr, which may be gone (SIGHUP: the terminal closed)."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

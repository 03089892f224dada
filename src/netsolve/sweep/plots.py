"""Sweep figures (matplotlib Agg, PNG in the sweep folder).

- ``sweep_<key>.png`` per swept key: the headline quantities (effective conductivity or
  resistance, number of blocking GBs, largest GB field) against that key, one line per
  combination of the other keys (log x-axis for a logspace key). An impedance sweep: the
  summit frequency and resistance of arcs 1 and 2 and the DC R_eff.
- ``sweep_heatmap.png`` for a two-way grid: effective conductivity (else resistance; an
  impedance sweep: arc 1's summit frequency) over both keys.

The layout is fixed from the sizes of the figures' texts (:mod:`netsolve.sweep.layout`), not
by ``tight_layout`` (which measured every axes before the draw measured them again).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from .files import atomic_path
from .layout import place_row, place_with_colorbar
from .local import stop_processes
from .plan import SweepPlan
from .store import read_table
from .worker import die_with_parent

HEADLINES = (("effective_conductivity_S_m", "sigma_eff (S/m)"),
             ("effective_resistance_ohm", "R_eff (ohm)"),
             ("n_blocking_gbs", "blocking GBs"),
             ("max_gb_field_V_m", "largest |E_GB| (V/m)"))
SPECTRUM_HEADLINES = (("arc_1_frequency_Hz", "arc 1 summit (Hz)"),
                      ("arc_1_resistance_ohm", "arc 1 R (ohm)"),
                      ("arc_2_frequency_Hz", "arc 2 summit (Hz)"),
                      ("arc_2_resistance_ohm", "arc 2 R (ohm)"),
                      ("effective_resistance_ohm", "R_eff, DC (ohm)"))
LOG_COLUMNS = {"effective_conductivity_S_m", "effective_resistance_ohm", "max_gb_field_V_m",
               *(c for c, _ in SPECTRUM_HEADLINES)}
MAX_LINES = 8  # lines per panel; more combinations of the other keys are not drawn
FLAT_RTOL = 1e-9  # a panel whose values agree to this (relative) is drawn as one level
DPI = 110  # of the PNGs; the figures are laid out at it (the draw then finds texts measured)
TICK_SIZE = 7  # points, the heat map's tick labels


def _headlines(plan: SweepPlan) -> tuple[tuple[str, str], ...]:
    if plan.impedance:  # the first two arcs (at least one column each) and the DC resistance
        return tuple((c, label) for c, label in SPECTRUM_HEADLINES
                     if not c.startswith("arc_") or int(c.split("_")[1]) <= plan.arcs)
    return HEADLINES


def _grid_values(plan: SweepPlan, rows: list[dict]) -> dict[str, np.ndarray]:
    """Every numeric column as an array over the grid (NaN where a point failed or is missing)."""
    shape = tuple(len(p.values) for p in plan.parameters)
    flat = {p.point_id: p.flat for p in plan.points}
    out = {}
    for column, _ in _headlines(plan):
        values = np.full(int(np.prod(shape)), np.nan)
        for row in rows:
            if row.get("status") == "ok" and row["point_id"] in flat:
                try:
                    values[flat[row["point_id"]]] = float(row[column])
                except ValueError:
                    pass
        out[column] = values.reshape(shape)
    return out


def write_sweep_plots(out_dir: Path, plan: SweepPlan, processes: int = 1) -> list[Path]:
    """Write the sweep's figures; returns their paths (none when every point failed).

    ``processes`` > 1 (a local sweep run with ``--jobs``): on Linux, a forked helper process
    draws the first half of the figures while this process draws the others, so that the end
    of a sweep uses both cores (the figures cost about 1 CPU s for a two-way grid). The files
    are the same as those drawn by one process. Should the helper fail, this process draws its
    figures again, so that any error is raised here, as without a helper.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grids = _grid_values(plan, read_table(out_dir))
    headlines = list(_headlines(plan))
    if plan.impedance:  # no panel for an arc that no point has
        headlines = [(c, label) for c, label in headlines if np.isfinite(grids[c]).any()]
    else:
        headlines = [(c, label) for c, label in headlines
                     if not (c == "effective_resistance_ohm"
                             and np.isfinite(grids["effective_conductivity_S_m"]).any())
                     and not (c == "effective_conductivity_S_m"
                              and not np.isfinite(grids[c]).any())]
    if not headlines:  # every point failed
        return []
    figures = list(range(len(plan.parameters)))  # the line figure of each swept key
    if len(plan.parameters) == 2:
        figures.append(HEATMAP)
    paths = [_figure_path(out_dir, plan, figure) for figure in figures]

    def draw(figure) -> None:
        if figure == HEATMAP:
            _heatmap(plt, plan, grids, headlines[0], out_dir)
        else:
            _lines(plt, plan, grids, headlines, figure, out_dir)

    helper_share = figures[:len(figures) // 2] if processes > 1 and can_fork() else []
    helper = start_helper(draw, helper_share) if helper_share else None
    try:
        for figure in figures[len(helper_share):]:
            draw(figure)
        if helper is not None:
            helper.join(HELPER_WAIT_S)
            if helper.exitcode is None:  # a hung helper (a bug): stopped, its share drawn here
                stop_processes([helper])
            if helper.exitcode != 0:  # draw its share here: an error is then raised here
                for figure in helper_share:
                    draw(figure)
    finally:
        if helper is not None and helper.exitcode is None:  # interrupted: stop the helper
            stop_processes([helper])
    return paths


HEATMAP = "heatmap"  # in the list of figures to draw, beside the swept keys' indices
HELPER_WAIT_S = 300.0  # a helper draws a few figures in about a second


def _figure_path(out_dir: Path, plan: SweepPlan, figure) -> Path:
    if figure == HEATMAP:
        return out_dir / "sweep_heatmap.png"
    return out_dir / f"sweep_{plan.parameters[figure].key.replace('.', '_')}.png"


def can_fork() -> bool:
    """Whether a helper process can be forked here: Linux (where it is tied to this process,
    :func:`~netsolve.sweep.worker.die_with_parent`) and no other thread running (a fork copies
    only the calling thread: a lock another thread held would stay held in the child)."""
    return (sys.platform.startswith("linux") and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods())


def start_helper(draw, share: list):
    """A forked process that draws the figures ``share`` (``draw(figure)`` each) and exits
    with status 0 when all were written, 1 otherwise (it reports nothing: the parent draws
    them again and raises the error)."""
    process = multiprocessing.get_context("fork").Process(
        target=_draw_share, args=(draw, share, os.getpid()), daemon=True)
    process.start()
    return process


def _draw_share(draw, share: list, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    # SIGTERM (the parent stopping it) as an exception: atomic_path removes its temporary file
    signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        for figure in share:
            draw(figure)
    except BaseException:
        os._exit(1)
    os._exit(0)


def _raise_system_exit(signum, frame):
    raise SystemExit(1)


def _lines(plt, plan: SweepPlan, grids, headlines, axis: int, out_dir: Path) -> Path:
    """``sweep_<key>.png``: the headlines against the swept key ``axis``."""
    from matplotlib.ticker import MaxNLocator

    parameter = plan.parameters[axis]
    x = np.asarray(parameter.values, float)
    fig, panels = plt.subplots(1, len(headlines), figsize=(4.2 * len(headlines), 3.6),
                               squeeze=False, layout="none", dpi=DPI)
    for panel, (column, label) in zip(panels[0], headlines):
        lines = np.moveaxis(grids[column], axis, -1).reshape(-1, len(x))
        others = [p for k, p in enumerate(plan.parameters) if k != axis]
        combos = list(np.ndindex(*[len(p.values) for p in others])) or [()]
        for combo, y in list(zip(combos, lines))[:MAX_LINES]:
            name = ", ".join(f"{p.key.split('.')[-1]}={p.values[i]:g}"
                             for p, i in zip(others, combo))
            panel.plot(x, y, marker="o", ms=3, label=name or None)
        if parameter.scale == "log":
            panel.set_xscale("log")
        finite = lines[np.isfinite(lines)]
        flat = len(finite) and np.ptp(finite) <= FLAT_RTOL * np.abs(finite).max()
        if flat:  # equal to rounding: a range of 1e-15 makes the axis transform singular
            centre = float(finite.mean())
            pad = 0.05 * abs(centre) or 1.0
            panel.set_ylim(centre - pad, centre + pad)
        elif column in LOG_COLUMNS and (finite > 0).all() and len(finite):
            panel.set_yscale("log")
        if column == "n_blocking_gbs":
            panel.yaxis.set_major_locator(MaxNLocator(integer=True))
        panel.set_xlabel(parameter.key)
        panel.set_ylabel(label)
        panel.grid(True, alpha=0.3)
    if len(plan.parameters) > 1:
        panels[0][0].legend(fontsize=7)
    title = fig.suptitle(f"{plan.case_name}: sweep of {parameter.key}")
    place_row(fig, list(panels[0]), title)
    path = _figure_path(out_dir, plan, axis)
    _save(plt, fig, path)
    return path


def _heatmap(plt, plan: SweepPlan, grids, headline, out_dir: Path) -> Path:
    column, label = headline
    first, second = plan.parameters
    values = grids[column]
    fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="none", dpi=DPI)
    finite = values[np.isfinite(values)]
    norm = None
    if len(finite) and (finite > 0).all():
        from matplotlib.colors import LogNorm

        norm = LogNorm(vmin=finite.min(), vmax=finite.max())
    # cells by index, labelled with the values: works for lists, linspace and logspace alike
    image = ax.imshow(values.T, origin="lower", aspect="auto", norm=norm, cmap="viridis")
    ax.set_xticks(range(len(first.values)), [f"{v:.3g}" for v in first.values], rotation=45,
                  fontsize=TICK_SIZE)
    ax.set_yticks(range(len(second.values)), [f"{v:.3g}" for v in second.values],
                  fontsize=TICK_SIZE)
    ax.set_xlabel(first.key)
    ax.set_ylabel(second.key)
    cax = fig.add_axes((0.9, 0.1, 0.03, 0.8))  # placed by place_with_colorbar
    fig.colorbar(image, cax=cax, label=label)
    title = fig.suptitle(f"{plan.case_name}: {label}")
    place_with_colorbar(fig, ax, cax, title, x_ticks={"size": TICK_SIZE, "rotation": 45},
                        y_ticks={"size": TICK_SIZE})
    path = _figure_path(out_dir, plan, HEATMAP)
    _save(plt, fig, path)
    return path


def _save(plt, fig, path: Path) -> None:
    """A figure as PNG, atomically (a full disk leaves no half-written image)."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png")
    finally:
        plt.close(fig)

"""`netsolve inspect MAP`: what an orientation map holds, in words, before a case is written for
it (the report of :func:`netsolve.sources.ebsd.inspect_map`), and a figure of its grains."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Colours of the pixels that are not grains (labels -1 - k, see sources.ebsd.FIXED_PHASES).
NOT_GRAIN_COLOURS = {-1: (0.0, 0.0, 0.0), -2: (0.85, 0.85, 0.85), -3: (0.55, 0.55, 0.55),
                     -4: (1.0, 1.0, 1.0)}
CONDUCTION = {"uniaxial": "uniaxial, the c axis is the conduction planes' normal",
              "isotropic": "isotropic conduction, GB resistors kept, no GB types",
              "biaxial": "biaxial: a case must give its conductivity tensor"}
NOT_GRAIN_NAMES = {-1: "void (bad pixels)", -2: "zro2", -3: "backbone", -4: "void"}


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f} %"


def format_inspection(report: dict) -> str:
    """The report as lines for a terminal: grid and step (what `[grid]` needs), phases with
    their symmetry, pixel fraction and role, not-indexed and filled fractions, grains."""
    grid = report["grid"]
    shape = " x ".join(str(n) for n in grid["shape"])
    step = " x ".join(f"{s:g}" for s in grid["step_nm"])
    lines = [f"{report['file']} ({report['vendor']}): grid {shape} pixels, step {step} nm"
             + (" (resampled from a hexagonal grid)" if grid["resampled_from_hexagonal"] else "")]
    lines.append("  phases:")
    for p in report["phases"]:
        role = p.get("maps_to")
        laue = p["laue_class"]
        lines.append(f"    {p['id']}: {p['name']!r}, {p['symmetry']}"
                     + ("" if laue and laue in str(p["symmetry"]) else
                        f" (Laue class {laue})" if laue else " (symmetry unknown to orix)")
                     + f", {_percent(p['pixel_fraction'])} of the pixels"
                     + (f" -> {role}" if role else ""))
    lines.append(f"  not indexed: {_percent(report['not_indexed_fraction'])} of the pixels")
    if report["grains"] is None:
        lines.append(f"  grains: none segmented: {report['no_grains_because']}")
    else:
        symmetry = report["crystal_symmetry"]
        filled = {k: v for k, v in report["filled_fraction"].items() if k != "total"}
        conducts = CONDUCTION.get(symmetry["conduction"], symmetry["conduction"])
        lines.append(f"  conducting phase: {report['conducting_phase']!r}, Laue class "
                     f"{symmetry['laue_class']} ({symmetry['crystal_system']}: {conducts})")
        lines.append(f"  grains: {report['grains']} (segments {report['segments']}, merged "
                     f"after filling {report['merged_after_filling']}, small grains merged "
                     f"{report['small_grains_merged']})")
        if filled:
            lines.append("  filled from neighbours: " + ", ".join(
                f"{k.replace('_', ' ')} {_percent(v)}" for k, v in filled.items())
                + f" (total {_percent(report['filled_fraction']['total'])})")
    for note in report.get("notes", []):
        lines.append(f"  note: {note}")
    for warning in report.get("warnings", []):
        lines.append(f"  WARNING: {warning}")
    return "\n".join(lines)


def label_colours(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """RGB image (float, rows = y up) of a segmented map: each grain a random colour (neighbours
    rarely alike), the other labels the fixed colours of ``NOT_GRAIN_COLOURS``."""
    rng = np.random.default_rng(seed)
    n = int(max(labels.max(), 0))
    palette = 0.15 + 0.8 * rng.random((n + 1, 3))
    rgb = palette[np.clip(labels, 0, None)]
    for value, colour in NOT_GRAIN_COLOURS.items():
        rgb[labels == value] = colour
    return rgb


def plot_label_map(labels: np.ndarray, step_nm, path: str | Path, title: str) -> Path:
    """A figure of the segmented map (x to the right, y up, axes in um) written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from .plot_base import save

    nx, ny = labels.shape  # netsolve's grid: first index along x, second along y
    extent = (0, nx * step_nm[0] / 1000, 0, ny * step_nm[1] / 1000)
    fig, ax = plt.subplots(figsize=(7, 7 * ny / max(nx, 1) + 0.8), layout="constrained")
    ax.imshow(np.swapaxes(label_colours(labels), 0, 1), origin="lower", extent=extent,
              interpolation="nearest")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.set_title(title)
    present = [v for v in NOT_GRAIN_COLOURS if (labels == v).any()]
    if present:
        ax.legend(handles=[Patch(facecolor=NOT_GRAIN_COLOURS[v], edgecolor="k",
                                 label=NOT_GRAIN_NAMES[v]) for v in present],
                  loc="upper right", fontsize=8)
    return save(fig, path, dpi=150)

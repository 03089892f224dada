"""Figures of an impedance result (matplotlib, Agg): Nyquist plot (-Z'' against Z', equal
axes, decades marked), Bode plot (|Z| and phase against f) and the DRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plot import _save as save_figure
from .pipeline import ImpedanceResult

DPI = 150


def write_impedance_figures(result: ImpedanceResult, folder: Path, formats) -> list[Path]:
    written = []
    for fmt in formats:
        written.append(_nyquist(result, folder / f"nyquist.{fmt}"))
        written.append(_bode(result, folder / f"bode.{fmt}"))
        if result.drt is not None:
            written.append(_drt(result, folder / f"drt.{fmt}"))
    return written


def _axes(width_in=6.0, height_in=4.5, rows=1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, 1, figsize=(width_in, height_in), dpi=DPI, layout="constrained",
                        sharex=rows > 1)


def _nyquist(result: ImpedanceResult, path: Path) -> Path:
    r = result.response
    z = r.impedance_ohm
    scale, unit = _ohm_scale(np.abs(z).max())
    fig, ax = _axes()
    ax.plot(z.real / scale, -z.imag / scale, "-", color="0.6", lw=1)
    ax.scatter(z.real / scale, -z.imag / scale, c=np.log10(r.frequency_Hz), s=12,
               cmap="viridis", zorder=3)
    decades = np.flatnonzero(np.isclose(np.log10(r.frequency_Hz),
                                        np.round(np.log10(r.frequency_Hz)), atol=1e-9))
    labelled = []
    for k in decades:  # skip labels that would sit on an earlier one (the ends of an arc)
        if any(abs(z[k] - z[j]) < 0.03 * np.abs(z).max() for j in labelled):
            continue
        labelled.append(k)
        ax.annotate(f"1e{int(round(np.log10(r.frequency_Hz[k])))}", (z[k].real / scale,
                    -z[k].imag / scale), textcoords="offset points", xytext=(3, 5),
                    fontsize="x-small")
    for arc in result.arcs:
        ax.plot(arc["z_real_ohm"] / scale, arc["minus_z_imag_ohm"] / scale, "v", color="C3",
                ms=6)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"Z' ({unit})")
    ax.set_ylabel(f"-Z'' ({unit})")
    ax.set_title(f"{result.case.label}: Nyquist (labels: f in Hz; triangles: arc summits)",
                 fontsize="small")
    ax.grid(alpha=0.3)
    return save_figure(fig, path, DPI)


def _bode(result: ImpedanceResult, path: Path) -> Path:
    r = result.response
    z = r.impedance_ohm
    fig, (top, bottom) = _axes(6.0, 5.5, rows=2)
    top.loglog(r.frequency_Hz, np.abs(z), "o-", ms=3, label="|Z|")
    for name, part in (("bulk", r.bulk_ohm), ("GB", r.gb_ohm), ("contacts", r.contact_ohm)):
        if np.abs(part).max() > 1e-9 * np.abs(z).max():
            top.loglog(r.frequency_Hz, np.abs(part), "--", lw=1, label=f"|Z| {name} share")
    top.set_ylabel("|Z| (ohm)")
    top.legend(fontsize="x-small")
    top.grid(alpha=0.3, which="both")
    bottom.semilogx(r.frequency_Hz, np.degrees(np.angle(z)), "o-", ms=3)
    bottom.set_ylabel("phase (degrees)")
    bottom.set_xlabel("f (Hz)")
    bottom.grid(alpha=0.3, which="both")
    top.set_title(f"{result.case.label}: Bode", fontsize="small")
    return save_figure(fig, path, DPI)


def _drt(result: ImpedanceResult, path: Path) -> Path:
    drt = result.drt
    fig, ax = _axes(6.0, 3.8)
    ax.semilogx(drt.tau_s, drt.density_ohm, "-")
    for peak in drt.peaks():
        ax.axvline(peak["tau_s"], color="C3", lw=0.8, ls=":")
    ax.set_xlabel("tau (s)")
    ax.set_ylabel("gamma (ohm per unit ln tau)")
    ax.set_title(f"{result.case.label}: DRT (lambda = {drt.lambda_:.0e}, rms residual "
                 f"{drt.residual_rms:.1e})", fontsize="small")
    ax.grid(alpha=0.3, which="both")
    return save_figure(fig, path, DPI)


def _ohm_scale(largest: float) -> tuple[float, str]:
    for scale, unit in ((1e9, "Gohm"), (1e6, "Mohm"), (1e3, "kohm")):
        if largest >= scale:
            return scale, unit
    return 1.0, "ohm"

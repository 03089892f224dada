"""Writing synthetic orientation maps (tests, benchmarks, the shipped demo map)."""

from __future__ import annotations

import numpy as np

ANG_HEADER = """\
# TEM_PIXperUM          1.000000
# x-star                0.000000
# y-star                0.000000
# z-star                0.000000
# WorkingDistance       0.000000
#
# Phase 1
# MaterialName  	{phase}
# Formula     	{formula}
# Info
# Symmetry              {symmetry}
# LatticeConstants      5.610 5.610 33.500  90.000  90.000 120.000
# NumberFamilies        0
#
# GRID: {grid}
# XSTEP: {step_um:.6f}
# YSTEP: {ystep_um:.6f}
# NCOLS_ODD: {nx}
# NCOLS_EVEN: {nx_even}
# NROWS: {ny}
#
# OPERATOR: netsolve
#
# SAMPLEID: {sample}
#
# SCANID:
#
"""


def write_ang(path, euler_rad: np.ndarray, step_nm: float, ci: np.ndarray | None = None,
              phase: str = "Na-beta-alumina", sample: str = "synthetic",
              hexagonal: bool = False, symmetry: str = "32") -> None:
    """Write a TSL-style .ang file (10 columns: phi1 Phi phi2 x y IQ CI phase_id SEM fit).

    ``euler_rad`` (ny, nx, 3): Bunge angles per pixel in image order, row 0 at the top (the
    file's y = row * step grows downwards); ``ci`` (ny, nx) confidence index (default 1; -1
    marks a pixel as not indexed). ``symmetry``: the TSL symmetry code of the phase (default
    32, Laue class -3m; 62 hexagonal 6/mmm, 43 cubic m-3m, ...). Coordinates in um.
    ``hexagonal``: a TSL hexagonal grid, rows step * sqrt(3) / 2 apart, the odd rows (1, 3,
    ...) shifted right by half a step and one pixel shorter (their last column is not
    written).
    """
    euler_rad = np.asarray(euler_rad, dtype=float)
    ny, nx = euler_rad.shape[:2]
    ci = np.ones((ny, nx)) if ci is None else np.asarray(ci, dtype=float)
    step_um = step_nm * 1e-3
    ystep_um = step_um * np.sqrt(3) / 2 if hexagonal else step_um
    rows, cols = np.indices((ny, nx))
    shifted = (rows % 2 == 1) if hexagonal else np.zeros((ny, nx), bool)
    keep = ~(shifted & (cols == nx - 1))
    data = np.column_stack([
        np.mod(euler_rad[keep], 2 * np.pi), (cols[keep] + 0.5 * shifted[keep]) * step_um,
        rows[keep] * ystep_um, np.full(keep.sum(), 100.0), ci[keep], np.ones(keep.sum()),
        np.zeros(keep.sum()), np.zeros(keep.sum())])
    header = ANG_HEADER.format(phase=phase, formula=phase.split("-")[0], step_um=step_um,
                               ystep_um=ystep_um, nx=nx, nx_even=nx - 1 if hexagonal else nx,
                               ny=ny, sample=sample, symmetry=symmetry,
                               grid="HexGrid" if hexagonal else "SqrGrid")
    fmt = "%.5f %.5f %.5f %.5f %.5f %.1f %.3f %d %.1f %.1f"
    with open(path, "w", newline="\n") as f:
        f.write(header)
        np.savetxt(f, data, fmt=fmt)

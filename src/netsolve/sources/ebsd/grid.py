"""Pixel coordinates -> netsolve grid: the order of the file's pixels on the grid.

The map's x (columns) is grid axis 0; the map's y grows downwards (row 0 at the top), so the
pixel in column i of row r becomes voxel ``[i, ny - 1 - r]`` and grid y points up the map. The
grid is what the coordinates form; the header's column/row counts and steps are checked
against it (a file whose coordinates form a complete grid of another shape than the header
announces, e.g. a resampled export that kept the original header, is read as its coordinates
say, with a note). A hexagonal grid is resampled to square pixels of its x step on request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import CaseError
from .readers import RawMap

GRID_TOLERANCE = 0.05  # a coordinate may be this fraction of a step off its grid position
# A square grid resampled from a hexagonal one has sqrt(3)/2 as many pixels as the file; more
# than this many voxels per file pixel means an outlier coordinate, not a map.
MAX_VOXELS_PER_PIXEL = 2.0


@dataclass(frozen=True)
class Placement:
    """``order`` (nx * ny,) the file pixel of each voxel (grid C order); ``shape`` (nx, ny);
    ``step_nm`` (x, y) (None along an axis of one pixel); ``notes`` what was decided."""

    order: np.ndarray
    shape: tuple[int, int]
    step_nm: tuple[float | None, float | None]
    hexagonal: bool
    notes: tuple[str, ...] = ()


def place_on_grid(raw: RawMap, hex_grid: str) -> Placement:
    name, header = raw.name, raw.header
    announced = header.n_points
    if header.hexagonal:
        if hex_grid != "nearest":
            raise CaseError(f"{name}: the map is on a hexagonal pixel grid (GRID: HexGrid); set "
                            f"microstructure.hex_grid = \"nearest\" to resample it to square "
                            f"pixels of its x step (nearest neighbour)")
        if announced is not None and raw.size != announced:
            raise CaseError(f"{name}: {raw.size} data rows, but the header announces "
                            f"{announced} pixels (truncated file?)")
        order, shape, step = square_from_hexagonal(raw.x, raw.y, name)
        return Placement(order, shape, (step * raw.unit_nm,) * 2, True,
                         (f"hexagonal grid resampled to {shape[0]} x {shape[1]} square pixels",))
    n = raw.size
    (x0, step_x), (y0, step_y) = (_axis_step(raw.x, header.step_x),
                                  _axis_step(raw.y, header.step_y))
    counts = [1.0 if step is None else (c.max() - c0) / step + 1
              for c, c0, step in ((raw.x, x0, step_x), (raw.y, y0, step_y))]
    if counts[0] * counts[1] > MAX_VOXELS_PER_PIXEL * n:  # floats: no overflow, nothing allocated
        raise CaseError(f"{name}: the pixel coordinates span x {raw.x.min():g} to "
                        f"{raw.x.max():g}, y {raw.y.min():g} to {raw.y.max():g} (a "
                        f"{_count(counts[0])} x {_count(counts[1])} grid for {n} pixels): an "
                        f"outlier coordinate, or not a grid map")
    ix, step_x = _grid_index(raw.x, x0, step_x, name, "x")
    iy, step_y = _grid_index(raw.y, y0, step_y, name, "y")
    nx, ny = int(ix.max()) + 1, int(iy.max()) + 1
    complete = n == nx * ny
    if complete:
        flat = ix * ny + (ny - 1 - iy)  # grid index [i, ny - 1 - r]: grid y points up the map
        complete = np.bincount(flat, minlength=nx * ny).max() == 1
    if not complete:
        if announced is not None and n != announced:
            raise CaseError(f"{name}: {n} data rows, but the header announces {announced} "
                            f"pixels (truncated file?)")
        raise CaseError(f"{name}: {n} pixels do not fill the {nx} x {ny} grid their "
                        f"coordinates span (truncated file, or a hexagonal grid?)")
    notes = _against_header(raw, (nx, ny), (step_x, step_y))
    order = np.empty(n, dtype=np.int64)
    order[flat] = np.arange(n)
    steps = tuple(None if s is None else s * raw.unit_nm for s in (step_x, step_y))
    return Placement(order, (nx, ny), steps, False, notes)


def _against_header(raw: RawMap, shape, steps) -> tuple[str, ...]:
    """The data's complete grid against the header: the same grid, or one the data covers the
    same area with (another step), or the same pixel count in another arrangement, is read as
    the coordinates say (with a note); anything else is a truncated or inconsistent file."""
    header = raw.header
    if header.nx is None or header.ny is None or (header.nx, header.ny) == tuple(shape):
        return ()
    said = f"{header.nx} x {header.ny}"
    header_steps = (header.step_x, header.step_y)
    same_area = all(
        hs is not None and (hn == 1 if s is None
                            else abs(n * s - hn * hs) <= 2 * GRID_TOLERANCE * max(s, hs))
        for n, s, hn, hs in zip(shape, steps, (header.nx, header.ny), header_steps))
    if raw.size == header.n_points or same_area:
        step = "" if steps[0] is None else f" of step {steps[0]:g}"
        return (f"the header announces {said} pixels, but the coordinates form a complete "
                f"{shape[0]} x {shape[1]} grid{step}: the coordinates are used",)
    raise CaseError(f"{raw.name}: {raw.size} data rows, but the header announces "
                    f"{header.n_points} pixels (truncated file?)")


def _count(value: float) -> str:
    return f"{value:.0f}" if value < 1e15 else f"{value:.3g}"


def _axis_step(coord: np.ndarray, header_step: float | None) -> tuple[float, float | None]:
    """(first coordinate, step) along one map axis; None when all pixels share one coordinate.

    Positions closer than half the median gap are one (rounding may split a column into two
    values). The step is the extent over the number of positions less one when that puts every
    position on its own grid point (coordinates written with fewer digits than the step, e.g.
    ASTAR's x 0.0019, 0.0038, 0.0058 for 0.00192, give no exact gap), else the median gap (an
    outlier far off the map); the header's step when it agrees within the grid tolerance.
    """
    values = np.unique(coord)
    if len(values) == 1:
        return float(values[0]), None
    gaps = np.diff(values)
    typical = float(np.median(gaps))
    positions = values[np.concatenate([[True], gaps > 0.5 * typical])] - values[0]
    step = typical
    if len(positions) > 1:
        spread = float(positions[-1] / (len(positions) - 1))
        index = np.rint(positions / spread)
        if (len(np.unique(index)) == len(positions)
                and np.abs(index * spread - positions).max() <= GRID_TOLERANCE * spread):
            step = spread
    if header_step is not None and abs(header_step - step) <= GRID_TOLERANCE * step:
        step = float(header_step)
    return float(values[0]), step


def _grid_index(coord: np.ndarray, origin: float, step: float | None, name: str,
                axis: str) -> tuple[np.ndarray, float | None]:
    """Integer pixel index along one map axis, and the step (None if there is one pixel)."""
    if step is None:
        return np.zeros(len(coord), dtype=np.int64), None
    index = np.rint((coord - origin) / step)
    off = np.abs(index * step - (coord - origin)) > GRID_TOLERANCE * step
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise CaseError(f"{name}: data row {row + 1}: {axis} = {coord[row]:g} is not on the "
                        f"regular grid of step {step:g} the other {axis} coordinates form "
                        f"({int(off.sum())} such pixel(s); a hexagonal grid without GRID: "
                        f"HexGrid?)")
    return index.astype(np.int64), step


def square_from_hexagonal(x: np.ndarray, y: np.ndarray, name: str):
    """Resample a hexagonal pixel grid (rows ``step * sqrt(3) / 2`` apart, every other row
    shifted by half a step) to square pixels of the x step: each square pixel takes the
    nearest hexagonal pixel (scipy's k-d tree; ties to the lower index).

    x, y: pixel coordinates of the file (y grows downwards). Returns (order, (nx, ny), step):
    ``order`` (nx * ny,) the index of the file pixel of each grid voxel (grid C order, grid y
    up the map, as for square maps), the grid shape and the step (file unit). The grid's size
    is checked before anything is allocated (an outlier coordinate would ask for terabytes).
    """
    from scipy.spatial import cKDTree

    first_row = np.isclose(y, y.min())
    xs = np.unique(x[first_row])
    rows = np.unique(y)
    if len(xs) < 2 or len(rows) < 2:
        raise CaseError(f"{name}: a hexagonal grid needs at least two pixels per row and two "
                        f"rows")
    step = float(np.min(np.diff(xs)))
    pitch = float(np.min(np.diff(rows)))
    if abs(pitch - step * np.sqrt(3) / 2) > 0.05 * step:
        raise CaseError(f"{name}: rows {pitch:g} apart with pixels {step:g} apart are not a "
                        f"hexagonal grid (rows step * sqrt(3) / 2 = {step * np.sqrt(3) / 2:g} "
                        f"apart expected)")
    counts = [np.rint((c.max() - c.min()) / step) + 1 for c in (x, y)]  # floats: no overflow
    if counts[0] * counts[1] > MAX_VOXELS_PER_PIXEL * len(x):
        raise CaseError(f"{name}: the hexagonal pixel coordinates span x {x.min():g} to "
                        f"{x.max():g}, y {y.min():g} to {y.max():g}: resampled to steps of "
                        f"{step:g} that is a {_count(counts[0])} x {_count(counts[1])} grid for "
                        f"{len(x)} pixels (an outlier coordinate?)")
    nx, ny = int(counts[0]), int(counts[1])
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")  # grid order, y up
    centres = np.column_stack([x.min() + i.ravel() * step,
                               y.min() + (ny - 1 - j.ravel()) * step])
    distance, order = cKDTree(np.column_stack([x, y])).query(centres)
    # Inside a complete hexagonal grid no point is farther than step / sqrt(3) from a pixel.
    far = distance > 0.6 * step
    if far.any():
        k = int(np.flatnonzero(far)[0])
        raise CaseError(f"{name}: the hexagonal grid has a hole: no pixel within "
                        f"{0.6 * step:g} of ({centres[k, 0]:g}, {centres[k, 1]:g}) "
                        f"(truncated file?)")
    return order.astype(np.int64), (nx, ny), step

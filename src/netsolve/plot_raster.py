"""Map layers rendered at the pixel size they are shown at: one small RGBA image per panel.

A 2048^2 map in axes of ~1200 pixels is resampled by matplotlib anyway, and matplotlib's
resampling of every full-size layer (float32 conversion, premultiplied alpha; 0.35-0.5 s per
2048^2 layer, 2-3 layers per figure) cost more than the rest of a figure. Here the voxels of a
slice are grouped into display cells first (:class:`DisplayGrid`: contiguous runs of 1 or 2
voxels per pixel along each axis, never fewer cells than the axes have pixels), every layer
(map colours, GB marks and their outline) is reduced to those cells and composed into one RGBA
image (:class:`PanelRaster`), drawn with nearest interpolation at about one cell per pixel.

How each layer is reduced:

* |J| and |E| (log colour scales): the mean of log10 over the voxels of a cell that carry
  current (a geometric mean), so a cell's colour is the mean of its voxels' positions on the
  colour scale; a mean of the values would push mixed cells towards the top of the scale. A
  cell is "no current" when fewer than half of its voxels carry current. The colour limits
  still come from the whole field (the callers' norms).
* categorical colours (grain colours by orientation, pale grains): the voxel at the cell's
  centre (what nearest-neighbour display shows).
* GB marks (boundary voxels, GB faces coloured by a value or a behaviour code): the maximum
  over the cell, so a mark one voxel wide is never lost; a one-cell outline (halo) around the
  marks is added at the display grid, so it is one pixel wide whatever the map size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DisplayGrid:
    """How the voxels of a 2D map ([a0, a1], a0 drawn to the right) fall into display cells.

    ``starts[k]``: the first voxel of each cell along axis k (int64, increasing, starting at
    0); ``cells[k]``: the cell of each voxel along axis k; ``per_pixel``: cells per pixel of
    the axes (at most about 1)."""

    shape: tuple[int, int]
    starts: tuple[np.ndarray, np.ndarray]
    cells: tuple[np.ndarray, np.ndarray]
    per_pixel: float = 1.0

    @classmethod
    def of(cls, shape, cells_shape, pixels=None) -> DisplayGrid:
        """The grid of ``shape`` voxels in ``cells_shape`` cells (at most one cell per voxel),
        shown on ``pixels`` (None: one pixel per cell)."""
        starts, cells = [], []
        for n, m in zip(shape, cells_shape):
            m = max(1, min(int(n), int(m)))
            start = (np.arange(m, dtype=np.int64) * n) // m  # floor(i n / m): runs of 1-2+
            starts.append(start)
            cells.append(np.repeat(np.arange(m), np.diff(np.append(start, n))))
        # (against whole pixels: a grid of ceil(pixels) cells has one cell per pixel)
        per_pixel = 1.0 if pixels is None else max(
            len(s) / max(math.ceil(p), 1) for s, p in zip(starts, pixels))
        return cls(tuple(int(n) for n in shape), tuple(starts), tuple(cells), per_pixel)

    @property
    def cells_shape(self) -> tuple[int, int]:
        return (len(self.starts[0]), len(self.starts[1]))

    @property
    def identity(self) -> bool:
        return self.cells_shape == self.shape

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """The voxel at the middle of each cell, per axis."""
        return tuple((s + np.append(s[1:], n)) // 2 for s, n in zip(self.starts, self.shape))

    def sample(self, array: np.ndarray) -> np.ndarray:
        """The centre voxel of every cell (trailing component axes kept)."""
        if self.identity:
            return array
        c0, c1 = self.centres()
        return array[c0][:, c1]

    def sums(self, array: np.ndarray) -> np.ndarray:
        """Sum over the voxels of every cell."""
        return array if self.identity else self._along(self._along(array, 0, np.add), 1, np.add)

    def maxima(self, array: np.ndarray) -> np.ndarray:
        """Maximum over the voxels of every cell (NaN are not ignored: use -inf for none)."""
        if self.identity:
            return array
        return self._along(self._along(array, 0, np.maximum), 1, np.maximum)

    def _along(self, array: np.ndarray, axis: int, ufunc) -> np.ndarray:
        """``ufunc`` (np.add or np.maximum) over the runs of voxels of the cells along
        ``axis``. Along axis 0, one gather of whole rows per position in a run (runs are at
        most the reduction factor long; several times faster than ufunc.reduceat there on
        2048^2 maps); along axis 1, ufunc.reduceat (faster there than gathering columns)."""
        start = self.starts[axis]
        if axis == 1:
            return ufunc.reduceat(array, start, axis=1)
        stop = np.append(start[1:], self.shape[axis])
        size = stop - start
        out = array[start]
        for offset in range(1, int(size.max())):
            part = array[np.minimum(start + offset, stop - 1)]  # maximum: repeats harmless
            if ufunc is np.add:
                part[offset >= size] = 0
            ufunc(out, part, out=out)
        return out

    def any(self, mask: np.ndarray) -> np.ndarray:
        """True where any voxel of a cell is."""
        return self.maxima(mask.view(np.uint8)).astype(bool)

    def mean_log10(self, values: np.ndarray) -> np.ndarray:
        """log10 of the geometric mean of the positive, finite values of each cell; NaN where
        fewer than half of its voxels have one (no current)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            logs = np.log10(values)  # NaN below 0 and for NaN, -inf at 0, inf at inf
        flowing = np.isfinite(logs)  # the positive finite values
        if self.identity:
            logs[~flowing] = np.nan
            return logs
        logs[~flowing] = 0.0  # adds nothing to the sums
        count = self.sums(flowing.astype(np.float32))
        size = np.outer(*(np.diff(np.append(s, n)) for s, n in zip(self.starts, self.shape)))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.sums(logs) / count
        mean[count < 0.5 * size] = np.nan
        return mean


def display_grid(ax, shape, *, reduce: bool = True) -> DisplayGrid:
    """The display grid of a map of ``shape`` voxels drawn over the whole of ``ax``: as many
    cells as the axes have pixels along each axis (rounded up, at most one per voxel), from the
    axes' box once the layout is fixed (:func:`netsolve.plot_base.fix_layout`) and the equal
    aspect applied. ``reduce=False``: one cell per voxel."""
    ax.apply_aspect()
    box = ax.get_window_extent()  # pixels at the figure's dpi (the dpi it is saved at)
    pixels = (box.width, box.height)
    if not reduce:
        return DisplayGrid.of(shape, shape, pixels)
    return DisplayGrid.of(shape, tuple(math.ceil(p) for p in pixels), pixels)


def grown(values: np.ndarray, reach: int, present: np.ndarray) -> np.ndarray:
    """A maximum filter of width 2 reach + 1 over a 2D array, computed only in the bounding
    box of the ``present`` entries widened by ``reach`` (outside it the filter sees nothing but
    the background: the same result; a few blocking GBs need not cost a whole-map filter)."""
    from scipy.ndimage import maximum_filter

    out = values.copy()
    rows, cols = np.flatnonzero(present.any(axis=1)), np.flatnonzero(present.any(axis=0))
    if rows.size == 0 or reach <= 0:
        return out
    box = (slice(max(rows[0] - reach, 0), rows[-1] + reach + 1),
           slice(max(cols[0] - reach, 0), cols[-1] + reach + 1))
    out[box] = maximum_filter(values[box], size=2 * reach + 1)
    return out


def rgba_bytes(colour) -> np.ndarray:
    """A matplotlib colour as uint8 RGBA."""
    from matplotlib.colors import to_rgba

    return np.round(np.array(to_rgba(colour)) * 255).astype(np.uint8)


class PanelRaster:
    """The one image of a map panel, at the display grid of its axes: a base layer of map
    colours (optional) with marks painted over it; :meth:`show` draws it."""

    def __init__(self, ax, shape, extent, *, reduce: bool = True):
        self.ax = ax
        self.extent = extent
        self.grid = display_grid(ax, shape, reduce=reduce)
        self.rgba = np.zeros(self.grid.cells_shape + (4,), dtype=np.uint8)  # transparent
        self.base = False

    def fill(self, rgba: np.ndarray) -> None:
        """The base layer: colours per cell (cells_shape + (3,) or (4,), uint8)."""
        self.rgba[..., :rgba.shape[-1]] = rgba
        if rgba.shape[-1] == 3:
            self.rgba[..., 3] = 255
        self.base = True

    def paint(self, marked: np.ndarray, colours, outline=None) -> None:
        """Paint the ``marked`` cells in ``colours`` (one colour or uint8 RGBA per marked cell)
        over a one-cell halo in ``outline`` (None: none)."""
        if outline is not None and marked.any():
            halo = grown(marked.view(np.uint8), 1, marked).astype(bool) & ~marked
            self.rgba[halo] = rgba_bytes(outline)
        self.rgba[marked] = colours if isinstance(colours, np.ndarray) else rgba_bytes(colours)

    def show(self) -> None:
        """One nearest-interpolated image (cropped to the painted cells without a base layer:
        an image costs its resampling)."""
        rgba, (x0, x1, y0, y1) = self.rgba, self.extent
        i0, i1, j0, j1 = 0, rgba.shape[0], 0, rgba.shape[1]
        if not self.base:
            drawn = rgba[..., 3] > 0
            rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
            if rows.size == 0:
                return
            i0, i1, j0, j1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        s0, s1 = self.grid.starts
        n0, n1 = self.grid.shape
        hx, hy = (x1 - x0) / n0, (y1 - y0) / n1  # per voxel: cells span whole voxels
        edges0, edges1 = np.append(s0, n0), np.append(s1, n1)
        self.ax.imshow(np.transpose(rgba[i0:i1, j0:j1], (1, 0, 2)), origin="lower",
                       interpolation="nearest",
                       extent=[x0 + edges0[i0] * hx, x0 + edges0[i1] * hx,
                               y0 + edges1[j0] * hy, y0 + edges1[j1] * hy])

"""Reading orientation maps: one :class:`RawMap` (file order, the file's own frame and units)
from an .ang, .ctf or HDF5 file.

The text formats are parsed here (one ``np.loadtxt`` pass), not with orix's readers: orix
names the columns of a TSL file by their count only (the 13-column OIM 8 files with
``COLUMN_HEADERS`` and the 8-column files lose their confidence index), reads no decimal
commas, has no not-indexed convention for ASTAR files, returns no y coordinates for a one-row
map and keeps only rotations (the range check of the Euler angles needs the file's numbers, so
the file was parsed twice). orix decides what the phases' symmetry codes mean
(``orix.crystal_map.Phase``: TSL ``Symmetry`` codes, Oxford Laue groups, space groups) and
reads h5ebsd files other than EDAX's (Bruker, EMsoft).
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import CaseError
from ...symmetry import CrystalSymmetry, crystal_symmetry

EXTRA_MESSAGE = "needs the optional extra: pip install 'netsolve[ebsd]' (orix, GPL-3)"
HDF5_SUFFIXES = (".h5", ".hdf5", ".h5ebsd")
MAP_SUFFIXES = (".ang", ".ctf") + HDF5_SUFFIXES
HEADER_LINES = 5000  # a header longer than this is not an orientation map's header


@dataclass(frozen=True)
class FilePhase:
    """A phase the file declares: ``name`` and ``symmetry`` (None when the file gives no
    usable code), ``declared``: how the file states the symmetry (for messages)."""

    name: str
    symmetry: CrystalSymmetry | None
    declared: str


@dataclass(frozen=True)
class HeaderGrid:
    """What the header says about the grid (None: not stated): columns ``nx`` (.ang:
    NCOLS_ODD), rows ``ny``, ``nx_even`` (.ang hexagonal grids: NCOLS_EVEN), steps (file unit)
    and whether the grid is hexagonal."""

    nx: int | None = None
    ny: int | None = None
    nx_even: int | None = None
    step_x: float | None = None
    step_y: float | None = None
    hexagonal: bool = False

    @property
    def n_points(self) -> int | None:
        """Pixel count the header announces (hexagonal: NCOLS_ODD and NCOLS_EVEN rows
        alternately)."""
        if self.nx is None or self.ny is None:
            return None
        even = self.nx_even if (self.hexagonal and self.nx_even is not None) else self.nx
        return (self.ny + 1) // 2 * self.nx + self.ny // 2 * even


@dataclass(frozen=True)
class RawMap:
    """An orientation map as the file holds it, n pixels in file order.

    ``euler_rad`` (n, 3) Bunge angles in the file's Euler frame (0 for not-indexed pixels);
    ``x``, ``y`` (n,) coordinates in the file's unit (``unit_nm`` nm each; y grows down the
    map); ``phase`` (n,) the file's phase id; ``indexed`` (n,) pixels the instrument indexed
    (its not-indexed convention, see :func:`read_raw`); ``quality`` per-pixel columns the
    quality keys use ("confidence", "mad_deg", "bands"); ``phases`` the declared phases by id.
    """

    name: str
    vendor: str
    euler_rad: np.ndarray
    x: np.ndarray
    y: np.ndarray
    unit_nm: float
    phase: np.ndarray
    indexed: np.ndarray
    quality: dict[str, np.ndarray]
    phases: dict[int, FilePhase]
    header: HeaderGrid = HeaderGrid()
    notes: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        return len(self.x)


def read_raw(path: Path) -> RawMap:
    """Read an orientation map (.ang, .ctf, .h5/.hdf5/.h5ebsd). Every problem is a CaseError
    naming the file.

    Not indexed: TSL/EDAX confidence index < 0 (-1) and ASTAR reliability < 0 (-1); Oxford and
    Bruker .ctf phase 0, zero bands or a nonzero error code; pixels of a phase id the header
    does not declare (a single-phase TSL file writes 0 for its one phase: that is the phase).
    """
    name = path.name
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CaseError(f"{name}: orientation map not found ({path})") from None
    except OSError as exc:
        raise CaseError(f"{name}: cannot read the orientation map ({exc.strerror})") from None
    if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
        raise CaseError(f"{name}: not a regular file (a {_file_kind(mode)}); the orientation "
                        f"map must be an .ang, .ctf or .h5 file")
    import_orix()
    kind = path.suffix.lower()
    if kind in HDF5_SUFFIXES:
        from .hdf5 import read_hdf5

        return read_hdf5(path)
    from .text_maps import read_ang, read_ctf

    try:
        return read_ang(path) if kind == ".ang" else read_ctf(path)
    except UnicodeError as exc:  # latin-1 decodes anything; kept for other codecs
        raise CaseError(f"{name}: not a text orientation map ({exc})") from None


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return kind
    return "special file"


def import_orix():
    try:
        from orix.crystal_map import Phase
    except ImportError:
        raise CaseError(f"source 'ebsd' {EXTRA_MESSAGE}") from None
    return Phase


def phase_symmetry(point_group: str | None = None,
                   space_group: int | None = None) -> CrystalSymmetry | None:
    """The symmetry of a point group code (TSL ``Symmetry`` codes such as "62", "43", and
    point group or Laue class names) or a space group number, as orix reads them; None when
    orix does not know the code."""
    Phase = import_orix()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # orix warns when it derives one group from another
        try:
            if space_group:
                phase = Phase(space_group=int(space_group))
            elif point_group is not None:
                phase = Phase(point_group=str(point_group).strip())
            else:
                return None
        except (ValueError, TypeError, KeyError, IndexError):
            return None
    return None if phase.point_group is None else crystal_symmetry(phase.point_group)


def read_table(source, name: str, **kwargs) -> np.ndarray:
    """``np.loadtxt`` of the data rows; its errors become one line naming the file and the
    data row (1-based, counted from the first data row)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            data = np.loadtxt(source, ndmin=2, dtype=float, **kwargs)
        except ValueError as exc:
            text = str(exc)
            changed = re.search(r"columns changed from (\d+) to (\d+) at row (\d+)", text)
            if changed:
                a, b, row = changed.groups()
                raise CaseError(f"{name}: data row {row} has {b} columns instead of {a} "
                                f"(truncated or damaged file)") from None
            bad = re.search(r"could not convert string (.*) to \w+ at row (\d+), column (\d+)",
                            text)
            if bad:
                cell, row, column = bad.groups()
                raise CaseError(f"{name}: data row {int(row) + 1}, column {column}: {cell[:40]} "
                                f"is not a number") from None
            raise CaseError(f"{name}: not a readable orientation map ({text[:160]})") from None
    if data.size == 0 or any("no data" in str(w.message) for w in caught):
        raise CaseError(f"{name}: the file holds no data rows (truncated?)")
    return data


# Largest |Euler angle| accepted in an indexed pixel: one turn, in the file's unit. TSL writes
# 4 pi for pixels it could not index: those are not indexed and not checked.
def check_euler_angles(name: str, euler: np.ndarray, indexed: np.ndarray, limit: float,
                       unit: str) -> None:
    """NaN or out-of-range Euler angles (file unit) of indexed pixels are an error naming the
    data row."""
    bad = indexed & ~(np.abs(euler) <= limit * (1 + 1e-6)).all(axis=1)  # NaN fails too
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        values = ", ".join(f"{v:g}" for v in euler[row])
        problem = ("not a number" if np.isnan(euler[row]).any() else
                   f"outside [-{limit:g}, {limit:g}] {unit}"
                   + (" (degrees in a radians file?)" if unit == "rad" else ""))
        raise CaseError(f"{name}: data row {row + 1} (of an indexed pixel) has Euler "
                        f"angles ({values}): {problem}; {int(bad.sum())} such pixel(s)")


def check_coordinates(name: str, x: np.ndarray, y: np.ndarray) -> None:
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CaseError(f"{name}: data row {row + 1} has coordinates ({x[row]:g}, {y[row]:g}): "
                        f"not finite numbers")


def declared_pixels(phase: np.ndarray, phases: dict[int, FilePhase]) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """(phase ids with a single-phase file's 0 read as its phase, pixels of a declared
    phase)."""
    phase = phase.astype(np.int64)
    if len(phases) == 1:
        (only,) = phases
        phase = np.where(phase == 0, only, phase)
    return phase, np.isin(phase, list(phases))

"""HDF5 orientation maps: EDAX OIM h5 (read here with h5py: orix 0.15 has no EDAX reader) and
every h5ebsd layout orix reads (Bruker Nano, EMsoft, orix's own), through ``orix.io.load``.
Needs h5py, the optional extra ``netsolve[hdf5]``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import CaseError
from .readers import (FilePhase, HeaderGrid, RawMap, check_coordinates, check_euler_angles,
                      declared_pixels, phase_symmetry)

# EDAX marks grid points without valid data by this x and y (its header note says so).
EDAX_INVALID_XY = -1111111.0


def read_hdf5(path: Path) -> RawMap:
    name = path.name
    try:
        import h5py
    except ImportError:
        raise CaseError(f"{name}: HDF5 maps need the optional extra: pip install "
                        f"'netsolve[hdf5]' (h5py)") from None
    try:
        with h5py.File(path, "r") as f:
            top = {key.strip().lower(): key for key in f}  # EDAX writes " Manufacturer"
            manufacturer = (_text(f[top["manufacturer"]][()]) if "manufacturer" in top
                            else "")
            if manufacturer.strip().upper().startswith("EDAX"):
                return _read_edax(f, name)
    except OSError as exc:
        raise CaseError(f"{name}: not a readable HDF5 file ({exc})") from None
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise CaseError(f"{name}: not an EDAX OIM HDF5 map as expected ({_first_line(exc)})"
                        ) from None
    return _read_with_orix(path, manufacturer)


def _text(value) -> str:
    value = np.asarray(value).ravel()
    item = value[0] if value.size else b""
    return item.decode("latin-1") if isinstance(item, bytes) else str(item)


def _scalar(group, key: str):
    value = np.asarray(group[key][()]).ravel()
    return value[0] if value.size else None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def _read_edax(f, name: str) -> RawMap:
    import h5py

    scans = [key for key in f if key.strip().lower() not in ("manufacturer", "version")
             and isinstance(f[key], h5py.Group) and "EBSD" in f[key]]
    if len(scans) != 1:
        raise CaseError(f"{name}: an EDAX HDF5 file with {len(scans)} scans "
                        f"({', '.join(scans) or 'none'}); netsolve reads files with one scan")
    ebsd = f[scans[0]]["EBSD"]
    data, head = ebsd["Data"], ebsd["Header"]
    columns = {key: np.asarray(data[key][()]).ravel() for key in
               ("Phi1", "Phi", "Phi2", "X Position", "Y Position", "Phase", "CI")}
    n = len(columns["Phi1"])
    if any(len(c) != n for c in columns.values()) or n == 0:
        raise CaseError(f"{name}: the EDAX data sets have different lengths (or none): "
                        + ", ".join(f"{k} {len(c)}" for k, c in columns.items()))
    phases = {}
    for key in head["Phase"] if "Phase" in head else ():
        group = head["Phase"][key]
        code = str(int(_scalar(group, "Symmetry"))) if "Symmetry" in group else None
        title = _text(group["MaterialName"][()]) if "MaterialName" in group else f"phase {key}"
        phases[int(key)] = FilePhase(title.strip(), phase_symmetry(point_group=code),
                                     f"TSL Symmetry {code}" if code else "no Symmetry")
    if not phases:
        raise CaseError(f"{name}: the EDAX header declares no phase")
    phase, indexed = declared_pixels(columns["Phase"], phases)
    x, y = columns["X Position"].astype(float), columns["Y Position"].astype(float)
    ncols = int(_scalar(head, "nColumns")) if "nColumns" in head else None
    nrows = int(_scalar(head, "nRows")) if "nRows" in head else None
    step_x = float(_scalar(head, "Step X")) if "Step X" in head else None
    step_y = float(_scalar(head, "Step Y")) if "Step Y" in head else None
    grid_type = _text(head["Grid Type"][()]) if "Grid Type" in head else "SqrGrid"
    invalid = (x == EDAX_INVALID_XY) | (y == EDAX_INVALID_XY)
    notes = []
    if invalid.any():  # placed by their index in the scan (row by row), not indexed
        if ncols is None or step_x is None or step_y is None or "Hex" in grid_type:
            raise CaseError(f"{name}: {int(invalid.sum())} grid points without valid data "
                            f"(x = y = {EDAX_INVALID_XY:g}) and no square grid in the header "
                            f"to place them")
        k = np.flatnonzero(invalid)
        x[k], y[k] = (k % ncols) * step_x, (k // ncols) * step_y
        notes.append(f"{len(k)} grid points without valid data, counted as not indexed")
    ci = columns["CI"].astype(float)
    indexed &= ~invalid & ~(ci < 0)
    euler = np.column_stack([columns["Phi1"], columns["Phi"], columns["Phi2"]]).astype(float)
    check_euler_angles(name, euler, indexed, 2 * np.pi, "rad")
    check_coordinates(name, x, y)
    euler = np.where(indexed[:, None], euler, 0.0)
    hexagonal = "Hex" in grid_type
    # The header's counts describe a square grid; a hexagonal one is checked by its coordinates.
    grid = (HeaderGrid(None, None, None, step_x, step_y, True) if hexagonal
            else HeaderGrid(ncols, nrows, None, step_x, step_y))
    return RawMap(name, "edax_h5", euler, x, y, 1e3, phase, indexed, {"confidence": ci},
                  phases, grid, tuple(notes))


def _read_with_orix(path: Path, manufacturer: str) -> RawMap:
    import warnings
    from contextlib import redirect_stdout
    from io import StringIO

    from orix import io as orix_io

    from ...symmetry import crystal_symmetry

    name = path.name
    with warnings.catch_warnings(), redirect_stdout(StringIO()):
        warnings.simplefilter("ignore")
        try:
            xmap = orix_io.load(str(path))
        except Exception as exc:  # a third-party parser: any failure is a file it cannot read
            made = f" written by {manufacturer.strip()}" if manufacturer.strip() else ""
            raise CaseError(f"{name}: orix cannot read this HDF5 file{made} ({_first_line(exc)}"
                            f"); readable: EDAX OIM, Bruker, EMsoft and orix h5ebsd files"
                            ) from None
    phase_id = np.asarray(xmap.phase_id, np.int64)
    phases = {int(i): FilePhase(str(xmap.phases[i].name),
                                None if xmap.phases[i].point_group is None
                                else crystal_symmetry(xmap.phases[i].point_group),
                                f"point group {xmap.phases[i].point_group.name}"
                                if xmap.phases[i].point_group is not None else "none")
              for i in xmap.phases.ids if i != -1}
    indexed = phase_id != -1
    x = np.asarray(xmap.x, float)
    y = np.zeros_like(x) if xmap.y is None else np.asarray(xmap.y, float)
    euler = np.where(indexed[:, None], xmap.rotations.to_euler().reshape(-1, 3), 0.0)
    unit_nm = {"nm": 1.0, "um": 1e3, "µm": 1e3, "mm": 1e6}.get(str(xmap.scan_unit))
    if unit_nm is None:
        raise CaseError(f"{name}: unknown scan unit {xmap.scan_unit!r}")
    check_coordinates(name, x, y)
    quality = {}
    for key in xmap.prop:
        if key.lower() in ("mad", "mean_angular_deviation"):
            quality["mad_deg"] = np.asarray(xmap.prop[key], float)
    vendor = (manufacturer.strip() or "orix").lower().replace(" ", "_") + "_h5"
    return RawMap(name, vendor, euler, x, y, unit_nm, phase_id, indexed, quality, phases)

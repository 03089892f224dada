"""The text formats: EDAX TSL / NanoMegas ASTAR / EMsoft ``.ang`` and Oxford / Bruker ``.ctf``.

Column layouts. ``.ang``: phi1 PHI phi2 (radians) x y, then, by OIM's file versions, IQ, CI,
phase, SEM signal, fit (6 to 10 columns; extra columns such as PRIAS are ignored); OIM 8
names them in ``COLUMN_HEADERS`` (used when present); ASTAR writes index, reliability, phase,
reliability x 100 (9 columns, found by "ACOM" in the header); EMsoft image quality, dot
product, phase. ``.ctf``: the columns its ``Phase X Y ...`` line names (Euler angles in degrees;
decimal commas are read as points).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from ...errors import CaseError
from .readers import (HEADER_LINES, FilePhase, HeaderGrid, RawMap, check_coordinates,
                      check_euler_angles, declared_pixels, phase_symmetry, read_table)

UNIT_NM = {"nm": 1.0, "um": 1e3, "µm": 1e3, "mm": 1e6}
ANG_MIN_COLUMNS = 6  # OIM version 1: phi1 PHI phi2 x y IQ
UTF8_BOM = "\xef\xbb\xbf"  # as latin-1 reads it


def _header_lines(path: Path, is_header) -> tuple[list[str], int]:
    """The header lines (``is_header(line)`` true) and how many there are."""
    lines = []
    with open(path, encoding="latin-1", newline=None) as f:
        for line in f:
            if not lines:
                line = line.removeprefix(UTF8_BOM)
            if not is_header(line):
                break
            lines.append(line.rstrip("\r\n"))
            if len(lines) > HEADER_LINES:
                raise CaseError(f"{path.name}: no data after {HEADER_LINES} header lines (not "
                                f"an orientation map?)")
    return lines, len(lines)


def _number(text: str):
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


# --- .ang --------------------------------------------------------------------------------------

def _ang_phases(header: list[str]) -> dict[int, FilePhase]:
    """Phases of an .ang header: ``# Phase N`` blocks with MaterialName and Symmetry (ASTAR
    files have a single block without the ``# Phase`` line)."""
    blocks: list[dict] = []
    for line in header:
        words = line.lstrip("#").strip().split(None, 1)
        if not words:
            continue
        key, value = words[0].rstrip(":"), (words[1].strip() if len(words) > 1 else "")
        if key == "Phase" and value.isdigit():
            blocks.append({"id": int(value)})
        elif key in ("MaterialName", "Formula", "Symmetry"):
            if not blocks or key in blocks[-1]:
                blocks.append({})
            blocks[-1][key] = value
    phases = {}
    for k, block in enumerate(blocks):
        pid = block.get("id", k + 1)
        code = block.get("Symmetry", "").split()[0] if block.get("Symmetry") else None
        name = block.get("MaterialName") or block.get("Formula") or f"phase {pid}"
        phases[pid] = FilePhase(name, phase_symmetry(point_group=code),
                                f"TSL Symmetry {code}" if code else "no Symmetry line")
    return phases


def _ang_header_grid(header: list[str]) -> HeaderGrid:
    values = {}
    for line in header:
        match = re.match(r"#\s*(GRID|XSTEP|YSTEP|NCOLS_ODD|NCOLS_EVEN|NROWS)\s*:?\s*(\S*)", line)
        if match:
            values[match.group(1)] = match.group(2)

    def integer(key):
        number = _number(values.get(key, ""))
        return int(number) if number is not None and number == int(number) else None

    return HeaderGrid(integer("NCOLS_ODD"), integer("NROWS"), integer("NCOLS_EVEN"),
                      _number(values.get("XSTEP", "")), _number(values.get("YSTEP", "")),
                      "HexGrid" in values.get("GRID", ""))


def _ang_columns(header: list[str], vendor: str, n_columns: int, name: str) -> dict[str, int]:
    """Column index of "confidence" and "phase" (absent keys: no such column)."""
    count = next((line.split(":", 1)[1].strip() for line in header
                  if re.match(r"#\s*COLUMN_COUNT\s*:", line)), None)
    names = next((line.split(":", 1)[1] for line in header
                  if re.match(r"#\s*COLUMN_HEADERS\s*:", line)), None)
    if count is not None and count.isdigit() and int(count) != n_columns:
        raise CaseError(f"{name}: the header announces COLUMN_COUNT {count}, but the data rows "
                        f"have {n_columns} columns")
    if names is not None:
        cells = [c.strip().lower() for c in names.split(",")]
        if len(cells) != n_columns:
            raise CaseError(f"{name}: COLUMN_HEADERS names {len(cells)} columns, but the data "
                            f"rows have {n_columns}")
        if [c.lower() for c in cells[:5]] != ["phi1", "phi", "phi2", "x", "y"]:
            raise CaseError(f"{name}: COLUMN_HEADERS starts with {', '.join(cells[:5])}; "
                            f"expected phi1, PHI, phi2, x, y")
        found = {}
        for role, options in (("confidence", ("ci", "confidence index", "reliability")),
                              ("phase", ("phase index", "phase"))):
            hit = [k for k, c in enumerate(cells) if c in options]
            if hit:
                found[role] = hit[0]
        return found
    if n_columns < ANG_MIN_COLUMNS:
        raise CaseError(f"{name}: the data rows have {n_columns} columns; an .ang map has at "
                        f"least {ANG_MIN_COLUMNS} (phi1 PHI phi2 x y IQ, then CI, phase, ...)")
    found = {}
    if n_columns > 6:
        found["confidence"] = 6  # TSL CI, ASTAR reliability, EMsoft dot product
    if n_columns > 7:
        found["phase"] = 7
    if vendor == "astar" and n_columns < 8:
        raise CaseError(f"{name}: an ASTAR .ang has 9 columns (phi1 PHI phi2 x y index "
                        f"reliability phase reliability*100), the data rows have {n_columns}")
    return found


def read_ang(path: Path) -> RawMap:
    name = path.name
    header, n_header = _header_lines(path, lambda line: line.startswith("#") or not line.strip())
    text = "\n".join(header)
    vendor = "astar" if "ACOM" in text else "emsoft" if "EMsoft" in text else "tsl"
    data = read_table(path, name, comments="#", skiprows=n_header, encoding="latin-1")
    columns = _ang_columns(header, vendor, data.shape[1], name)
    phases = _ang_phases(header)
    if not phases:
        phases = {1: FilePhase("phase 1", None, "no phase in the header")}
    if "phase" in columns:
        phase, declared = declared_pixels(data[:, columns["phase"]], phases)
    else:
        if len(phases) > 1:
            raise CaseError(f"{name}: the header declares {len(phases)} phases, but the data "
                            f"rows have no phase column")
        phase = np.full(len(data), next(iter(phases)), np.int64)
        declared = np.ones(len(data), bool)
    indexed = declared.copy()
    quality = {}
    if "confidence" in columns:
        confidence = data[:, columns["confidence"]]
        if vendor != "emsoft":  # CI / reliability -1: not indexed (EMsoft has no marker)
            indexed &= ~(confidence < 0)
        quality["confidence"] = confidence
    euler = data[:, :3]
    check_euler_angles(name, euler, indexed, 2 * np.pi, "rad")
    x, y = data[:, 3].copy(), data[:, 4].copy()
    check_coordinates(name, x, y)
    euler = np.where(indexed[:, None], euler, 0.0)
    unit_nm = 1.0 if vendor == "astar" else 1e3  # ASTAR writes nm, TSL and EMsoft um
    notes = []
    undeclared = ~declared & (quality["confidence"] >= 0 if "confidence" in quality else True)
    if undeclared.any():  # (TSL marks its phase-0 pixels with CI -1 as well)
        notes.append(f"{int(undeclared.sum())} pixel(s) of phase ids the header does not "
                     f"declare, counted as not indexed")
    return RawMap(name, vendor, euler, x, y, unit_nm, phase, indexed, quality, phases,
                  _ang_header_grid(header), tuple(notes))


# --- .ctf --------------------------------------------------------------------------------------

# Oxford's Laue group numbers (the fourth field of a .ctf phase line).
CTF_LAUE = {1: "-1", 2: "2/m", 3: "mmm", 4: "4/m", 5: "4/mmm", 6: "-3", 7: "-3m", 8: "6/m",
            9: "6/mmm", 10: "m-3", 11: "m-3m"}
CTF_REQUIRED = ("Phase", "X", "Y", "Euler1", "Euler2", "Euler3")


def _is_column_line(line: str) -> bool:
    return line.split()[:3] == ["Phase", "X", "Y"]


def _ctf_header(header: list[str], name: str) -> tuple[dict[str, str], dict[int, FilePhase]]:
    fields: dict[str, str] = {}
    phases: dict[int, FilePhase] = {}
    for k, line in enumerate(header):
        cells = line.split("\t") if "\t" in line else line.split(None, 1)
        if len(cells) >= 2 and cells[0].strip() in ("JobMode", "XCells", "YCells", "XStep",
                                                     "YStep", "NoMeas", "Author", "Prj"):
            fields[cells[0].strip()] = cells[1].strip()
        if cells[0].strip() == "Phases":
            count = _number(cells[1]) if len(cells) > 1 else None
            if count is None or count != int(count) or count < 0:
                raise CaseError(f"{name}: header line {k + 1}: 'Phases' must be followed by the "
                                f"number of phases")
            for j in range(int(count)):
                if k + 1 + j >= len(header):
                    raise CaseError(f"{name}: the header announces {int(count)} phases but "
                                    f"lists {j}")
                phases[j + 1] = _ctf_phase(header[k + 1 + j].split("\t"), j + 1)
    return fields, phases


def _ctf_phase(cells: list[str], pid: int) -> FilePhase:
    """A .ctf phase line: lattice a;b;c, angles, name, Laue group, space group, ..."""
    name = cells[2].strip() if len(cells) > 2 and cells[2].strip() else f"phase {pid}"
    laue = _number(cells[3]) if len(cells) > 3 else None
    space = _number(cells[4]) if len(cells) > 4 else None
    symmetry, declared = None, "no Laue group"
    if laue is not None and int(laue) in CTF_LAUE:
        symmetry = phase_symmetry(point_group=CTF_LAUE[int(laue)])
        declared = f"Laue group {int(laue)} ({CTF_LAUE[int(laue)]})"
    elif space is not None and 1 <= space <= 230:
        symmetry = phase_symmetry(space_group=int(space))
        declared = f"space group {int(space)}"
    return FilePhase(name, symmetry, declared)


def read_ctf(path: Path) -> RawMap:
    name = path.name
    header, n_header = _header_lines(path, lambda line: not _is_column_line(line))
    with open(path, encoding="latin-1") as f:
        for _ in range(n_header):
            next(f)
        column_line = next(f, "")
    if not _is_column_line(column_line):
        raise CaseError(f"{name}: no column line 'Phase X Y Bands Error Euler1 ...' (not a "
                        f".ctf orientation map?)")
    fields, phases = _ctf_header(header, name)
    job = fields.get("JobMode", "Grid")
    if job.lower() == "interactive":
        points = f"{fields['NoMeas']} " if "NoMeas" in fields else ""
        raise CaseError(f"{name}: JobMode Interactive: the file holds {points}points measured "
                        f"one by one at scattered positions, not a grid map; netsolve needs a "
                        f"grid scan (JobMode Grid)")
    columns = column_line.split()
    missing = [c for c in CTF_REQUIRED if c not in columns]
    if missing:
        raise CaseError(f"{name}: the column line has no {', '.join(missing)} column")
    decimal_comma = "," in fields.get("XStep", "")
    with open(path, encoding="latin-1") as f:
        for _ in range(n_header + 1):
            next(f)
        first = f.readline()
        decimal_comma |= "," in first
        if decimal_comma:  # tab-separated cells: every comma is a decimal comma
            source = io.StringIO((first + f.read()).replace(",", "."))
            data = read_table(source, name)
        else:
            data = None
    if data is None:
        data = read_table(path, name, skiprows=n_header + 1, encoding="latin-1")
    if data.shape[1] != len(columns):
        raise CaseError(f"{name}: the data rows have {data.shape[1]} columns, expected "
                        f"{len(columns)} ({' '.join(columns)})")
    col = {c: data[:, k] for k, c in enumerate(columns)}
    phase, declared = declared_pixels(col["Phase"], phases)
    indexed = declared & (col["Phase"] != 0)
    text = "\n".join(header)
    vendor = ("emsoft" if "EMsoft" in text else "astar" if "ACOM" in text
              else "mtex" if "Created from mtex" in text else "oxford")
    if vendor == "oxford":  # Oxford / Bruker: zero bands or an error code = no solution
        if "Bands" in col:
            indexed &= col["Bands"] != 0
        if "Error" in col:
            indexed &= col["Error"] == 0
    quality = {}
    if "MAD" in col and vendor != "emsoft":  # EMsoft writes its dot product there
        quality["mad_deg"] = col["MAD"]
    if "Bands" in col and vendor != "emsoft":
        quality["bands"] = col["Bands"]
    euler = np.column_stack([col["Euler1"], col["Euler2"], col["Euler3"]])
    check_euler_angles(name, euler, indexed, 360.0, "degrees")
    check_coordinates(name, col["X"], col["Y"])
    euler = np.where(indexed[:, None], np.radians(euler), 0.0)
    grid = HeaderGrid(_cells(fields.get("XCells")), _cells(fields.get("YCells")), None,
                      _number(fields.get("XStep", "")), _number(fields.get("YStep", "")))
    notes = ["decimal commas read as decimal points"] if decimal_comma else []
    return RawMap(name, vendor, euler, col["X"].copy(), col["Y"].copy(), 1e3, phase, indexed,
                  quality, phases, grid, tuple(notes))


def _cells(text: str | None) -> int | None:
    number = _number(text or "")
    return int(number) if number is not None and number == int(number) and number > 0 else None

"""The result directory of ``netsolve run``, written atomically.

A result directory holds ``summary.json``, ``fields.npz`` and the analysis tables
``grain_table.csv`` and ``gb_table.csv`` (everything ``netsolve export`` and ``netsolve plot``
need to rebuild files and figures later), a copy of the case file, and the export formats and
figures chosen in ``[output]``. Everything is written into a temporary
sibling directory that is renamed into place at the end, so an interrupted run never leaves a
half-written result.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import CaseError
from .data import ResultData, fields_arrays, result_data

RESULT_MARKER = "summary.json"


def write_result(result, out_dir: str | Path, *, figures: bool | tuple[str, ...] = True,
                 formats: tuple[str, ...] | None = None) -> Path:
    """Write a result directory atomically and return its path.

    ``figures``: True for the case's ``[output] figures``, False for none, or figure names;
    ``formats``: export formats (None: the case's ``[output] formats``).
    """
    from . import export_formats
    from .grain_tables import write_tables

    out_dir = Path(out_dir).absolute()
    output = result.case.output
    names = output.figures if figures is True else (() if figures is False else figures)
    formats = output.formats if formats is None else formats
    data = result_data(result)
    with atomic_directory(out_dir) as tmp:
        (tmp / "summary.json").write_text(json.dumps(result.summary(), indent=2, allow_nan=False) + "\n")
        write_fields_npz(data, tmp / "fields.npz")
        if result.case.path is not None:
            shutil.copyfile(result.case.path, tmp / "case.toml")
        write_tables(data, tmp)  # the analysis tables come with every result
        export_formats(data, tmp, tuple(f for f in formats if f != "csv"))
        if names:
            from .. import plot

            plot.write_figures(data, tmp, names, output.figure_formats,
                               contours=output.contours, streamlines=output.streamlines)
    return out_dir


def write_fields_npz(result, path: Path) -> None:
    """Voxel fields and what is needed to rebuild every export and figure: potential (V),
    current_density (A/m^2), electric_field (V/m), labels, phase, floating (bool),
    electrode_index, voxel_size_nm, thickness_nm, the grain orientation table, grain
    conductivity tensors (S/m), the GB faces (``gb_face_*``), electrode names and edges, and
    the GB faces of the GB table with their segment rows (``gb_table_face_*``).
    ``result``: a :class:`~netsolve.result.Result` or :class:`ResultData`."""
    data = result if isinstance(result, ResultData) else result_data(result)
    np.savez(path, **fields_arrays(data))


@contextmanager
def staged_files(folder: Path):
    """Yield a temporary folder inside ``folder``; on success move every file in it into
    ``folder`` (replacing files of the same name), on failure delete it: files are added to a
    result directory whole or not at all."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CaseError(f"cannot create output directory {folder} ({exc})") from None
    tmp = Path(tempfile.mkdtemp(prefix=".export.tmp-", dir=folder))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for item in sorted(tmp.iterdir()):
        os.replace(item, folder / item.name)
    tmp.rmdir()


class atomic_directory:
    """Context manager: yields a temporary directory that replaces ``target`` on success.

    An existing ``target`` is replaced only if it is empty or a previous result (it holds
    ``summary.json``); anything else is refused, so ``-o`` can never wipe a user's folder.
    """

    def __init__(self, target: Path):
        self.target = target
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        target = self.target
        if target.exists():
            if not target.is_dir():
                raise CaseError(f"output {target} exists and is not a directory")
            if any(target.iterdir()) and not (target / RESULT_MARKER).exists():
                raise CaseError(f"output directory {target} exists and is not a netsolve "
                                f"result (no {RESULT_MARKER}); choose another -o or remove it")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaseError(f"cannot create output directory {target.parent} ({exc})") from None
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        os.chmod(self.tmp, 0o755)
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(self.target, old)
            os.rename(self.tmp, self.target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(self.tmp, self.target)
        return False

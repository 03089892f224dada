"""The result directory of ``netsolve run``, written atomically.

A result directory holds ``summary.json``, ``fields.npz`` and the analysis tables
``grain_table.csv`` and ``gb_table.csv`` (everything ``netsolve export`` and ``netsolve plot``
need to rebuild files and figures later), a copy of the case file, and the export formats and
figures chosen in ``[output]``, and ``netsolve_manifest.json`` (netsolve's files). Everything
is written into a temporary sibling directory that takes the place of the previous result at
the end (:mod:`netsolve.atomic`), so an interrupted run never leaves a half-written result.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ..progress import stage
from ..atomic import atomic_directory
from .data import ResultData, fields_arrays, result_data

RESULT_MARKER = "summary.json"
# left out of the default figures of a map without grain boundaries (one grain: nothing to
# compare, no GB to colour); an explicit `[output] figures` or `netsolve plot` draws them
GRAIN_BOUNDARY_FIGURES = ("grains", "gb")


def write_result(result, out_dir: str | Path, *, figures: bool | tuple[str, ...] = True,
                 formats: tuple[str, ...] | None = None, overwrite: bool = False) -> Path:
    """Write a result directory atomically and return its path.

    ``figures``: True for the case's ``[output] figures``, False for none, or figure names;
    ``formats``: export formats (None: the case's ``[output] formats``). An existing
    non-empty ``out_dir`` is a CaseError unless ``overwrite``; then netsolve's files in it are
    replaced and the others kept (:mod:`netsolve.atomic`).
    """
    from . import export_formats
    from .grain_tables import write_tables

    output = result.case.output
    names = output.figures if figures is True else (() if figures is False else figures)
    formats = output.formats if formats is None else formats
    target = atomic_directory(out_dir, overwrite=overwrite)
    with target as tmp:
        # The grain and GB tables are analysis (computed here unless the summary needed them):
        # a stage of their own, so that a slow table is not taken for slow writing.
        stage("tables", "grain and GB tables")
        data = result_data(result)
        stage("write", f"writing {target.target}: summary.json, fields.npz")
        (tmp / "summary.json").write_text(json.dumps(result.summary(), indent=2,
                                                     allow_nan=False) + "\n")
        write_fields_npz(data, tmp / "fields.npz")
        if result.case.path is not None:
            shutil.copyfile(result.case.path, tmp / "case.toml")
        stage("write-tables", "writing grain_table.csv, gb_table.csv")
        write_tables(data, tmp)  # the analysis tables come with every result
        export_formats(data, tmp, tuple(f for f in formats if f != "csv"))
        if figures is True and not output.figures_given and len(data.gb_face_axis) == 0:
            names = tuple(n for n in names if n not in GRAIN_BOUNDARY_FIGURES)
        write_figures(data, tmp, names, output.figure_formats, contours=output.contours,
                      streamlines=output.streamlines)
    return target.target


def write_figures(data, folder: Path, names, formats, **options) -> list[Path]:
    """:func:`netsolve.plot.write_figures`, one stage line per figure."""
    if not names:
        return []
    from .. import plot

    written = []
    for name in names:
        stage("write-figures", f"drawing {plot.FIGURES[name][0]} ({', '.join(formats)})")
        written += plot.write_figures(data, folder, (name,), formats, **options)
    return written


def write_fields_npz(result, path: Path) -> None:
    """Voxel fields and what is needed to rebuild every export and figure: potential (V),
    current_density (A/m^2), electric_field (V/m), labels, phase, floating (bool),
    electrode_index, voxel_size_nm, thickness_nm, the grain orientation table, grain
    conductivity tensors (S/m), the GB faces (``gb_face_*``), electrode names and edges, and
    the GB faces of the GB table with their segment rows (``gb_table_face_*``).
    ``result``: a :class:`~netsolve.result.Result` or :class:`ResultData`."""
    data = result if isinstance(result, ResultData) else result_data(result)
    np.savez(path, **fields_arrays(data))

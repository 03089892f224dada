"""Stage 7: results -> files.

- :mod:`.result_dir`: the result directory of ``netsolve run``, ``fields.npz``;
- :func:`atomic_directory`, :func:`staged_files`, :func:`atomic_file` (from
  :mod:`netsolve.atomic`): crash-safe writing;
- :mod:`.data`: :class:`ResultData`, what exporters and figures read (from a Result or a saved
  result directory);
- :mod:`.vti` (VTK ImageData), :mod:`.mesh` (meshio .vtu / .xdmf + .h5), :mod:`.gbnet` (the
  grain-boundary network), :mod:`.grain_tables` (the analysis tables as CSV, GraphML).

:func:`export_formats` writes any set of :data:`EXPORT_FORMATS` into a folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..case import EXPORT_FORMATS
from ..progress import stage
from ..tables import check_choices
from ..atomic import atomic_directory, atomic_file, staged_files
from .data import ResultData, read_result_dir, result_data
from .result_dir import RESULT_MARKER, write_fields_npz, write_figures, write_result

#: format -> the files it writes (relative to the output folder)
EXPORT_FILES = {"vti": ("fields.vti",), "vtu": ("fields.vtu",),
                "xdmf": ("fields.xdmf", "fields.h5"), "gbnet": ("gb_network.vtu",),
                "csv": ("grain_table.csv", "gb_table.csv"), "graphml": ("grains.graphml",)}

__all__ = ["EXPORT_FILES", "EXPORT_FORMATS", "RESULT_MARKER", "ResultData", "atomic_directory",
           "atomic_file", "check_formats", "export_files", "export_formats", "read_result_dir",
           "result_data", "staged_files", "write_fields_npz", "write_figures", "write_result"]


def check_formats(formats, what: str = "--format") -> tuple[str, ...]:
    """Validate export format names (a CaseError names the unknown one)."""
    return check_choices(formats, EXPORT_FORMATS, what, "export format")


def export_files(formats) -> tuple[str, ...]:
    """The names of the files the given export formats write."""
    return tuple(n for name in check_formats(formats) for n in EXPORT_FILES[name])


def export_formats(data: ResultData, folder: str | Path, formats, *,
                   voxel_extra: dict[str, np.ndarray] | None = None) -> list[Path]:
    """Write the given formats of a result into ``folder`` (which must exist); return the paths.

    ``voxel_extra``: more grid-shaped arrays for the voxel files (.vti, .vtu, .xdmf).
    """
    from .gbnet import write_gb_network
    from .grain_tables import write_result_graphml, write_tables
    from .mesh import write_vtu, write_xdmf
    from .vti import write_vti

    folder = Path(folder)
    written: list[Path] = []
    for name in check_formats(formats):
        target = folder / EXPORT_FILES[name][0]
        stage("write-exports", f"writing {', '.join(EXPORT_FILES[name])}")
        if name == "vti":
            written.append(write_vti(data, target, extra=voxel_extra))
        elif name == "vtu":
            written.append(write_vtu(data, target, extra=voxel_extra))
        elif name == "xdmf":
            written += [write_xdmf(data, target, extra=voxel_extra), target.with_suffix(".h5")]
        elif name == "gbnet":
            written.append(write_gb_network(data, target))
        elif name == "csv":
            written += write_tables(data, folder)
        elif name == "graphml":
            written.append(write_result_graphml(data, target))
    return written

"""``source = "labels"``: an integer label array from .npy / .npz (never unpickled) or a TIFF
(a multi-page TIFF is a 3D stack, page k = z index k; see ``image.read_image`` for the axis
transform); orientations optionally from a CSV keyed by ``id`` (``orientation_table``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CaseError
from ..input_files import input_path, load_array

INT32 = np.iinfo(np.int32)


def read_options(t, base_dir: Path, grid) -> dict:
    orientations = t.string("orientations", None)
    return {"path": input_path(base_dir, t.string("path")), "array": t.string("array", None),
            "orientations": input_path(base_dir, orientations) if orientations else None}


def load(options: dict, case):
    from . import SourceMap
    from .image import read_label_image
    from .orientation_table import read_orientation_csv

    path = options["path"]
    if path.suffix.lower() in (".tif", ".tiff"):
        labels = read_label_image(path, case.grid.shape)
    else:
        labels = read_label_array(path, case.grid.shape, options["array"])
    orientations = None
    if options["orientations"] is not None:
        table = read_orientation_csv(options["orientations"])
        if table.key != "id":
            raise CaseError(f"{table.path.name}: source \"labels\" matches orientations by grain "
                            f"id: the table needs an 'id' column, not 'color'")
        orientations = table.orientations()
    return SourceMap(labels, orientations)


def read_label_array(path: Path, shape: tuple[int, ...], array_key: str | None = None) -> np.ndarray:
    """Read an integer label array of the given shape from .npy or .npz."""
    def choose(keys: list[str]) -> str:
        key = array_key or ("labels" if "labels" in keys else (keys[0] if len(keys) == 1 else None))
        if key not in keys:
            raise CaseError(f"{path.name}: choose the array with microstructure.array = one of "
                            f"{keys}")
        return key

    array = load_array(path, "label file", shape, "label array", choose=choose)
    if not np.issubdtype(array.dtype, np.integer):
        raise CaseError(f"{path.name}: labels must be an integer array, got dtype {array.dtype}")
    return label_int32(array, path.name)


def label_int32(values: np.ndarray, file: str) -> np.ndarray:
    """Integer label values as int32, the label map's type; a value outside int32 is an error
    naming the first such voxel (a cast would wrap it onto another grain or a phase)."""
    if values.dtype.itemsize < 4 or values.dtype == np.int32:
        return values.astype(np.int32)
    low, high = values.min(initial=0), values.max(initial=0)
    if low < INT32.min or high > INT32.max:
        bad = int(high) if high > INT32.max else int(low)
        where = np.unravel_index(int(np.argmax(values == bad)), values.shape)
        raise CaseError(f"{file}: label value {bad} (at voxel {[int(i) for i in where]}) is "
                        f"outside the int32 range [{INT32.min}, {INT32.max}] of label maps")
    return values.astype(np.int32)

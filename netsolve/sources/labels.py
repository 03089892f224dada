"""``source = "labels"``: an integer label array from .npy / .npz (never unpickled) or a TIFF
(a multi-page TIFF is a 3D stack, page k = z index k; see ``image.read_image`` for the axis
transform); orientations optionally from a CSV keyed by ``id`` (``orientation_table``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CaseError


def read_options(t, base_dir: Path, grid) -> dict:
    orientations = t.string("orientations", None)
    return {"path": (base_dir / t.string("path")).resolve(), "array": t.string("array", None),
            "orientations": (base_dir / orientations).resolve() if orientations else None}


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


def load_array(path: Path, what: str):
    """``np.load`` without pickles; a missing or unreadable file is a CaseError naming it."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CaseError(f"{path.name}: {what} not found ({path})") from None
    except (OSError, ValueError) as exc:
        raise CaseError(f"{path.name}: {what} is not a readable .npy/.npz array without "
                        f"pickles ({exc})") from None


def read_label_array(path: Path, shape: tuple[int, ...], array_key: str | None = None) -> np.ndarray:
    """Read an integer label array of the given shape from .npy or .npz."""
    loaded = load_array(path, "label file")
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.files)
            key = array_key or ("labels" if "labels" in keys else (keys[0] if len(keys) == 1 else None))
            if key not in keys:
                raise CaseError(f"{path.name}: choose the array with microstructure.array = one of "
                                f"{keys}")
            array = loaded[key]
    else:
        array = loaded
    if not np.issubdtype(array.dtype, np.integer):
        raise CaseError(f"{path.name}: labels must be an integer array, got dtype {array.dtype}")
    if tuple(array.shape) != tuple(shape):
        raise CaseError(f"{path.name}: label array has shape {list(array.shape)}, but grid.shape "
                        f"is {list(shape)}")
    return array.astype(np.int32)

"""``source = "image"``: the label map from a PNG or TIFF image (read with Pillow).

Two kinds of image, told apart by the image mode:

- **label images** (8/16-bit greyscale, palette indices, 32-bit integer TIFF): pixel value
  v > 0 is grain id v, values <= 0 are phase/electrode labels, and ``colors`` maps grey values
  to phases (``{ "0" = "void" }``);
- **colour-coded maps** (RGB, RGBA; the alpha channel is ignored): ``colors`` maps colours to
  phases (``{ "#000000" = "zro2" }``), every other distinct colour is one grain. Grain ids are
  1..n in increasing order of the colour value 0xRRGGBB (so "#0000ff" comes before "#ff0000"),
  which does not depend on where the colours are in the image. A palette image is read as
  colours when ``colors`` has ``#rrggbb`` keys or the orientation table has a ``color`` column,
  else as indices.

Orientations come from the optional ``orientations`` CSV (``orientation_table``; keyed by id, or
by colour for colour-coded maps) and/or ``[[grains]]`` (by grain id; these win).

Axis convention: image row 0 is the top (y max), so each image (slice) becomes
``labels = image[::-1, :].T`` with x = axis 0. The pages of a multi-page TIFF are the z slices
(page k = z index k) of a 3D grid.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..case import PHASE_ALIASES, PHASE_NAMES
from ..errors import CaseError
from ..input_files import input_path, open_image
from ..tables import Table
from .labels import label_int32

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_VALUE = re.compile(r"-?[0-9]+")


def read_options(t, base_dir: Path, grid) -> dict:
    path = input_path(base_dir, t.string("path"))
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        t.fail(f"'microstructure.path' = {path.name!r}: source \"image\" reads PNG or TIFF files "
               f"({', '.join(IMAGE_SUFFIXES)})")
    orientations = t.string("orientations", None)
    colors, color_keys = read_colors(t)
    return {"path": path, "colors": colors, "color_keys": color_keys,
            "orientations": input_path(base_dir, orientations) if orientations else None}


def read_colors(t) -> tuple[dict[int, str], str | None]:
    """``microstructure.colors``: {"#rrggbb" or "<grey value>": phase name}. Returns the map
    {0xRRGGBB or grey value: canonical phase name} and the kind of key ("color", "value", None)."""
    raw = t.raw("colors", {})
    ct = Table(raw, "microstructure.colors", t.origin)
    colors: dict[int, str] = {}
    kinds: set[str] = set()
    for key in list(raw):
        if _COLOR.fullmatch(key):
            kind, code = "color", int(key[1:], 16)
        elif _VALUE.fullmatch(key):
            kind, code = "value", int(key)
        else:
            ct.fail(f"'microstructure.colors' key {key!r} must be a colour \"#rrggbb\" (RGB "
                    f"images) or an integer grey/label value such as \"0\" (label images)")
        name = ct.string(key, choices=PHASE_NAMES + tuple(PHASE_ALIASES))
        if code in colors:
            ct.fail(f"'microstructure.colors' names {key!r} twice")
        colors[code] = PHASE_ALIASES.get(name, name)
        kinds.add(kind)
    if len(kinds) > 1:
        ct.fail("'microstructure.colors' mixes colours (\"#rrggbb\") and grey values: an image is "
                "either colour-coded (RGB) or a label image")
    ct.finish()
    return colors, (kinds.pop() if kinds else None)


def load(options: dict, case):
    from . import SourceMap, phase_values
    from .orientation_table import read_orientation_csv

    path: Path = options["path"]
    colors: dict[int, str] = options["colors"]
    table = read_orientation_csv(options["orientations"]) if options["orientations"] else None
    by_color = options["color_keys"] == "color" or (table is not None and table.key == "color")
    codes, is_color = read_image(path, case.grid.shape, palette_as_color=by_color)
    kind = "a colour-coded (RGB) image" if is_color else "a label image (grey/palette/integer)"
    if options["color_keys"] is not None and (options["color_keys"] == "color") != is_color:
        example = '"0" = "void"' if not is_color else '"#000000" = "void"'
        raise CaseError(f"{path.name} is {kind}: write the keys of 'microstructure.colors' as "
                        f"{'colours' if is_color else 'grey values'} ({example})")
    if table is not None and table.key == "color" and not is_color:
        raise CaseError(f"{table.path.name}: a 'color' column needs a colour-coded (RGB) image, "
                        f"but {path.name} is {kind}: key the table by 'id'")

    spec = case.microstructure
    electrode_labels = [e.region.label for e in case.electrodes if e.region.kind == "label"]
    avoid = [*electrode_labels, int(codes.min()) if codes.size and not is_color else 0]
    phases = phase_values(sorted(set(colors.values())), spec.phases, avoid)
    if not is_color:
        labels = label_int32(codes, path.name)
        for value, name in colors.items():  # one pass per table entry
            labels[codes == value] = phases[name]
        allowed = {*spec.phases.values(), *phases.values(), *electrode_labels}
        bad = np.setdiff1d(np.unique(labels[labels <= 0]), list(allowed))
        if bad.size:
            raise CaseError(f"{path.name}: pixel values {bad[:10].tolist()} are neither grain ids "
                            f"(> 0) nor a phase: map them in 'microstructure.colors' (e.g. "
                            f"colors = {{ \"{bad[0]}\" = \"void\" }}) or [microstructure.phases]")
        orientations = table.orientations() if table is not None else None
        return SourceMap(labels, orientations, phases)

    labels = np.zeros(codes.shape, dtype=np.int32)
    is_phase = np.zeros(codes.shape, dtype=bool)
    for code, name in colors.items():
        hit = codes == code
        labels[hit] = phases[name]
        is_phase |= hit
    grain_colors, inverse = np.unique(codes[~is_phase], return_inverse=True)
    labels[~is_phase] = inverse.reshape(-1) + 1
    ids = {color_name(c): k + 1 for k, c in enumerate(grain_colors.tolist())}
    orientations = None
    if table is not None and table.key == "color":
        for row in table.rows:
            if row.key not in ids:
                what = (f"is mapped to phase '{colors[int(row.key[1:], 16)]}' in "
                        f"'microstructure.colors'" if int(row.key[1:], 16) in colors
                        else f"does not occur in {path.name}")
                raise CaseError(f"{table.path.name}: line {row.line}, column 'color': colour "
                                f"{row.key} {what}")
        orientations = table.orientations(ids)
    elif table is not None:
        orientations = table.orientations()
    if case.materials.conductivity_model != "isotropic":
        known = {g.grain_id for g in case.grains}
        if orientations is not None:
            known.update(orientations.grain_ids.tolist())
        missing = [(c, gid) for c, gid in ids.items() if gid not in known]
        if missing:
            listed = ", ".join(f"{c} (id {gid})" for c, gid in missing[:10])
            hint = (" Many colours: anti-aliasing or lossy compression may have blended colours "
                    "at the grain boundaries." if len(missing) > 10 else "")
            raise CaseError(f"{path.name}: {len(missing)} colour(s) have no orientation: "
                            f"{listed}{' ...' if len(missing) > 10 else ''}. Add them to the "
                            f"orientations CSV (color column), give [[grains]] entries for the ids, "
                            f"or map them to a phase in 'microstructure.colors'.{hint}")
    return SourceMap(labels, orientations, phases)


def color_name(code: int) -> str:
    return f"#{code:06x}"


def read_image(path: Path, shape: tuple[int, ...], *,
               palette_as_color: bool = False) -> tuple[np.ndarray, bool]:
    """Every page of a PNG/TIFF as an int64 array of grid ``shape`` (after the axis transform;
    page k = z index k). Returns (values, is_color): label values, or 0xRRGGBB codes when the
    image is colour-coded. The size and page count are checked against the grid before any
    page is decoded."""
    from PIL import ImageSequence

    slices, modes = [], set()
    with open_image(path, "image file") as img:
        _check_size(path, img.size, getattr(img, "n_frames", 1), shape)
        first = None
        for k, page in enumerate(ImageSequence.Iterator(img)):
            if first is None:
                first = (page.size, page.mode)
            elif (page.size, page.mode) != first:
                raise CaseError(f"{path.name}: slice {k} (page {k + 1}) is "
                                f"{_describe(page.size, page.mode)}, but slice 0 is "
                                f"{_describe(*first)}: all slices of a stack need the same "
                                f"size and mode")
            values, is_color = _page_values(page, path, k, palette_as_color)
            slices.append(values[::-1, :].T)
            modes.add(is_color)
    array = np.stack(slices, axis=-1)
    if len(shape) == 2:
        array = array[..., 0]
    return array, modes.pop()


def _check_size(path: Path, size: tuple[int, int], n_pages: int, shape: tuple[int, ...]) -> None:
    """The image (w x h pixels, n pages) against grid.shape, from the header alone."""
    w, h = size
    found = [w, h] if len(shape) == 2 and n_pages == 1 else [w, h, n_pages]
    if tuple(found) == tuple(shape):
        return
    pages = f" x {n_pages} slices" if n_pages > 1 else ""
    hint = " (a 2D grid needs a single-page image)" if len(shape) == 2 and n_pages > 1 else ""
    raise CaseError(f"{path.name}: the image is {w} x {h} pixels{pages}, i.e. shape "
                    f"{found} as [x, y{', z' if len(found) == 3 else ''}] (x = column, y = row "
                    f"from the bottom), but grid.shape is {list(shape)}{hint}")


def read_label_image(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """An integer label map (int32) from a label image or TIFF stack (no colour images)."""
    values, is_color = read_image(path, shape)
    if is_color:
        raise CaseError(f"{path.name}: an RGB image is not a label map: use [microstructure] "
                        f"source = \"image\" for colour-coded maps")
    return label_int32(values, path.name)


def _describe(size, mode) -> str:
    return f"{size[0]} x {size[1]} pixels, mode {mode}"


def _page_values(page, path: Path, k: int, palette_as_color: bool) -> tuple[np.ndarray, bool]:
    """One page as (rows, cols) int64 values and whether they are 0xRRGGBB colour codes."""
    mode = page.mode
    if mode in ("RGB", "RGBA") or (mode == "P" and palette_as_color):
        rgb = np.asarray(page.convert("RGB"), dtype=np.int64)
        return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2], True
    if mode in ("1", "L", "P", "I") or mode.startswith("I;16"):
        return np.asarray(page).astype(np.int64), False
    raise CaseError(f"{path.name}: slice {k} has image mode {mode!r}, which is not supported: "
                    f"label maps are 8/16-bit greyscale, palette or 32-bit integer images "
                    f"(not floating point), colour-coded maps RGB or RGBA")

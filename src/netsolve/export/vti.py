"""VTK XML ImageData (.vti) for voxel fields, written directly (no VTK dependency).

One ``<Piece>`` with ``<CellData>`` (a voxel is a VTK cell), binary appended data as in
:mod:`.vtk_xml` (VTK file-format version 1.0, UInt64 headers, zlib where it pays). VTK orders
cells with x fastest, i.e. Fortran order of netsolve's ``[x, y, z]`` arrays. A 2D grid is one
cell thick (point extent 0..1 in z, z spacing = the lamella thickness), so ParaView shows the
lamella as the slab it is and integrates over its volume. Coordinates (Origin, Spacing) are in
metres.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ..microstructure import Phase
from .data import ResultData
from .vtk_xml import VTK_TYPES, AppendedData


def voxel_arrays(data: ResultData, extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The cell arrays of the .vti: name -> grid-shaped (scalar) or grid + (k,) array.

    Vectors are written with 3 components (z = 0 in 2D) so ParaView can draw glyphs. ``gb_behaviour`` (with a
    GB table): the behaviour code of the GBs a voxel touches
    (:func:`netsolve.analysis.behaviour_map.voxel_behaviour_codes`). ``extra`` adds arrays of
    the grid shape, under their own names.
    """
    ndim = data.grid.ndim
    micro = data.microstructure
    arrays: dict[str, np.ndarray] = {
        "potential_V": data.potential,
        "current_density_magnitude_A_per_m2": data.current_density_magnitude,
        "current_density_A_per_m2": data.current_density,  # 2D: z = 0 added when written
        "electric_field_V_per_m": data.electric_field,
        "grain_id": np.where(micro.phase == Phase.GRAIN, micro.labels, 0).astype(np.int32),
        "phase": micro.phase,
        "electrode": micro.electrode_index.astype(np.int16),
        "floating": data.floating.astype(np.uint8),
    }
    if data.gb_table is not None:
        from ..analysis.behaviour_map import voxel_behaviour_codes

        arrays["gb_behaviour"] = voxel_behaviour_codes(data.gb_table, data.grid.shape)
    for (i, j), component in data.voxel_tensor_components().items():
        arrays[f"sigma_{'xyz'[i]}{'xyz'[j]}_S_per_m"] = component
    if data.error_indicator is not None:
        arrays["error_indicator_W"] = data.error_indicator
    for name, array in (extra or {}).items():
        if array.shape[:ndim] != data.grid.shape:
            raise ValueError(f"extra array {name!r} has shape {array.shape}, expected the grid "
                             f"shape {data.grid.shape} (+ components)")
        arrays[name] = array
    return arrays


def write_vti(data: ResultData, path: str | Path, *, compress: bool = True,
              extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write the voxel fields of a result as VTK ImageData (see :func:`voxel_arrays`)."""
    grid = data.grid
    spacing = (grid.voxel_size_m,) * 2 + ((grid.voxel_size_m if grid.ndim == 3 else
                                          grid.thickness_m),)
    return write_image_data(path, grid.shape, spacing, voxel_arrays(data, extra),
                            compress=compress)


def write_image_data(path: str | Path, shape: tuple[int, ...], spacing: tuple[float, float, float],
                     cell_arrays: dict[str, np.ndarray], *, compress: bool = True) -> Path:
    """Write cell arrays (grid shape or grid shape + (k,)) on a regular grid of ``shape`` cells
    (2 or 3 axes) with the given cell size per axis, as a binary appended .vti. Vectors of 2
    components on a 2D grid get a third (z = 0)."""
    ndim = len(shape)
    cells = tuple(shape) + (1,) * (3 - ndim)
    extent = " ".join(f"0 {n}" for n in cells)  # point indices: a 2D grid is one cell thick
    data = AppendedData(compress)
    headers = [data.tag(name, vtk_order(np.asarray(array), shape))
               for name, array in cell_arrays.items()]
    body = [f'  <ImageData WholeExtent="{extent}" Origin="0 0 0" '
            f'Spacing="{" ".join(repr(float(s)) for s in spacing)}">',
            f'    <Piece Extent="{extent}">',
            "      <CellData>", *headers, "      </CellData>",
            "    </Piece>", "  </ImageData>"]
    return data.write(path, "ImageData", body)


def vtk_order(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A grid array as VTK cells: (n_cells,) or (n_cells, k), x fastest (one copy: the
    transposed view is copied into C order; 2D vectors padded to 3 components there)."""
    ndim = len(shape)
    components = array.shape[ndim:]
    n_comp = int(np.prod(components)) if components else 1
    if not components:
        return array.T.reshape(-1)  # the transpose of a C array: x fastest
    flat = array.reshape(tuple(shape) + (n_comp,))
    padded = 3 if (ndim == 2 and n_comp == 2) else n_comp
    out = np.zeros(tuple(reversed(shape)) + (padded,), dtype=flat.dtype)
    out[..., :n_comp] = flat.transpose(tuple(reversed(range(ndim))) + (ndim,))
    return out.reshape(-1, padded)


def read_vti(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a .vti written by :func:`write_image_data` back: (ImageData attributes, cell arrays
    as flat (n_cells,) or (n_cells, k) arrays in VTK order). For tests and checks."""
    import xml.etree.ElementTree as ET

    raw = Path(path).read_bytes()
    start = raw.index(b'<AppendedData encoding="raw">')
    marker = raw.index(b"_", start) + 1
    root = ET.fromstring(raw[:marker - 1].rstrip() + b"</AppendedData></VTKFile>")
    header_type = np.dtype("<u8" if root.get("header_type") == "UInt64" else "<u4")
    compressed = root.get("compressor") == "vtkZLibDataCompressor"
    image = root.find("ImageData")
    arrays = {}
    for node in image.iter("DataArray"):
        pos = marker + int(node.get("offset"))
        dtype = np.dtype({v: k for k, v in VTK_TYPES.items()}[node.get("type")]).newbyteorder("<")
        size = header_type.itemsize
        if compressed:
            n_blocks = int(np.frombuffer(raw, header_type, 1, pos)[0])
            head = np.frombuffer(raw, header_type, 3 + n_blocks, pos)
            pos += size * (3 + n_blocks)
            parts = []
            for length in head[3:]:  # loop over blocks of one array (a handful)
                parts.append(zlib.decompress(raw[pos:pos + int(length)]))
                pos += int(length)
            body = b"".join(parts)
        else:
            n_bytes = int(np.frombuffer(raw, header_type, 1, pos)[0])
            body = raw[pos + size:pos + size + n_bytes]
        values = np.frombuffer(body, dtype)
        n_comp = int(node.get("NumberOfComponents", 1))
        arrays[node.get("Name")] = values.reshape(-1, n_comp) if n_comp > 1 else values
    return dict(image.attrib), arrays

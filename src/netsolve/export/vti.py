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
from .vtk_xml import VTK_TYPES, AppendedData, vtk_dtype

CHUNK_BYTES = 4 << 20  # bytes of VTK-ordered data made at a time


def voxel_arrays(data: ResultData, extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The cell arrays of the .vti: name -> grid-shaped (scalar) or grid + (k,) array.

    Vectors are written with 3 components (z = 0 in 2D) so ParaView can draw glyphs. ``gb_behaviour`` (with a
    GB table): the behaviour code of the GBs a voxel touches
    (:func:`netsolve.analysis.behaviour_map.voxel_behaviour_codes`). ``extra`` adds arrays of
    the grid shape, under their own names.
    """
    return {name: (array() if callable(array) else array)
            for name, array in voxel_array_makers(data, extra).items()}


def voxel_array_makers(data: ResultData, extra: dict[str, np.ndarray] | None = None) -> dict:
    """:func:`voxel_arrays` with the arrays computed for the file (ids, codes, conductivity
    components) as functions, so that :func:`write_image_data` holds one at a time."""
    ndim = data.grid.ndim
    micro = data.microstructure
    arrays: dict = {
        "potential_V": data.potential,
        "current_density_magnitude_A_per_m2": data.current_density_magnitude,
        "current_density_A_per_m2": data.current_density,  # 2D: z = 0 added when written
        "electric_field_V_per_m": data.electric_field,
        "grain_id": lambda: np.where(micro.phase == Phase.GRAIN, micro.labels, 0).astype(np.int32),
        "phase": micro.phase,
        "electrode": lambda: micro.electrode_index.astype(np.int16),
        "floating": lambda: data.floating.astype(np.uint8),
    }
    if data.gb_table is not None:
        from ..analysis.behaviour_map import voxel_behaviour_codes

        arrays["gb_behaviour"] = lambda: voxel_behaviour_codes(data.gb_table, data.grid.shape)
    rows, row = data.voxel_tensor_rows()
    for i in range(ndim):
        for j in range(i, ndim):
            arrays[f"sigma_{'xyz'[i]}{'xyz'[j]}_S_per_m"] = (
                lambda i=i, j=j: rows[:, i, j][row])
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
    return write_image_data(path, grid.shape, spacing, voxel_array_makers(data, extra),
                            compress=compress)


def write_image_data(path: str | Path, shape: tuple[int, ...], spacing: tuple[float, float, float],
                     cell_arrays: dict[str, np.ndarray], *, compress: bool = True) -> Path:
    """Write cell arrays (grid shape or grid shape + (k,)) on a regular grid of ``shape`` cells
    (2 or 3 axes) with the given cell size per axis, as a binary appended .vti. Vectors of 2
    components on a 2D grid get a third (z = 0). A value of ``cell_arrays`` may also be a
    function returning the array (called once: an array computed for the file, such as a
    conductivity component, is dropped once encoded)."""
    ndim = len(shape)
    cells = tuple(shape) + (1,) * (3 - ndim)
    extent = " ".join(f"0 {n}" for n in cells)  # point indices: a 2D grid is one cell thick
    data = AppendedData(compress)
    headers = []
    for name, array in cell_arrays.items():
        array = np.asarray(array() if callable(array) else array)
        headers.append(data.tag_chunks(name, *vtk_chunks(array, shape)))
        del array  # (a computed array lives on only if its entry streams it: stored blocks)
    body = [f'  <ImageData WholeExtent="{extent}" Origin="0 0 0" '
            f'Spacing="{" ".join(repr(float(s)) for s in spacing)}">',
            f'    <Piece Extent="{extent}">',
            "      <CellData>", *headers, "      </CellData>",
            "    </Piece>", "  </ImageData>"]
    return data.write(path, "ImageData", body)


def vtk_chunks(array: np.ndarray, shape: tuple[int, ...]):
    """A grid array as VTK cells in chunks, for :meth:`.vtk_xml.AppendedData.tag_chunks`:
    (chunks function, dtype, components, values). VTK orders cells x fastest; a chunk is a
    slab of the last grid axis (the slowest), transposed into one reused buffer of about
    :data:`CHUNK_BYTES`, with 2D vectors padded to 3 components there: the writer never holds a
    reordered copy of the whole array (at 2048^2 the copies of the .vti's arrays were 400 MB
    of fresh memory)."""
    ndim = len(shape)
    components = array.shape[ndim:]
    n_comp = int(np.prod(components)) if components else 1
    padded = 3 if (ndim == 2 and n_comp == 2) else n_comp
    dtype = vtk_dtype(array.dtype)
    flat = array.reshape(tuple(shape) + (n_comp,))
    order = tuple(reversed(range(ndim))) + (ndim,)
    slab = int(np.prod(shape[:-1])) * padded * dtype.itemsize  # bytes per last-axis index
    step = max(1, CHUNK_BYTES // slab)
    n_last = shape[-1]

    def chunks():
        buffer = np.zeros((min(step, n_last),) + tuple(reversed(shape[:-1])) + (padded,), dtype)
        for start in range(0, n_last, step):  # a few dozen slabs
            stop = min(start + step, n_last)
            out = buffer[:stop - start]
            out[..., :n_comp] = flat[(slice(None),) * (ndim - 1) + (slice(start, stop),)
                                     ].transpose(order)
            yield out

    n_values = int(np.prod(shape)) * padded
    return chunks, dtype, padded, n_values


def vtk_order(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A grid array as VTK cells: (n_cells,) or (n_cells, k), x fastest (2D vectors padded to 3
    components): the chunks of :func:`vtk_chunks` joined (for tests and checks)."""
    chunks, _, padded, _ = vtk_chunks(array, shape)
    whole = np.concatenate([c.reshape(-1).copy() for c in chunks()])  # (one reused buffer)
    return whole.reshape(-1, padded) if array.ndim > len(shape) else whole


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

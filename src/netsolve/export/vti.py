"""VTK XML ImageData (.vti) for voxel fields, written directly (no VTK dependency).

Layout (VTK file-format version 1.0): ``<VTKFile type="ImageData" header_type="UInt64">``, one
``<Piece>`` with ``<CellData>`` (a voxel is a VTK cell), every array in one ``<AppendedData
encoding="raw">`` block after the ``_`` marker, at the byte ``offset`` its ``<DataArray>`` names.
Each array is either ``[n_bytes: UInt64][raw bytes]`` or, zlib-compressed
(``compressor="vtkZLibDataCompressor"``), ``[n_blocks, block_size, last_block_size,
compressed_size_1 .. compressed_size_n: UInt64][compressed blocks]``. VTK orders cells with x
fastest, i.e. Fortran order of netsolve's ``[x, y, z]`` arrays. A 2D grid is one cell thick
(point extent 0..1 in z, z spacing = the lamella thickness), so ParaView shows the lamella as
the slab it is and integrates over its volume. Coordinates (Origin, Spacing) are in metres.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from ..microstructure import Phase
from .data import ResultData

BLOCK_BYTES = 1 << 20  # uncompressed bytes per zlib block
WORTH_COMPRESSING = 0.5  # compress an array if its first block shrinks below this fraction
VTK_TYPES = {np.dtype(np.float64): "Float64", np.dtype(np.float32): "Float32",
             np.dtype(np.int64): "Int64", np.dtype(np.int32): "Int32",
             np.dtype(np.int16): "Int16", np.dtype(np.int8): "Int8",
             np.dtype(np.uint8): "UInt8", np.dtype(np.uint16): "UInt16",
             np.dtype(np.uint32): "UInt32", np.dtype(np.uint64): "UInt64"}


def voxel_arrays(data: ResultData, extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The cell arrays of the .vti: name -> grid-shaped (scalar) or grid + (k,) array.

    Vectors get 3 components (z = 0 in 2D) so ParaView can draw glyphs. ``gb_behaviour`` (with a
    GB table): the behaviour code of the GBs a voxel touches
    (:func:`netsolve.analysis.behaviour_map.voxel_behaviour_codes`). ``extra`` adds arrays of
    the grid shape, under their own names.
    """
    ndim = data.grid.ndim
    micro = data.microstructure
    arrays: dict[str, np.ndarray] = {
        "potential_V": data.potential,
        "current_density_magnitude_A_per_m2": np.linalg.norm(data.current_density, axis=-1),
        "current_density_A_per_m2": _three_components(data.current_density),
        "electric_field_V_per_m": _three_components(data.electric_field),
        "grain_id": np.where(micro.phase == Phase.GRAIN, micro.labels, 0).astype(np.int32),
        "phase": micro.phase,
        "electrode": micro.electrode_index.astype(np.int16),
        "floating": data.floating.astype(np.uint8),
    }
    if data.gb_table is not None:
        from ..analysis.behaviour_map import voxel_behaviour_codes

        arrays["gb_behaviour"] = voxel_behaviour_codes(data.gb_table, data.grid.shape)
    tensor = data.voxel_tensor()
    for i in range(ndim):  # loop over tensor components (3 in 2D, 6 in 3D)
        for j in range(i, ndim):
            arrays[f"sigma_{'xyz'[i]}{'xyz'[j]}_S_per_m"] = tensor[..., i, j]
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
    (2 or 3 axes) with the given cell size per axis, as a binary appended .vti."""
    path = Path(path)
    ndim = len(shape)
    n_cells = int(np.prod(shape))
    cells = tuple(shape) + (1,) * (3 - ndim)
    extent = " ".join(f"0 {n}" for n in cells)  # point indices: a 2D grid is one cell thick
    headers, blobs, offset = [], [], 0
    for name, array in cell_arrays.items():
        components = array.shape[ndim:]
        n_comp = int(np.prod(components)) if components else 1
        # VTK: x fastest, components innermost -> move components first, then Fortran order.
        flat = np.asarray(array).reshape(tuple(shape) + (n_comp,))
        flat = np.moveaxis(flat, -1, 0).reshape(n_comp, n_cells, order="F").T
        flat = np.ascontiguousarray(flat, dtype=_vtk_dtype(flat.dtype))
        blob = _encode(flat.tobytes(), compress)
        comp = f' NumberOfComponents="{n_comp}"' if n_comp > 1 else ""
        headers.append(f'        <DataArray type="{VTK_TYPES[flat.dtype]}" Name={quoteattr(name)}'
                       f'{comp} format="appended" offset="{offset}"/>')
        blobs.append(blob)
        offset += sum(len(b) for b in blob)
    compressor = ' compressor="vtkZLibDataCompressor"' if compress else ""
    head = "\n".join([
        '<?xml version="1.0"?>',
        f'<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" '
        f'header_type="UInt64"{compressor}>',
        f'  <ImageData WholeExtent="{extent}" Origin="0 0 0" '
        f'Spacing="{" ".join(repr(float(s)) for s in spacing)}">',
        f'    <Piece Extent="{extent}">',
        "      <CellData>", *headers, "      </CellData>",
        "    </Piece>", "  </ImageData>", '  <AppendedData encoding="raw">', "   _"])
    with open(path, "wb") as f:
        f.write(head.encode())
        for blob in blobs:
            f.writelines(blob)
        f.write(b"\n  </AppendedData>\n</VTKFile>\n")
    return path


def _three_components(vectors: np.ndarray) -> np.ndarray:
    if vectors.shape[-1] == 3:
        return vectors
    return np.concatenate([vectors, np.zeros(vectors.shape[:-1] + (1,))], axis=-1)


def _vtk_dtype(dtype: np.dtype) -> np.dtype:
    if dtype == np.bool_:
        return np.dtype(np.uint8)
    return np.dtype(dtype).newbyteorder("<")


def _encode(raw: bytes, compress: bool) -> list[bytes]:
    """One appended array: header + data.

    Compressed files use zlib level 1 for arrays whose first block shrinks below
    ``WORTH_COMPRESSING`` (grain ids, phases, conductivities: piecewise constant, 20-50x
    smaller) and level 0 (stored, still valid zlib) for the rest (solved float fields shrink by
    only 10-30 % at several times the cost); measured in validation/bench_export.py.
    """
    if not compress:
        return [np.uint64(len(raw)).tobytes(), raw]
    view = memoryview(raw)
    starts = range(0, len(raw), BLOCK_BYTES)
    first = zlib.compress(view[:BLOCK_BYTES], 1) if raw else b""
    level = 1 if len(first) < WORTH_COMPRESSING * min(len(raw), BLOCK_BYTES) else 0
    blocks = [first if (i == 0 and level == 1) else zlib.compress(view[i:i + BLOCK_BYTES], level)
              for i in starts]
    last = len(raw) - (len(blocks) - 1) * BLOCK_BYTES if blocks else 0
    header = np.array([len(blocks), BLOCK_BYTES, last, *map(len, blocks)], dtype="<u8")
    return [header.tobytes(), *blocks]


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

"""VTK XML files with binary appended data, written directly (no VTK, no meshio).

Shared by ``fields.vti`` (:mod:`.vti`, ImageData) and ``gb_network.vtu`` (:mod:`.gbnet`,
UnstructuredGrid). Layout (VTK file-format version 1.0, ``header_type="UInt64"``): the XML
header, then every array in one ``<AppendedData encoding="raw">`` block after the ``_`` marker,
at the byte ``offset`` its ``<DataArray>`` names. Each array is either ``[n_bytes:
UInt64][raw bytes]`` or, zlib-compressed (``compressor="vtkZLibDataCompressor"``), ``[n_blocks,
block_size, last_block_size, compressed_size_1 .. compressed_size_n: UInt64][compressed
blocks]``.

Compression policy (measured in ``validation/bench_export.py``): zlib level 1 for arrays whose
first block shrinks below :data:`WORTH_COMPRESSING` (ids, phases, codes, conductivities:
piecewise constant, 20-50x smaller), level 0 ("stored" blocks, still valid zlib) for the rest
(solved float fields shrink by only 10-30 % for several times the time).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

BLOCK_BYTES = 1 << 20  # uncompressed bytes per zlib block
WORTH_COMPRESSING = 0.5  # compress an array if its first block shrinks below this fraction
VTK_TYPES = {np.dtype(np.float64): "Float64", np.dtype(np.float32): "Float32",
             np.dtype(np.int64): "Int64", np.dtype(np.int32): "Int32",
             np.dtype(np.int16): "Int16", np.dtype(np.int8): "Int8",
             np.dtype(np.uint8): "UInt8", np.dtype(np.uint16): "UInt16",
             np.dtype(np.uint32): "UInt32", np.dtype(np.uint64): "UInt64"}
VTK_LINE, VTK_QUAD = 3, 9  # VTK cell type codes


def vtk_dtype(dtype: np.dtype) -> np.dtype:
    """The little-endian dtype an array is written with (bool as UInt8)."""
    if dtype == np.bool_:
        return np.dtype(np.uint8)
    return np.dtype(dtype).newbyteorder("<")


def encode(raw: bytes | memoryview, compress: bool) -> list[bytes | memoryview]:
    """One appended array: header + data (see the module docstring for the policy)."""
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


class AppendedData:
    """Collects arrays for the appended block; :meth:`tag` returns each one's ``<DataArray>``."""

    def __init__(self, compress: bool):
        self.compress = compress
        self.blobs: list[list[bytes]] = []
        self.offset = 0

    def tag(self, name: str, array: np.ndarray, indent: int = 8) -> str:
        """Add ``array`` ((n,) or (n, k), C order rows = tuples) and return its DataArray tag."""
        array = np.ascontiguousarray(array, dtype=vtk_dtype(array.dtype))
        n_comp = array.shape[1] if array.ndim == 2 else 1
        blob = encode(memoryview(array.reshape(-1)).cast("B"), self.compress)  # no copy
        comp = f' NumberOfComponents="{n_comp}"' if n_comp > 1 else ""
        line = (f'{" " * indent}<DataArray type="{VTK_TYPES[array.dtype]}" '
                f'Name={quoteattr(name)}{comp} format="appended" offset="{self.offset}"/>')
        self.blobs.append(blob)
        self.offset += sum(len(b) for b in blob)
        return line

    def write(self, path: str | Path, kind: str, body: list[str]) -> Path:
        """The whole file: VTKFile of type ``kind`` around ``body`` (XML lines), then the data."""
        path = Path(path)
        compressor = ' compressor="vtkZLibDataCompressor"' if self.compress else ""
        head = "\n".join([
            '<?xml version="1.0"?>',
            f'<VTKFile type="{kind}" version="1.0" byte_order="LittleEndian" '
            f'header_type="UInt64"{compressor}>', *body,
            '  <AppendedData encoding="raw">', "   _"])
        with open(path, "wb") as f:
            f.write(head.encode())
            for blob in self.blobs:
                f.writelines(blob)
            f.write(b"\n  </AppendedData>\n</VTKFile>\n")
        return path


def write_unstructured_grid(path: str | Path, points: np.ndarray, cells: np.ndarray,
                            cell_type: int, cell_data: dict[str, np.ndarray], *,
                            compress: bool = True) -> Path:
    """An UnstructuredGrid .vtu of one cell type: ``points`` (n, 3) float (m), ``cells`` (m,
    corners) point indices, ``cell_data`` name -> (m,) or (m, k) array (dtype kept)."""
    data = AppendedData(compress)
    n_cells, corners = cells.shape
    body = ["  <UnstructuredGrid>",
            f'    <Piece NumberOfPoints="{len(points)}" NumberOfCells="{n_cells}">',
            "      <Points>", data.tag("Points", points), "      </Points>",
            "      <Cells>",
            data.tag("connectivity", cells.reshape(-1)),
            data.tag("offsets", np.arange(1, n_cells + 1, dtype=np.int64) * corners),
            data.tag("types", np.full(n_cells, cell_type, dtype=np.uint8)),
            "      </Cells>",
            "      <CellData>", *(data.tag(k, v) for k, v in cell_data.items()),
            "      </CellData>",
            "    </Piece>", "  </UnstructuredGrid>"]
    return data.write(path, "UnstructuredGrid", body)

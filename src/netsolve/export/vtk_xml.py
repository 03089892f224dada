"""VTK XML files with binary appended data, written directly (no VTK, no meshio).

Shared by ``fields.vti`` (:mod:`.vti`, ImageData) and ``gb_network.vtu`` (:mod:`.gbnet`,
UnstructuredGrid). Layout (VTK file-format version 1.0, ``header_type="UInt64"``): the XML
header, then every array in one ``<AppendedData encoding="raw">`` block after the ``_`` marker,
at the byte ``offset`` its ``<DataArray>`` names. Each array is either ``[n_bytes:
UInt64][raw bytes]`` or, zlib-compressed (``compressor="vtkZLibDataCompressor"``), ``[n_blocks,
block_size, last_block_size, compressed_size_1 .. compressed_size_n: UInt64][compressed
blocks]``.

Compression policy (measured in ``validation/bench_export.py``): zlib level 1 for arrays whose
first :data:`SAMPLE_BYTES` shrink below :data:`WORTH_COMPRESSING` (ids, phases, codes, conductivities:
piecewise constant, 20-50x smaller), level 0 ("stored" blocks, still valid zlib) for the rest
(solved float fields shrink by only 10-30 % for several times the time). Stored blocks are
framed here around slices of the array (:func:`stored_pieces`) and, like raw arrays, streamed
from the array's chunks when the file is written: only compressed blocks are held in memory
(copies of every array had made the writer touch ~1.5x the file's size in fresh memory).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

BLOCK_BYTES = 1 << 20  # uncompressed bytes per zlib block
STORED_MAX = 0xFFFF  # bytes per stored deflate block (its 16-bit length)
ZLIB_STORED_HEADER = b"\x78\x01"  # zlib header: deflate, 32 KiB window, no preset dictionary
WORTH_COMPRESSING = 0.5  # compress an array if its first bytes shrink below this fraction
# The bytes that decide it: the first 64 KiB (a solved float field, which is not worth it,
# costs 1/16 of compressing a whole first block to find out). On the .vti and .vtu arrays of
# the 2048^2 lamella and the 128^3 porous cube the prefix's ratio is within 0.02 of the first
# block's (0.11 for the porous cube's float fields: 0.87-0.91 against 0.76-0.81), and no
# array changes side.
SAMPLE_BYTES = 1 << 16
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


def stored_size(n_bytes: int) -> int:
    """Bytes of a zlib stream of ``n_bytes`` in stored (level 0) deflate blocks of at most
    :data:`STORED_MAX` bytes: 2 (zlib header) + 5 per block + the data + 4 (Adler-32)."""
    return 2 + 5 * -(-n_bytes // STORED_MAX) + n_bytes + 4


def stored_pieces(block: memoryview) -> list[bytes | memoryview]:
    """``block`` as one zlib stream of stored deflate blocks (what ``zlib.compress(block, 0)``
    holds, with its own block boundaries): the headers and slices of ``block``, no copy."""
    pieces: list[bytes | memoryview] = [ZLIB_STORED_HEADER]
    n = len(block)
    for start in range(0, n, STORED_MAX):  # ~16 blocks per MiB
        size = min(STORED_MAX, n - start)
        final = 1 if start + size == n else 0
        pieces += [struct.pack("<BHH", final, size, size ^ 0xFFFF), block[start:start + size]]
    pieces.append(struct.pack(">I", zlib.adler32(block)))
    return pieces


def byte_blocks(chunks: Iterable[np.ndarray], size: int) -> Iterator[memoryview]:
    """The bytes of the concatenated (C-contiguous) ``chunks`` in blocks of ``size`` bytes (the
    last one shorter): views into the chunks, a copy only for a block that spans two chunks.
    A block is valid until the next one is asked for."""
    pending = bytearray()
    for chunk in chunks:
        if not chunk.nbytes:  # (an empty (0, k) array has no byte view)
            continue
        view = memoryview(chunk).cast("B")
        if pending:
            take = min(size - len(pending), len(view))
            pending += view[:take]
            view = view[take:]
            if len(pending) < size:
                continue
            yield memoryview(pending)
            pending = bytearray()
        whole = len(view) - len(view) % size
        for start in range(0, whole, size):
            yield view[start:start + size]
        pending = bytearray(view[whole:])
    if pending:
        yield memoryview(pending)


class Entry:
    """One array of the appended block: its header and either its encoded blocks (``blobs``,
    compressed) or its ``chunks`` (a function returning them), streamed when the file is
    written, raw (``stored`` False) or in stored zlib blocks."""

    def __init__(self, header: bytes, data_bytes: int, blobs=(), chunks=None,
                 stored: bool = False):
        self.header, self.blobs, self.chunks, self.stored = header, list(blobs), chunks, stored
        self.size = len(header) + data_bytes

    def pieces(self) -> Iterator[bytes | memoryview]:
        yield self.header
        yield from self.blobs
        if self.chunks is None:
            return
        if self.stored:
            for block in byte_blocks(self.chunks(), BLOCK_BYTES):
                yield from stored_pieces(block)
        else:
            for chunk in self.chunks():
                if chunk.nbytes:
                    yield memoryview(chunk).cast("B")


def encode(chunks, n_bytes: int, compress: bool) -> Entry:
    """One appended array from a function returning its chunks (C-contiguous arrays whose bytes,
    concatenated, are the array's): a raw header and the chunks, or zlib blocks of
    :data:`BLOCK_BYTES` (see the module docstring for the policy). Only compressed blocks are
    kept in memory: arrays written raw or in stored blocks are streamed from their chunks when
    the file is written (no copy of the whole array)."""
    if not compress:
        return Entry(np.uint64(n_bytes).tobytes(), n_bytes, chunks=chunks)
    n_blocks = -(-n_bytes // BLOCK_BYTES)
    last = n_bytes - (n_blocks - 1) * BLOCK_BYTES if n_blocks else 0
    blocks = byte_blocks(chunks(), BLOCK_BYTES)
    first = next(blocks, memoryview(b""))
    sample = first[:SAMPLE_BYTES]
    head = [n_blocks, BLOCK_BYTES, last]
    if n_bytes and len(zlib.compress(sample, 1)) < WORTH_COMPRESSING * len(sample):
        blobs = [zlib.compress(first, 1)] + [zlib.compress(block, 1) for block in blocks]
        sizes = [len(b) for b in blobs]
        return Entry(np.array(head + sizes, "<u8").tobytes(), sum(sizes), blobs=blobs)
    blocks.close()  # stored blocks: the chunks again when the file is written
    sizes = [stored_size(BLOCK_BYTES)] * (n_blocks - 1) + [stored_size(last)] * (n_blocks > 0)
    return Entry(np.array(head + sizes, "<u8").tobytes(), sum(sizes), chunks=chunks,
                 stored=True)


class AppendedData:
    """Collects arrays for the appended block; :meth:`tag` returns each one's ``<DataArray>``."""

    def __init__(self, compress: bool):
        self.compress = compress
        self.entries: list[Entry] = []
        self.offset = 0

    def tag(self, name: str, array: np.ndarray, indent: int = 8) -> str:
        """Add ``array`` ((n,) or (n, k), C order rows = tuples) and return its DataArray tag."""
        array = np.ascontiguousarray(array, dtype=vtk_dtype(array.dtype))
        n_comp = array.shape[1] if array.ndim == 2 else 1
        return self.tag_chunks(name, lambda: iter((array,)), array.dtype, n_comp,
                               array.size, indent)

    def tag_chunks(self, name: str, chunks, dtype: np.dtype, n_comp: int, n_values: int,
                   indent: int = 8) -> str:
        """Add an array given by ``chunks`` (a function returning an iterator of C-contiguous
        arrays of ``dtype`` that together hold its ``n_values`` values, tuples of ``n_comp``
        in order) and return its DataArray tag. ``chunks`` may be called again when the file
        is written (for an array written in stored blocks)."""
        dtype = np.dtype(dtype)
        entry = encode(chunks, n_values * dtype.itemsize, self.compress)
        comp = f' NumberOfComponents="{n_comp}"' if n_comp > 1 else ""
        line = (f'{" " * indent}<DataArray type="{VTK_TYPES[dtype]}" '
                f'Name={quoteattr(name)}{comp} format="appended" offset="{self.offset}"/>')
        self.entries.append(entry)
        self.offset += entry.size
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
            for entry in self.entries:
                f.writelines(entry.pieces())
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

"""Byte builders for hostile inputs: .npy headers that lie, .npz archives patched in place,
PNGs written chunk by chunk, TIFFs with looping IFDs (used by ``hostile_corpus``)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Callable

import numpy as np


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_header(descr: str, shape, fortran: bool = False, version: int = 1) -> bytes:
    """A hand-written .npy header (any dtype text, any shape), padded as numpy pads it."""
    text = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {tuple(shape)!r}, }}"
    size_format = "<H" if version == 1 else "<I"
    prefix = 10 if version == 1 else 12
    text += " " * ((64 - (prefix + len(text) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(size_format, len(text)) + text.encode()


def npz(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def patched_npz(data: bytes, patch: Callable[[bytearray, zipfile.ZipInfo], None]) -> bytes:
    """A one-member archive with bytes changed in place (``patch(raw, info)``)."""
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.infolist()[0]
    patch(raw, info)
    return bytes(raw)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rows: bytes | None = None, depth: int = 8, colour: int = 0,
        extra: bytes = b"") -> bytes:
    """A PNG written by hand (so that the header may lie about the size)."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    if rows is None:
        rows = b"".join(b"\x00" + bytes([1] * (width // 2) + [2] * (width - width // 2))
                        for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + extra
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def tiff(pages: list[np.ndarray]) -> bytes:
    from PIL import Image

    images = [Image.fromarray(p) for p in pages]
    buffer = io.BytesIO()
    images[0].save(buffer, format="TIFF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def tiff_loop(data: bytes) -> bytes:
    """A little-endian TIFF whose first IFD names itself as the next one."""
    raw = bytearray(data)
    first = struct.unpack_from("<I", raw, 4)[0]
    entries = struct.unpack_from("<H", raw, first)[0]
    struct.pack_into("<I", raw, first + 2 + 12 * entries, first)
    return bytes(raw)

"""The streamed VTK XML writer (fields.vti, gb_network.vtu): arrays reordered in chunks and
written in stored zlib blocks without a copy of the whole array read back exactly, across chunk,
block and stored-block boundaries."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from netsolve.export import vti, vtk_xml
from netsolve.export.vti import read_vti, vtk_order, write_image_data
from netsolve.export.vtk_xml import byte_blocks, stored_pieces, stored_size


@pytest.mark.parametrize("n", [1, 100, 65534, 65535, 65536, 200_000, 1 << 20])
def test_stored_blocks_are_the_zlib_stream_of_the_data(n):
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    stream = b"".join(stored_pieces(memoryview(data)))
    assert len(stream) == stored_size(n)
    assert zlib.decompress(stream) == data  # (checks the Adler-32 too)
    broken = bytearray(stream)
    broken[-1] ^= 1
    with pytest.raises(zlib.error):
        zlib.decompress(bytes(broken))


def test_byte_blocks_regroup_chunks_of_any_size():
    rng = np.random.default_rng(0)
    sizes = [0, 5, 37, 1, 0, 300, 64, 64, 7, 1000, 3]
    chunks = [rng.integers(0, 256, s, dtype=np.uint8) for s in sizes]
    blocks = [bytes(b) for b in byte_blocks(chunks, 64)]
    assert b"".join(blocks) == b"".join(c.tobytes() for c in chunks)
    assert [len(b) for b in blocks] == [64] * (sum(sizes) // 64) + [sum(sizes) % 64]
    assert list(byte_blocks([np.zeros(0, np.uint8), np.zeros((0, 3))], 64)) == []


def _vtk_reference(array: np.ndarray, ndim: int) -> np.ndarray:
    """VTK cell order (x fastest) computed independently: Fortran order per component."""
    if array.ndim == ndim:
        return array.ravel(order="F")
    comps = [array[..., k].ravel(order="F") for k in range(array.shape[-1])]
    if ndim == 2 and len(comps) == 2:
        comps.append(np.zeros_like(comps[0]))
    return np.stack(comps, axis=1)


@pytest.mark.parametrize("shape", [(13, 7), (6, 5, 9)], ids=["2d", "3d"])
@pytest.mark.parametrize("compress", [True, False])
def test_vti_round_trips_across_chunk_and_block_boundaries(tmp_path, monkeypatch, shape,
                                                           compress):
    # Tiny chunks (one slab), blocks and stored blocks, so that blocks span chunks and stored
    # blocks split every block.
    monkeypatch.setattr(vti, "CHUNK_BYTES", 1)
    monkeypatch.setattr(vtk_xml, "BLOCK_BYTES", 1000)
    monkeypatch.setattr(vtk_xml, "STORED_MAX", 300)
    rng = np.random.default_rng(1)
    ndim = len(shape)
    labels = np.zeros(shape, np.int32)
    labels[shape[0] // 2:] = 7  # piecewise constant: compressed
    arrays = {"noise": rng.random(shape),  # random floats: stored blocks
              "vectors": rng.random(shape + (ndim,)),
              "labels": labels,
              "mask": rng.random(shape) < 0.3,
              "small": rng.integers(-5, 5, shape).astype(np.int16),
              "computed": lambda: labels.astype(np.float32) * 0.5}
    path = write_image_data(tmp_path / "f.vti", shape, (1.0, 2.0, 3.0), arrays,
                            compress=compress)
    _, back = read_vti(path)
    assert list(back) == list(arrays)
    for name, array in arrays.items():
        array = array() if callable(array) else array
        expected = _vtk_reference(array, ndim)
        assert back[name].dtype == (np.uint8 if array.dtype == bool else array.dtype)
        np.testing.assert_array_equal(back[name], expected.astype(back[name].dtype),
                                      err_msg=name)
        np.testing.assert_array_equal(vtk_order(array, shape), expected, err_msg=name)
    raw = path.read_bytes()
    assert raw.endswith(b"\n  </AppendedData>\n</VTKFile>\n")
    if compress:  # both encodings were used: stored blocks for noise, zlib for labels
        assert b'Name="noise"' in raw
        assert path.stat().st_size > 8 * np.prod(shape) * (1 + ndim)


def test_vti_stored_file_size_is_what_the_header_says(tmp_path):
    """The offsets of the XML header are computed before any stored block is written: the
    file is exactly as long as they say."""
    values = np.random.default_rng(2).random((300, 200))  # 480 000 bytes: 8 stored blocks
    path = write_image_data(tmp_path / "f.vti", values.shape, (1.0, 1.0, 1.0),
                            {"a": values, "b": values.T.copy()})
    raw = path.read_bytes()
    start = raw.index(b"_", raw.index(b"<AppendedData")) + 1
    header = np.frombuffer(raw, "<u8", 3, start)
    n_blocks = int(header[0])
    sizes = np.frombuffer(raw, "<u8", n_blocks, start + 24)
    assert n_blocks == 1 and int(sizes[0]) == stored_size(values.nbytes)
    first = 8 * (3 + n_blocks) + int(sizes.sum())
    assert f'offset="{first}"'.encode() in raw
    tail = len(b"\n  </AppendedData>\n</VTKFile>\n")
    assert len(raw) == start + 2 * first + tail


@pytest.mark.parametrize("compress", [True, False])
def test_empty_arrays_round_trip(tmp_path, compress):
    """A GB network without GB faces (a single-grain map): no points, no cells."""
    from netsolve.export.vtk_xml import VTK_LINE, write_unstructured_grid

    path = write_unstructured_grid(tmp_path / "e.vtu", np.zeros((0, 3)),
                                   np.zeros((0, 2), np.int64), VTK_LINE,
                                   {"a": np.zeros(0), "v": np.zeros((0, 3), np.int32)},
                                   compress=compress)
    # (meshio cannot read a mesh without cells: the file is checked directly)
    import xml.etree.ElementTree as ET

    raw = path.read_bytes()
    start = raw.index(b"_", raw.index(b"<AppendedData")) + 1
    root = ET.fromstring(raw[:start - 1].rstrip() + b"</AppendedData></VTKFile>")
    arrays = list(root.iter("DataArray"))
    assert [a.get("Name") for a in arrays] == ["Points", "connectivity", "offsets", "types",
                                               "a", "v"]
    header = 24 if compress else 8  # [0 blocks, block size, 0] or [0 bytes]
    assert [int(a.get("offset")) for a in arrays] == [header * k for k in range(6)]
    for k in range(6):
        values = np.frombuffer(raw, "<u8", header // 8, start + header * k)
        assert values[0] == 0 and (not compress or values[2] == 0)
    assert raw[start + 6 * header:] == b"\n  </AppendedData>\n</VTKFile>\n"

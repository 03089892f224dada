"""Voxel fields as an unstructured mesh (meshio): .vtu, and .xdmf with its data in an .h5 file.

Every voxel is one cell (quad in 2D, hexahedron in 3D), in C order of the ``[x, y(, z)]``
arrays (cell ``i * ny + j`` is voxel ``[i, j]``), points at the voxel corners in metres; the
cell arrays are those of the .vti (:func:`netsolve.export.vti.voxel_arrays`). Prefer the .vti
for ParaView: this form is for tools that only read unstructured meshes, and is about ten times
larger.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CaseError
from .data import ResultData
from .vti import voxel_arrays


def voxel_mesh(data: ResultData, extra: dict[str, np.ndarray] | None = None):
    """The meshio.Mesh of the voxel grid with the voxel arrays as cell data."""
    import meshio

    shape, ndim, h = data.grid.shape, data.grid.ndim, data.grid.voxel_size_m
    node_shape = tuple(n + 1 for n in shape)
    nodes = np.arange(int(np.prod(node_shape))).reshape(node_shape)
    if ndim == 2:
        offsets = [(0, 0), (1, 0), (1, 1), (0, 1)]  # counter-clockwise (VTK_QUAD)
        kind = "quad"
    else:
        offsets = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0),
                   (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)]  # VTK_HEXAHEDRON order
        kind = "hexahedron"
    cells = np.stack([nodes[tuple(slice(o, o + n) for o, n in zip(off, shape))].ravel()
                      for off in offsets], axis=1)
    grids = np.meshgrid(*[np.arange(n) * h for n in node_shape], indexing="ij")
    points = np.zeros((nodes.size, 3))
    for d in range(ndim):  # loop over axes
        points[:, d] = grids[d].ravel()
    n_cells = cells.shape[0]
    cell_data = {name: [np.asarray(a).reshape(n_cells, -1).squeeze(axis=1)
                        if np.asarray(a).ndim == ndim else np.asarray(a).reshape(n_cells, -1)]
                 for name, a in voxel_arrays(data, extra).items()}
    return meshio.Mesh(points, [(kind, cells)], cell_data=cell_data)


def write_vtu(data: ResultData, path: str | Path, extra=None) -> Path:
    import meshio

    meshio.write(path, voxel_mesh(data, extra), file_format="vtu")
    return Path(path)


def write_xdmf(data: ResultData, path: str | Path, extra=None) -> Path:
    """Write ``path`` (.xdmf) and its heavy data ``path.with_suffix('.h5')`` (needs h5py)."""
    try:
        import h5py  # noqa: F401  (meshio's XDMF writer needs it for HDF5 data)
    except ImportError:
        raise CaseError("xdmf export needs h5py: pip install 'netsolve[hdf5]'") from None
    import meshio

    path = Path(path)
    # The .xdmf refers to the .h5 by its base name, so the pair can be moved together.
    meshio.xdmf.write(path, voxel_mesh(data, extra), data_format="HDF", compression="gzip",
                      compression_opts=1)
    return path

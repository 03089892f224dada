"""The voxel-grid structure of a two-point operator (NumPy only: the network stage imports it).

A :class:`GridOperator` is the matrix of :func:`netsolve.solve.network_matrix` restricted to the
active (non-floating) nodes, written on the full voxel grid: one face-conductance array per axis
(``face[a][i]`` joins voxel ``i`` to its + neighbour along axis ``a``; zero on the last layer,
at insulating, void, electrode and floating voxels), the diagonal extra of each voxel (its
electrode-link conductances) and the map from matrix rows to voxels. Conductances in S.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GridOperator:
    """``A = sum_faces g (e_i - e_j)(e_i - e_j)^T + diag(diagonal_extra)`` on the voxel grid.

    ``row_voxel[r]``: flat (C order) voxel index of matrix row ``r``, strictly increasing.
    ``padded_face``: one flat float64 array per grid axis, the face conductances (S) in C order
    with ``pad`` zeros before and after (the layout of the compiled kernels, so the solver uses
    them without a copy); ``face`` gives them in grid shape. ``diagonal_extra``: grid shape, S.
    """

    shape: tuple[int, ...]
    padded_face: tuple[np.ndarray, ...]
    diagonal_extra: np.ndarray
    row_voxel: np.ndarray

    @property
    def pad(self) -> int:
        return grid_pad(as_3d(self.shape))

    @property
    def face(self) -> tuple[np.ndarray, ...]:
        size = int(np.prod(self.shape))
        return tuple(g[self.pad:self.pad + size].reshape(self.shape) for g in self.padded_face)

    @property
    def active(self) -> np.ndarray:
        """Voxels that carry a matrix row (grid shape, bool)."""
        mask = np.zeros(int(np.prod(self.shape)), dtype=bool)
        mask[self.row_voxel] = True
        return mask.reshape(self.shape)


def grid_operator(shape: tuple[int, ...], node_voxel: np.ndarray, node_kept: np.ndarray,
                  link_nodes: np.ndarray, link_axis: np.ndarray, link_conductance: np.ndarray,
                  extra_node: np.ndarray, extra_conductance: np.ndarray) -> GridOperator:
    """GridOperator of the nodes ``node_kept`` (bool per node; their voxels ``node_voxel``, flat
    C order, increasing) from links between face neighbours (``link_nodes[:, 0]`` is below the
    face normal to ``link_axis``, one link per face; links to a node not kept are left out) and
    diagonal terms on nodes (``extra_node``)."""
    from .kernels import scatter_links  # numba: only when the grid multigrid is used

    size = int(np.prod(shape))
    pad = grid_pad(as_3d(shape))
    faces = np.zeros((len(shape), size + 2 * pad))
    scatter_links(link_nodes, link_axis, link_conductance, node_voxel, node_kept, pad, faces)
    on_rows = node_kept[extra_node]
    extra = np.bincount(node_voxel[extra_node[on_rows]], extra_conductance[on_rows],
                        size).reshape(shape)
    return GridOperator(tuple(shape), tuple(faces), extra,
                        np.asarray(node_voxel[node_kept], dtype=np.int64))


def grid_pad(shape: tuple[int, int, int]) -> int:
    """Zeros before and after a level's flat arrays: one plane in 3D, one row in 2D (so that
    neighbour reads at +- the largest stride stay inside)."""
    return shape[1] * shape[2] if shape[0] > 1 else shape[2]


def as_3d(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """A 2D grid (n0, n1) is the 3D grid (1, n0, n1): the kernels are written once, in 3D."""
    return (1, *shape) if len(shape) == 2 else tuple(shape)

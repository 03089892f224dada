"""Stage 2: microstructure + materials -> conductivity of every voxel (S/m).

Three conductivity models (``[materials] conductivity_model``):

- ``tensor`` (default, physical): uniaxial crystal tensor
  ``S3 = sigma_ip (I - c c^T) + sigma_op c c^T``. A 2D lamella has insulating top and bottom
  faces (J_z = 0), which gives the in-plane Schur complement
  ``S2 = S3[xy,xy] - S3[xy,z] S3[z,xy] / S3[z,z]``.
- ``ding2023``: Eq. 4-1 of the thesis (Ding 2024), exactly as printed; axis conductivities
  only, 2D only. Not a tensor projection (it exceeds sigma_ip at alpha = 0, theta = 45 deg).
- ``isotropic``: every grain conducts sigma_ip in all directions (the paper's uniform reference).

Crystals that are not uniaxial (``Microstructure.uniaxial``: cubic crystals of an EBSD map)
conduct sigma_ip in all directions under every model.

Each grain keeps its full tensor (``grain_tensor``, from its mean orientation). The tensor of
a grain voxel is ``tensor_table[tensor_index[voxel]]``: the grain's row, or, for voxels with
their own orientation (``Microstructure.voxel_c_axis``, e.g. an EBSD map read with
``orientation = "voxel"``), a row of their own appended after the grain rows. A discretization
takes what it can use: the two-point stencil ``voxel_axis_sigma`` (the tensor diagonal, or
Eq. 4-1), the FEM the full table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .case import Materials
from .microstructure import Microstructure, Phase
from .orientation import theta_alpha_from_c


@dataclass(frozen=True)
class Properties:
    """Conductivities of one microstructure.

    ``grain_tensor``: (n_grains, d, d) S/m, rows as in ``microstructure.orientations``.
    ``grain_axis_sigma``: (n_grains, d) S/m, what an axis-aligned (two-point) link sees.
    ``tensor_table``: (n_rows, d, d) S/m, the grain tensors followed by one row per grain
    voxel with its own orientation (the same array as ``grain_tensor`` when there is none).
    ``tensor_index``: grid shape, int32, row of ``tensor_table`` of each grain voxel, -1 in
    other voxels.
    ``backbone_sigma``: S/m, isotropic frame/backbone.
    ``voxel_axis_sigma``: grid shape + (d,) S/m; 0 in non-conducting voxels.
    ``gb_conductance_m2``: sigma_GB / t_GB in S/m^2 (inf when t_GB = 0: no GB resistance).
    """

    model: str
    grain_tensor: np.ndarray
    grain_axis_sigma: np.ndarray
    backbone_sigma: float
    voxel_axis_sigma: np.ndarray
    gb_conductance_m2: float
    tensor_table: np.ndarray
    tensor_index: np.ndarray

    @property
    def has_voxel_tensors(self) -> bool:
        """True when some grain voxels carry their own (per-voxel orientation) tensor."""
        return len(self.tensor_table) > len(self.grain_tensor)


def crystal_tensor(c_axis: np.ndarray, sigma_ip: float, sigma_op: float) -> np.ndarray:
    """Uniaxial 3x3 conductivity tensors for unit c-axes of shape (n, 3), S/m."""
    cc = c_axis[:, :, None] * c_axis[:, None, :]
    return sigma_ip * (np.eye(3) - cc) + sigma_op * cc


def thin_film_tensor(tensor3: np.ndarray) -> np.ndarray:
    """In-plane 2x2 tensors of a film with J_z = 0 (Schur complement), shape (n, 2, 2)."""
    a = tensor3[:, :2, :2]
    b = tensor3[:, :2, 2]
    return a - b[:, :, None] * b[:, None, :] / tensor3[:, 2, 2][:, None, None]


def ding2023_axis_sigma(theta_rad: np.ndarray, alpha_rad: np.ndarray, sigma_ip: float,
                        sigma_op: float) -> np.ndarray:
    """Eq. 4-1 (Ding 2024) exactly as printed: (sigma_x, sigma_y) per grain, shape (n, 2)."""
    st, ct = np.abs(np.sin(theta_rad)), np.abs(np.cos(theta_rad))
    sa, ca = np.abs(np.sin(alpha_rad)), np.abs(np.cos(alpha_rad))
    sigma_x = sigma_op * sa * st + sigma_ip * (ct + ca * st)
    sigma_y = sigma_ip * (st + ca * ct) + sigma_op * sa * ct
    return np.stack([sigma_x, sigma_y], axis=1)


def grain_conductivity(micro: Microstructure, materials: Materials) -> tuple[np.ndarray, np.ndarray]:
    """Per-grain (tensor, axis conductivities) for the chosen model."""
    ori = micro.orientations
    if not micro.uniaxial:
        materials = replace(materials, conductivity_model="isotropic")
    return conductivity_of(ori.c_axis, ori.theta_rad, ori.alpha_rad, micro.grid.ndim, materials)


def conductivity_of(c_axis: np.ndarray, theta_rad: np.ndarray, alpha_rad: np.ndarray,
                    ndim: int, materials: Materials) -> tuple[np.ndarray, np.ndarray]:
    """(tensor (n, d, d), axis conductivities (n, d)) in S/m of crystals with c-axes (n, 3) and
    the paper's angles (n,) (used by the ``ding2023`` model only)."""
    n = len(c_axis)
    model = materials.conductivity_model
    if model == "isotropic":
        tensor = np.broadcast_to(materials.sigma_ip * np.eye(ndim), (n, ndim, ndim)).copy()
        return tensor, np.full((n, ndim), materials.sigma_ip)
    tensor3 = crystal_tensor(c_axis, materials.sigma_ip, materials.sigma_op)
    if model == "tensor":
        tensor = tensor3 if ndim == 3 else thin_film_tensor(tensor3)
        return tensor, np.diagonal(tensor, axis1=1, axis2=2).copy()
    axis = ding2023_axis_sigma(theta_rad, alpha_rad, materials.sigma_ip, materials.sigma_op)
    tensor = np.zeros((n, 2, 2))
    tensor[:, 0, 0], tensor[:, 1, 1] = axis[:, 0], axis[:, 1]
    return tensor, axis


# Per-voxel tensors are built in blocks: the (n, 3, 3) intermediates of a whole 2048^2 map
# would need about 1 GB; a block keeps them near 20 MB.
VOXEL_BLOCK = 1 << 18


def fill_voxel_conductivity(c_axis: np.ndarray, voxels: np.ndarray, materials: Materials,
                            tensor_out: np.ndarray, axis_out: np.ndarray) -> None:
    """Tensors (into ``tensor_out`` rows 0..n-1) and axis conductivities (into the rows
    ``voxels`` of ``axis_out``) of the voxels ``voxels`` (flat indices into ``c_axis``
    (n_voxels, 3)), row for row identical to :func:`conductivity_of` (theta/alpha derived from
    c), built in blocks."""
    ndim = axis_out.shape[1]
    for start in range(0, len(voxels), VOXEL_BLOCK):  # blocks of voxels, each vectorized
        block = slice(start, start + VOXEL_BLOCK)
        c = c_axis[voxels[block]]
        theta = alpha = None
        if materials.conductivity_model == "ding2023":
            theta, alpha = theta_alpha_from_c(c)
        tensor_out[block], axis_out[voxels[block]] = conductivity_of(c, theta, alpha, ndim,
                                                                     materials)


def compute_properties(micro: Microstructure, materials: Materials) -> Properties:
    """Conductivities of every grain and voxel (vectorized over voxels)."""
    tensor, axis = grain_conductivity(micro, materials)
    ndim = micro.grid.ndim
    grains = micro.phase == Phase.GRAIN
    tensor_index = np.where(grains, micro.grain_index, -1).astype(np.int32)
    table = tensor
    own = micro.voxel_oriented if micro.uniaxial else None
    if own is not None and own.any():
        grains &= ~own
    # Each voxel's axis conductivities as one gather from a table of the grains' rows, a zero
    # row and the backbone's row (a boolean-mask scatter of (n, ndim) rows took 20x longer;
    # a sweep does this at every point)
    rows = np.concatenate([axis, np.zeros((1, ndim)), np.full((1, ndim),
                                                              materials.sigma_backbone)])
    row = np.where(grains, micro.grain_index, len(axis))
    backbone = micro.phase == Phase.BACKBONE
    row[backbone] = len(axis) + 1
    voxel = rows[row]
    if own is not None and own.any():
        own_voxels = np.flatnonzero(own)
        table = np.empty((len(tensor) + len(own_voxels), ndim, ndim))
        table[: len(tensor)] = tensor
        fill_voxel_conductivity(micro.voxel_c_axis.reshape(-1, 3), own_voxels, materials,
                                table[len(tensor):], voxel.reshape(-1, ndim))
        tensor_index.reshape(-1)[own_voxels] = len(tensor) + np.arange(len(own_voxels))
        voxel[backbone] = materials.sigma_backbone  # as before: the backbone row wins
    t_gb = materials.gb_thickness_m
    gb = np.inf if t_gb == 0 else materials.sigma_gb / t_gb
    return Properties(materials.conductivity_model, tensor, axis, materials.sigma_backbone,
                      voxel, gb, table, tensor_index)

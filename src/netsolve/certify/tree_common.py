"""What the Q1 and the mixed operators on a quadtree share: the leaves' materials, their
contact sides with the electrodes, and whether two leaves are joined (no GB resistor between
their voxels)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..case import Case
from ..discretization.assembly import contact_resistance_area, element_tensors
from ..discretization.q1 import node_regions
from ..microstructure import Microstructure
from ..properties import Properties
from ..voxels import EDGE_AXIS_SIDE
from .quadtree import FINE, MAX_LEVEL, SIDE_AXIS, SIDE_SIGN, Quadtree


@dataclass(frozen=True)
class TreeMaterial:
    """Per leaf: the row of ``tensor_table`` (S/m), the node region of its voxel
    (:func:`~netsolve.discretization.q1.node_regions`), its grain label (0 outside grains)."""

    tensor_table: np.ndarray
    leaf_tensor: np.ndarray
    leaf_region: np.ndarray
    leaf_grain: np.ndarray
    region_grid: np.ndarray  # node region of every voxel of the map (-1: not conducting)
    backbone: int | None
    gb_conductance_m2: float


def tree_material(tree: Quadtree, micro: Microstructure, props: Properties) -> TreeMaterial:
    table, voxel_row = element_tensors(micro, props)
    row_of_voxel = np.full(micro.labels.size, -1, dtype=np.int64)
    row_of_voxel[np.flatnonzero(micro.conducting)] = voxel_row
    region, backbone = node_regions(micro, props)
    root = tree.root_voxel
    grain = np.where(micro.phase.ravel()[root] == 0, micro.labels.ravel()[root], 0)
    return TreeMaterial(table, row_of_voxel[root], region.ravel()[root], grain, region,
                        backbone, float(props.gb_conductance_m2))


def joined(material: TreeMaterial, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True where leaves a and b share potentials across a common edge: the same region, or
    one of them the backbone (no GB resistor between them)."""
    ra, rb = material.leaf_region[a], material.leaf_region[b]
    out = ra == rb
    if material.backbone is not None:
        out |= (ra == material.backbone) | (rb == material.backbone)
    return out


def contact_sides(tree: Quadtree, case: Case, micro: Microstructure,
                  material: TreeMaterial) -> dict:
    """Leaf sides on an electrode: ``leaf``, ``side`` (0..3), ``electrode`` and the contact
    ``resistance_area`` (ohm m^2; 0: Dirichlet)."""
    edge_electrode = {EDGE_AXIS_SIDE[e.region.edge]: k for k, e in enumerate(case.electrodes)
                      if e.region.kind == "edge"}
    shape = tree.shape
    leaves, sides, electrodes = [], [], []
    size = tree.size
    for side in range(4):
        first, _ = tree.neighbours(side)
        open_side = first < 0
        axis, sign = SIDE_AXIS[side], SIDE_SIGN[side]
        x, y = tree.x0.copy(), tree.y0.copy()
        step = np.where(sign > 0, size, -1)
        if axis == 0:
            x = x + step
        else:
            y = y + step
        vx, vy = x >> MAX_LEVEL, y >> MAX_LEVEL
        outside = (x < 0) | (y < 0) | (vx >= shape[0]) | (vy >= shape[1])
        electrode = np.full(tree.n_leaves, -1, dtype=np.int64)
        edge = edge_electrode.get((int(axis), int(sign)))
        if edge is not None:
            electrode[open_side & outside] = edge
        inside = open_side & ~outside
        electrode[inside] = micro.electrode_index[vx[inside], vy[inside]]
        hit = np.flatnonzero(open_side & (electrode >= 0))
        leaves.append(hit)
        sides.append(np.full(len(hit), side))
        electrodes.append(electrode[hit])
    leaf, side, electrode = (np.concatenate(v) for v in (leaves, sides, electrodes))
    axis = SIDE_AXIS[side]
    sigma_normal = material.tensor_table[material.leaf_tensor[leaf], axis, axis]
    return {"leaf": leaf, "side": side, "electrode": electrode,
            "resistance_area": contact_resistance_area(case, electrode, sigma_normal)}


def leaf_side_corners(side: int) -> tuple[int, int]:
    """The two local corners (index 2 ox + oy) of a leaf side, ordered along the side."""
    return {0: (0, 1), 1: (2, 3), 2: (0, 2), 3: (1, 3)}[side]


def physical_length(tree: Quadtree, fine_length: np.ndarray, voxel_size_m: float) -> np.ndarray:
    """Fine units -> m."""
    return fine_length * (voxel_size_m / FINE)

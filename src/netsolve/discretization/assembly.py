"""Assembly shared by the finite-element discretizations: Dirichlet elimination of the
degrees of freedom held at an electrode potential, into the solve stage's operator contract,
and the contact resistance of electrode faces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..case import Case
from ..microstructure import Microstructure, Phase
from ..properties import Properties
from ..solve import laplacian


class MatrixOperator:
    """Shared properties of the operators that assemble their own matrix (``matrix``: the
    unknowns' symmetric matrix with the electrode links on its diagonal; ``shape``: the grid)."""

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def n_nodes(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_links(self) -> int:
        """Stored off-diagonal couplings of the matrix (each pair once)."""
        return (self.matrix.nnz - self.n_nodes) // 2


@dataclass(frozen=True)
class ReducedSystem:
    """The free degrees of freedom's matrix and the electrode links (the solve contract).

    ``dof_unknown``: unknown index of every degree of freedom, -1 for those held at an
    electrode potential (Dirichlet). Conductances in S; electrode links may be negative (a
    coupling of an anisotropic element need not be negative); the matrix is still SPD.
    """

    dof_unknown: np.ndarray
    matrix: sp.csr_matrix
    electrode_link_node: np.ndarray
    electrode_link_electrode: np.ndarray
    electrode_link_conductance: np.ndarray
    electrode_coupling: np.ndarray  # (n_e, n_e) Laplacian of direct electrode couplings


def contact_resistance_area(case: Case, electrode: np.ndarray,
                            sigma_normal: np.ndarray) -> np.ndarray:
    """Resistance x area (ohm m^2) of electrode contact faces: the electrode's ASR plus, for
    ``electrode_link = "full_voxel"``, the paper's extra half voxel h/2 / s_nn (s_nn: the
    voxel's conductivity normal to the face, S/m). 0 means a Dirichlet contact."""
    asr = np.array([e.asr_ohm_m2 for e in case.electrodes])[electrode]
    extra = 0.0 if case.materials.electrode_link == "half_voxel" else 0.5 * case.grid.voxel_size_m
    return asr + extra / sigma_normal


def eliminate_dirichlet(n_electrodes: int, n_dofs: int, couplings: dict, dof_electrode,
                        robin_dof, robin_electrode, robin_conductance) -> ReducedSystem:
    """Split the couplings (a dict of "a", "b", "value": every off-diagonal matrix entry
    once, consumed) into the free dofs' matrix, electrode links and electrode pairs.

    ``dof_electrode``: Dirichlet electrode of every dof (-1: free); Robin links join a dof to
    an electrode through a conductance (S)."""
    n_e = n_electrodes
    free = dof_electrode < 0
    dof_unknown = np.where(free, np.cumsum(free) - 1, -1).astype(np.int32 if n_dofs < 2**31 - 1
                                                                    else np.int64)
    n_free = int(free.sum())
    coupling = np.zeros((n_e, n_e))

    def couple(ka, kb, g):  # direct conductances between electrodes (Laplacian)
        other = ka != kb
        np.add.at(coupling, (ka[other], kb[other]), -g[other])
        np.add.at(coupling, (kb[other], ka[other]), -g[other])
        np.add.at(coupling, (ka[other], ka[other]), g[other])
        np.add.at(coupling, (kb[other], kb[other]), g[other])

    pair_a = couplings.pop("a")
    unknown_a = dof_unknown[pair_a]
    pair_b = couplings.pop("b")
    unknown_b = dof_unknown[pair_b]
    pair_value = couplings.pop("value")
    # The few couplings that touch a Dirichlet dof become electrode links or couplings.
    boundary = np.flatnonzero((unknown_a < 0) | (unknown_b < 0))
    pair_a, pair_b = pair_a[boundary], pair_b[boundary]  # frees the full arrays
    boundary_value = pair_value[boundary]
    free_a, free_b = free[pair_a], free[pair_b]
    link_node, link_electrode, link_g = [], [], []
    for mine, theirs in ((pair_a, pair_b), (pair_b, pair_a)):
        to_dirichlet = free[mine] & ~free[theirs]
        link_node.append(dof_unknown[mine[to_dirichlet]])
        link_electrode.append(dof_electrode[theirs[to_dirichlet]])
        link_g.append(-boundary_value[to_dirichlet])
    neither = ~free_a & ~free_b
    couple(dof_electrode[pair_a[neither]], dof_electrode[pair_b[neither]],
           -boundary_value[neither])

    robin_free = free[robin_dof]
    link_node.append(dof_unknown[robin_dof[robin_free]])
    link_electrode.append(robin_electrode[robin_free])
    link_g.append(robin_conductance[robin_free])
    couple(dof_electrode[robin_dof[~robin_free]],
           robin_electrode[~robin_free], robin_conductance[~robin_free])

    e_node = np.concatenate(link_node)
    e_electrode = np.concatenate(link_electrode).astype(np.int64)
    e_g = np.concatenate(link_g)
    if len(boundary):  # keep the couplings between unknowns
        keep = np.ones(len(unknown_a), dtype=bool)
        keep[boundary] = False
        unknown_a, unknown_b, pair_value = unknown_a[keep], unknown_b[keep], pair_value[keep]
    np.negative(pair_value, out=pair_value)  # coupling -> link conductance, in place
    matrix = laplacian(n_free, (unknown_a, unknown_b), pair_value,
                       np.bincount(e_node, e_g, n_free))
    return ReducedSystem(dof_unknown, matrix, e_node, e_electrode, e_g, coupling)


def element_tensors(micro: Microstructure, props: Properties) -> tuple[np.ndarray, np.ndarray]:
    """The tensor table of the elements (S/m: ``Properties.tensor_table`` + the backbone's
    sigma I as the last row) and the row of every conducting voxel (C order)."""
    ndim = micro.labels.ndim
    n_rows = len(props.tensor_table)  # grain rows, then per-voxel rows (if any)
    table = np.concatenate([props.tensor_table, props.backbone_sigma * np.eye(ndim)[None]])
    index = np.where(micro.phase == Phase.GRAIN, props.tensor_index, n_rows)[micro.conducting]
    return table, index.astype(np.int32)


def dof_values(unknown: np.ndarray, electrode: np.ndarray, solution) -> np.ndarray:
    """Potential of every dof (V, relative to the solution's offset): a free dof's from the
    solution (``unknown`` >= 0), a Dirichlet dof's its electrode's (``electrode``)."""
    out = np.empty(len(unknown))
    free = unknown >= 0
    out[free] = solution.node_potential[unknown[free]]
    out[~free] = solution.electrode_potential[electrode[~free]]
    return out

"""The nodal admittance system between two terminals, for any frequency.

Unknowns: the complex potentials (V) of the voxel nodes connected to the terminals and of the
floating electrodes (electrodes in neither terminal: an equipotential metal with no net
current). Terminal A is held at 1 V, terminal B at 0 V. Every branch (internal link or
electrode link) adds its admittance y to the Laplacian; the sparsity pattern is fixed, so
each frequency only refills values: ``matrix.data = scatter @ y`` and ``rhs = drive @ y``.

The matrix is complex symmetric (not Hermitian): Y = W + i T with W, T the Laplacians of the
branches' real and imaginary admittances, both >= 0 for these passive RC branches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import NoConductingPathError
from ..discretization.tpfa import Network
from ..solve import electrode_groups


@dataclass(frozen=True)
class TerminalSystem:
    """Branches: the network's internal links, then its electrode links. Augmented indices:
    nodes 0..n_nodes-1, electrode k at n_nodes + k. ``branch_ends`` (m, 2): for an electrode
    link (electrode, node), so a branch current ``y (u[0] - u[1])`` is the current from the
    electrode into the sample. ``unknown`` (n_unknowns,): augmented index of each unknown;
    ``fixed_potential`` (n_nodes + n_electrodes,): 1 on terminal A, 0 on terminal B, NaN
    elsewhere. ``pattern`` (n_unknowns^2 CSR, data to be refilled), ``scatter`` (nnz x m)
    and ``drive`` (n_unknowns x m): matrix values and right-hand side from branch admittances.
    ``terminal_a`` / ``terminal_b``: electrode indices; ``n_links``: internal links (the
    first branches)."""

    n_nodes: int
    n_links: int
    branch_ends: np.ndarray
    unknown: np.ndarray
    fixed_potential: np.ndarray
    pattern: sp.csr_matrix
    scatter: sp.csr_matrix
    drive: sp.csr_matrix
    terminal_a: tuple[int, ...]
    terminal_b: tuple[int, ...]
    ndim: int

    @property
    def n_unknowns(self) -> int:
        return len(self.unknown)

    def matrix(self, admittance: np.ndarray) -> sp.csr_matrix:
        """Y(omega) over the unknowns (S) from the branch admittances (S)."""
        matrix = self.pattern.copy()
        matrix.data = self.scatter @ admittance
        return matrix

    def rhs(self, admittance: np.ndarray) -> np.ndarray:
        """Currents (A) the terminals drive into the unknowns at 1 V / 0 V."""
        return self.drive @ admittance

    def potentials(self, solution: np.ndarray) -> np.ndarray:
        """Augmented potentials (V): the fixed terminals, the solution, 0 on dropped nodes
        (not connected to a terminal: no current flows there)."""
        full = np.where(np.isfinite(self.fixed_potential), self.fixed_potential, 0.0).astype(
            complex)
        full[self.unknown] = solution
        return full

    def branch_voltage(self, potentials: np.ndarray) -> np.ndarray:
        return potentials[self.branch_ends[:, 0]] - potentials[self.branch_ends[:, 1]]

    def terminal_currents(self, branch_current: np.ndarray) -> tuple[complex, complex]:
        """Currents (A) into the sample from terminal A and from terminal B."""
        electrode = self.branch_ends[self.n_links:, 0] - self.n_nodes
        current = branch_current[self.n_links:]
        return (complex(current[np.isin(electrode, self.terminal_a)].sum()),
                complex(current[np.isin(electrode, self.terminal_b)].sum()))


def build_terminal_system(network: Network, electrode_names: tuple[str, ...],
                          terminals: tuple[tuple[str, ...], tuple[str, ...]],
                          origin: str) -> TerminalSystem:
    """The unknowns, the pattern and the scatter operators of ``network`` between
    ``terminals`` (two groups of electrode names)."""
    n, n_e = network.n_nodes, network.n_electrodes
    index = {name: k for k, name in enumerate(electrode_names)}
    term_a = tuple(index[name] for name in terminals[0])
    term_b = tuple(index[name] for name in terminals[1])
    node_group, electrode_group = electrode_groups(network)
    _check_terminals(network, electrode_names, terminals, term_a, term_b, electrode_group,
                     origin)
    group = electrode_group[term_a[0]]
    fixed = np.full(n + n_e, np.nan)
    fixed[n + np.array(term_a)] = 1.0
    fixed[n + np.array(term_b)] = 0.0
    active = np.concatenate([node_group == group, electrode_group == group])
    unknown = np.flatnonzero(active & ~np.isfinite(fixed))
    position = np.full(n + n_e, -1, dtype=np.int64)
    position[unknown] = np.arange(len(unknown))

    ends = np.concatenate([network.link_nodes.astype(np.int64),
                           np.stack([n + network.electrode_link_electrode.astype(np.int64),
                                     network.electrode_link_node.astype(np.int64)], axis=1)])
    pattern, scatter, drive = _scatter_operators(ends, position, fixed, active, len(unknown))
    return TerminalSystem(n, network.n_links, ends, unknown, fixed, pattern, scatter, drive, term_a, term_b,
                          len(network.shape))


def _check_terminals(network, names, terminals, term_a, term_b, electrode_group, origin):
    touching = np.bincount(network.electrode_link_electrode, minlength=len(names))
    for k in term_a + term_b:
        if touching[k] == 0:
            raise NoConductingPathError(
                f"{origin}: impedance terminal electrode '{names[k]}' touches no conducting "
                f"voxel")
    for group_terms in (term_a, term_b):
        groups = {int(electrode_group[k]) for k in group_terms}
        if len(groups) > 1:
            raise NoConductingPathError(
                f"{origin}: the electrodes of one impedance terminal ("
                f"{', '.join(names[k] for k in group_terms)}) are not connected to each other "
                f"through the sample")
    if electrode_group[term_a[0]] != electrode_group[term_b[0]]:
        raise NoConductingPathError(
            f"{origin}: no conducting path connects impedance terminals "
            f"{', '.join(terminals[0])} and {', '.join(terminals[1])}: ZrO2/void cut every path")


def _scatter_operators(ends, position, fixed, active, n_unknowns):
    """CSR pattern of the unknowns' Laplacian and the sparse maps branch admittance ->
    matrix data (``scatter``) and -> right-hand side (``drive``)."""
    m = len(ends)
    branch = np.arange(m)
    p, q = position[ends[:, 0]], position[ends[:, 1]]
    both = (p >= 0) & (q >= 0)
    rows = np.concatenate([p[both], q[both], p[p >= 0], q[q >= 0]])
    cols = np.concatenate([q[both], p[both], p[p >= 0], q[q >= 0]])
    terms = np.concatenate([branch[both], branch[both], branch[p >= 0], branch[q >= 0]])
    signs = np.concatenate([-np.ones(2 * both.sum()), np.ones((p >= 0).sum() + (q >= 0).sum())])
    key = rows * n_unknowns + cols
    unique_key, entry = np.unique(key, return_inverse=True)
    # CSR built directly from the sorted (row, col) keys: entry k of unique_key is data[k]
    indptr = np.zeros(n_unknowns + 1, dtype=np.int64)
    np.cumsum(np.bincount(unique_key // n_unknowns, minlength=n_unknowns), out=indptr[1:])
    pattern = sp.csr_matrix((np.zeros(len(unique_key), complex), unique_key % n_unknowns,
                             indptr), shape=(n_unknowns, n_unknowns))
    scatter = sp.csr_matrix((signs, (entry, terms)), shape=(len(unique_key), m))
    # a branch from an unknown to a fixed terminal drives y * V_terminal into the unknown
    fixed_value = np.where(np.isfinite(fixed), fixed, 0.0)
    to_fixed_q = (p >= 0) & np.isfinite(fixed[ends[:, 1]]) & active[ends[:, 1]]
    to_fixed_p = (q >= 0) & np.isfinite(fixed[ends[:, 0]]) & active[ends[:, 0]]
    drive = sp.csr_matrix(
        (np.concatenate([fixed_value[ends[to_fixed_q, 1]], fixed_value[ends[to_fixed_p, 0]]]),
         (np.concatenate([p[to_fixed_q], q[to_fixed_p]]),
          np.concatenate([branch[to_fixed_q], branch[to_fixed_p]]))),
        shape=(n_unknowns, m))
    return pattern, scatter, drive

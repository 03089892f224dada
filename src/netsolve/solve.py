"""Stage 4: network + electrode conditions -> node potentials.

Layers (as in pyamg): :func:`laplacian` assembles the symmetric network matrix,
:mod:`netsolve.solvers` solves SPD systems (SciPy direct, AMG-CG or Jacobi-CG), and
:func:`solve_network` handles the physics around it: floating clusters, connectivity checks,
Dirichlet elimination and current-controlled electrodes.

The solve stage works on an *operator* (the discretization's output), not on one scheme: a
:class:`~netsolve.discretization.tpfa.Network` (two-point), a
:class:`~netsolve.discretization.q1.FemOperator` or a mixed operator. The
contract: ``n_nodes`` unknowns; a symmetric matrix over them whose off-diagonal part has zero
row sums except for the electrode couplings on its diagonal (:func:`network_matrix`); electrode
links ``electrode_link_node`` / ``electrode_link_electrode`` / ``electrode_link_conductance``
(current into the sample ``g (V_electrode - u_node)``); optionally ``electrode_coupling``, an
(n_electrodes, n_electrodes) Laplacian of direct electrode-to-electrode conductances (S).

Current-controlled electrodes are handled by superposition, which keeps the matrix local (no
dense electrode rows) and lets all right-hand sides share one factorization / AMG hierarchy:
the voxel system is solved with every electrode held at a fixed potential, once for the
fixed-potential electrodes and once per current-controlled electrode at 1 V; the small linear
system "electrode current = prescribed" then gives the unknown electrode potentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from .case import Electrode, SolverOptions
from .errors import NoConductingPathError, SolveError
from typing import TYPE_CHECKING
from .solvers import GMG_MIN_UNKNOWNS, SolverStats, WarmStart, choose_method, linear_solve
from .stopping import BalanceTarget, current_balance, electrode_currents

if TYPE_CHECKING:  # the contract is structural: any operator of netsolve.discretization
    from .discretization.tpfa import Network


@dataclass(frozen=True)
class NetworkSolution:
    """Potentials of a solved network (V).

    ``node_potential`` and ``electrode_potential`` are relative to ``potential_offset_V`` (the
    middle of the fixed electrode potentials; absolute = stored + offset): differences, currents
    and powers computed from them keep every digit even when the electrodes sit at 1e6 V.
    ``node_potential`` is NaN on floating nodes (no path to any electrode).
    ``electrode_potential`` / ``electrode_current`` follow the order of the case electrodes;
    currents are positive into the sample (A).
    """

    node_potential: np.ndarray
    floating: np.ndarray
    electrode_potential: np.ndarray
    electrode_current: np.ndarray
    stats: SolverStats
    n_unknowns: int
    extra: dict = field(default_factory=dict)
    potential_offset_V: float = 0.0

    @property
    def absolute_electrode_potential(self) -> np.ndarray:
        """Electrode potentials as the case gives them (V)."""
        return self.electrode_potential + self.potential_offset_V


# --------------------------------------------------------------------------- assembly


def laplacian(n_nodes: int, link_nodes: np.ndarray | tuple, conductance: np.ndarray,
              diagonal_extra: np.ndarray | None = None) -> sp.csr_matrix:
    """Weighted graph Laplacian ``sum_links g (e_a - e_b)(e_a - e_b)^T`` (+ extra diagonal).

    ``link_nodes``: (m, 2) array, or a pair (a, b) of (m,) arrays (saves a copy)."""
    a, b = link_nodes if isinstance(link_nodes, tuple) else (link_nodes[:, 0], link_nodes[:, 1])
    diag = np.bincount(a, conductance, n_nodes) + np.bincount(b, conductance, n_nodes)
    if diagonal_extra is not None:
        diag = diag + diagonal_extra
    index_dtype = np.int32 if n_nodes < 2**31 - 1 else np.int64
    rows = np.concatenate([a, b, np.arange(n_nodes, dtype=index_dtype)]).astype(index_dtype,
                                                                                copy=False)
    cols = np.concatenate([b, a, np.arange(n_nodes, dtype=index_dtype)]).astype(index_dtype,
                                                                                copy=False)
    n_links = len(conductance)
    values = np.empty(2 * n_links + n_nodes)  # no temporaries: matrix-sized at 2048^2
    np.negative(conductance, out=values[:n_links])
    values[n_links:2 * n_links] = values[:n_links]
    values[2 * n_links:] = diag
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(n_nodes, n_nodes))
    matrix.sum_duplicates()
    return matrix


# --------------------------------------------------------------------------- guards

# The tightest relative residual asked of an iterative solver when the current balance
# needs more than the case's rtol (CG in float64 stagnates a little above 1e-15).
TIGHTEST_RTOL = 1e-14
MAX_TIGHTENINGS = 4


def check_balances(electrode_current, balances, tolerance, origin, matrix, link_g,
                   stats, at_precision_limit: bool = True) -> None:
    """Raise :class:`SolveError` unless the electrode currents (Kirchhoff) and the power
    (Tellegen, ``|u . (A u - b)| / sum V I``) balance to ``tolerance``."""
    balance, power_balance = balances
    if balance <= tolerance and power_balance <= tolerance:
        return
    if not np.all(np.isfinite(electrode_current)):
        raise SolveError(f"{origin}: the electrode currents are not finite (NaN/Inf) after the "
                         f"'{stats.method}' solve: the result cannot be trusted")
    if not np.any(electrode_current):
        raise SolveError(f"{origin}: no current flows between the electrodes (every electrode "
                         f"current is 0 A): give the electrodes different potentials or a "
                         f"non-zero current_A")
    what = (f"the electrode currents do not balance: |sum I| / max |I| = {balance:.1e}"
            if not balance <= tolerance else
            f"the power does not balance: |Joule heat - sum V I| / sum V I = {power_balance:.1e}")
    if at_precision_limit:
        cause = (f"the network's conductances span "
                 f"{_conductance_contrast(matrix, link_g):.0e}, more than float64 resolves "
                 f"here: reduce the contrast (e.g. materials.ratio_ip_gb, ratio_ip_op) or raise "
                 f"solver.balance_tol")
    else:
        cause = 'raise solver.maxiter or use solver.method = "direct"'
    raise SolveError(
        f"{origin}: {what} > "
        f"solver.balance_tol {tolerance:.0e} (solver '{stats.method}', relative residual "
        f"{stats.residual_rel:.1e}); {cause} (docs/model.md, 'Guards')")


def _conductance_contrast(matrix: sp.csr_matrix, link_g: np.ndarray) -> float:
    """Largest / smallest non-zero |conductance| among the matrix couplings and electrode links."""
    values = np.abs(np.concatenate([matrix.data, link_g]))
    values = values[values > 0]
    return float(values.max() / values.min()) if len(values) else 1.0


# --------------------------------------------------------------------------- network solve


def network_matrix(network: Network) -> sp.csr_matrix:
    """Laplacian of all nodes plus each node's electrode conductances on the diagonal (S).

    An operator that assembles its own matrix (e.g. the finite-element one) carries it as
    ``matrix``; its stored entries (explicit zeros included) are its connectivity.
    """
    own = getattr(network, "matrix", None)
    if own is not None:
        return own
    n = network.n_nodes
    return laplacian(n, network.link_nodes, network.link_conductance,
                     np.bincount(network.electrode_link_node, network.electrode_link_conductance, n))


def electrode_groups(network: Network, matrix: sp.csr_matrix | None = None):
    """Connected components of the voxel graph, joined through the electrodes.

    Returns (group per node, group per electrode). A node is floating when no electrode is in
    its group. An operator on the voxel grid labels its components there
    (``voxel_components``: no matrix); otherwise ``matrix`` (from :func:`network_matrix`) is
    reused for its sparsity pattern.
    """
    labelled = getattr(network, "voxel_components", lambda: None)()
    if labelled is not None:
        n_comp, node_comp = labelled
    else:
        from scipy.sparse.csgraph import connected_components  # with scipy.sparse.linalg

        if matrix is None:
            matrix = network_matrix(network)
        n_comp, node_comp = connected_components(matrix, directed=False)
    # Electrodes join the components they touch: a small graph of components + electrodes.
    n_e = network.n_electrodes
    a = node_comp[network.electrode_link_node]
    b = n_comp + network.electrode_link_electrode.astype(np.int64)
    coupled_a, coupled_b = np.nonzero(electrode_coupling(network))  # direct electrode pairs
    a = np.concatenate([a, n_comp + coupled_a])
    b = np.concatenate([b, n_comp + coupled_b])
    group = joined_components(n_comp + n_e, a, b)
    return group[node_comp], group[n_comp:]


def joined_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component of each of ``n`` vertices joined by the edges (a, b), numbered by their
    smallest vertex (as ``scipy.sparse.csgraph.connected_components`` numbers them).

    Union-find over the distinct edges only: here a handful (the components that touch an
    electrode), however many contact faces there are; no csgraph import (with it
    scipy.sparse.linalg and scipy.linalg, about 0.15 s) on the grid path."""
    root = np.arange(n)
    pairs = np.unique(np.stack([a, b], axis=1), axis=0) if len(a) else np.zeros((0, 2), int)

    def find(v: int) -> int:
        while root[v] != v:
            root[v] = root[root[v]]
            v = int(root[v])
        return v

    for x, y in pairs.tolist():  # a loop over the distinct component-electrode contacts
        rx, ry = find(x), find(y)
        if rx != ry:
            root[max(rx, ry)] = min(rx, ry)
    for v in np.unique(pairs).tolist():
        root[v] = find(v)
    _, group = np.unique(root, return_inverse=True)  # roots are smallest vertices: ordered
    return group.reshape(-1)


def electrode_coupling(network: Network) -> np.ndarray:
    """Direct electrode-to-electrode conductance Laplacian (S); zeros for the two-point scheme."""
    coupling = getattr(network, "electrode_coupling", None)
    n_e = network.n_electrodes
    return np.zeros((n_e, n_e)) if coupling is None else coupling


def check_connectivity(network: Network, electrodes: tuple[Electrode, ...], origin: str,
                       matrix: sp.csr_matrix | None = None) -> np.ndarray:
    """Raise a clear error for electrodes that cannot carry current; return the floating mask."""
    node_group, electrode_group = electrode_groups(network, matrix)
    touching = (np.bincount(network.electrode_link_electrode, minlength=len(electrodes))
                + np.count_nonzero(electrode_coupling(network), axis=1))
    for k, electrode in enumerate(electrodes):
        if touching[k] == 0:
            raise NoConductingPathError(
                f"{origin}: electrode '{electrode.name}' (region {electrode.region.describe()}) "
                f"touches no conducting voxel: only ZrO2, void or other electrodes lie there")
    for group in np.unique(electrode_group):
        members = [e for e, g in zip(electrodes, electrode_group) if g == group]
        if len(members) == 1:
            others = ", ".join(f"'{e.name}'" for e in electrodes if e is not members[0])
            raise NoConductingPathError(
                f"{origin}: no conducting path connects electrode '{members[0].name}' to "
                f"{others}: ZrO2/void cut every path")
        if all(e.potential_V is None for e in members):
            names = ", ".join(f"'{e.name}'" for e in members)
            raise NoConductingPathError(
                f"{origin}: electrodes {names} are connected only to each other and none has a "
                f"potential_V, so their potentials are undetermined")
    return ~np.isin(node_group, electrode_group)


def chosen_method(network: Network, n_unknowns: int, options: SolverOptions) -> str:
    """The linear solver :func:`solve_network` takes for ``network`` with ``n_unknowns`` active
    unknowns (``options.method``, or what ``auto`` picks for this operator and size)."""
    ndim = len(network.shape)
    # an operator may know that the direct solver wins for it up to more unknowns (measured)
    direct_max = options.direct_max_unknowns
    if direct_max is None:
        direct_max = getattr(network, "direct_max_unknowns", {}).get(ndim)
    # ... and prefer the grid multigrid from another size on, or never (measured)
    gmg_min = getattr(network, "gmg_min_unknowns", {}).get(ndim, GMG_MIN_UNKNOWNS)
    return choose_method(options.method, n_unknowns, ndim, direct_max,
                         hasattr(network, "grid_operator"), gmg_min)


def solve_network(network: Network, electrodes: tuple[Electrode, ...], options: SolverOptions,
                  origin: str = "case", *, matrix: sp.csr_matrix | None = None,
                  warm: WarmStart | None = None) -> NetworkSolution:
    """Solve for node potentials with the electrode conditions of the case.

    ``matrix``: :func:`network_matrix` of ``network`` when the caller already has it (a sweep
    refills one sparsity pattern); ``warm``: initial guesses over the active nodes (or over all
    nodes: restricted here), one column per right-hand side, and a reusable preconditioner
    (:class:`~netsolve.solvers.WarmStart`).
    """
    if matrix is None and not hasattr(network, "voxel_components"):
        matrix = network_matrix(network)  # its pattern gives the connectivity
    floating = check_connectivity(network, electrodes, origin, matrix)
    active = np.flatnonzero(~floating)
    n_active = len(active)
    new_index = np.full(network.n_nodes, -1, dtype=np.int64)
    new_index[active] = np.arange(n_active)
    e_node = new_index[network.electrode_link_node]
    e_id = network.electrode_link_electrode.astype(np.int64)
    e_g = network.electrode_link_conductance

    n_e = len(electrodes)
    fixed = np.array([e.potential_V is not None for e in electrodes])
    fixed_v = np.array([e.potential_V if e.potential_V is not None else 0.0 for e in electrodes])
    controlled = np.flatnonzero(~fixed)
    # Offset-free form: the solve sees potentials relative to the middle of the fixed ones, so
    # that 1e6 V and 1e6 V + 1 V electrodes keep every digit of their 1 V difference.
    offset = 0.5 * (fixed_v[fixed].max() + fixed_v[fixed].min())
    # Column 0: fixed electrodes at their potentials, controlled ones at 0 V.
    # Column 1 + j: controlled electrode j at 1 V, every other electrode at 0 V.
    boundary = np.zeros((n_e, 1 + len(controlled)))
    boundary[fixed, 0] = fixed_v[fixed] - offset
    boundary[controlled, 1 + np.arange(len(controlled))] = 1.0
    rhs = np.zeros((n_active, boundary.shape[1]))
    for col in range(boundary.shape[1]):  # one column per controlled electrode (a handful)
        rhs[:, col] = np.bincount(e_node, e_g * boundary[e_id, col], n_active)

    ndim = len(network.shape)
    method = chosen_method(network, n_active, options)
    grid = network.grid_operator(active) if method == "gmg" else None
    if grid is not None and matrix is None:
        # The grid multigrid needs the matrix only for the residual and power checks: the
        # stencil on the grid gives the same products without assembling it (and without its
        # active-node copy): about 2.5 s and 0.3 GB at 2048^2.
        from .multigrid.solver import GridMatrix

        matrix = GridMatrix(grid)
    else:
        if matrix is None:
            matrix = network_matrix(network)
        if n_active < network.n_nodes:  # floating clusters are decoupled: drop them
            matrix = matrix[active][:, active]
    coupling = electrode_coupling(network)

    def currents(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return electrode_currents(u[e_node], v, e_id, e_g, coupling)

    def electrode_state(solution):
        """Relative electrode potentials, currents and the two balances, with the controlled
        electrodes' potentials from the superposition."""
        base = currents(solution[:, 0], boundary[:, 0])
        weights = np.ones(1)
        if len(controlled):
            response = np.stack([currents(solution[:, 1 + j], boundary[:, 1 + j])
                                 for j in range(len(controlled))], axis=1)
            target = np.array([electrodes[k].current_A for k in controlled])
            weights = np.concatenate([weights, np.linalg.solve(response[controlled],
                                                               target - base[controlled])])
        potential = solution @ weights
        electrode_v = boundary @ weights
        electrode_current = currents(potential, electrode_v)
        # Tellegen: sum V_k I_k - (Joule heat) = u . (A u - b), the residual's share of the power
        power = float(electrode_v @ electrode_current)
        residual_power = float(potential @ (matrix @ potential - rhs @ weights))
        balances = (current_balance(electrode_current),
                    abs(residual_power / power) if power > 0 else float("inf"))
        return potential, electrode_v, electrode_current, balances

    hierarchy = getattr(network, "amg_hierarchy", "classical")
    session = warm if warm is not None else WarmStart()
    if (session.x0 is not None and n_active < network.n_nodes
            and len(session.x0) == network.n_nodes):
        session.x0 = session.x0[active]  # a guess over all nodes: only the active ones solve
    rtol = options.rtol
    # the iterative solvers test every column's own balances on its iterates and stop as soon
    # as they hold; with current-controlled electrodes the superposed solution's balances are
    # checked below (and CG continued if they still miss)
    targets = [BalanceTarget(e_node, e_id, e_g, boundary[:, col], coupling, options.balance_tol)
               for col in range(boundary.shape[1])]
    solution, stats = linear_solve(matrix, rhs, method, rtol, options.maxiter, ndim, origin,
                                   hierarchy, session, grid, targets)
    potential, electrode_v, electrode_current, balances = electrode_state(solution)
    tightenings = 0
    while (not max(balances) <= options.balance_tol and method != "direct"
           and rtol > TIGHTEST_RTOL and tightenings < MAX_TIGHTENINGS):
        # The residual norm is dominated by the best-conducting rows: a blocking GB can keep
        # the currents imbalanced at rtol 1e-10. Continue from here to a tighter tolerance,
        # with the same preconditioner.
        balance = max(balances)
        shortfall = options.balance_tol / balance if np.isfinite(balance) else 0.0
        rtol = max(TIGHTEST_RTOL, rtol * min(shortfall, 1.0) / 10)
        retry = WarmStart(x0=solution, preconditioner=session.preconditioner)
        solution, more = linear_solve(matrix, rhs, method, rtol, options.maxiter, ndim, origin,
                                      hierarchy, retry, grid, targets)
        stats = replace(more, iterations=stats.iterations + more.iterations,
                        time_s=stats.time_s + more.time_s,
                        setup_time_s=stats.setup_time_s + more.setup_time_s)
        session.solution, session.preconditioner = retry.solution, retry.preconditioner
        potential, electrode_v, electrode_current, balances = electrode_state(solution)
        tightenings += 1
    check_balances(electrode_current, balances, options.balance_tol, origin, matrix, e_g, stats,
                   at_precision_limit=method == "direct" or rtol <= TIGHTEST_RTOL)
    node_potential = np.full(network.n_nodes, np.nan)
    node_potential[active] = potential
    return NetworkSolution(node_potential, floating, electrode_v, electrode_current, stats,
                           n_unknowns=n_active, potential_offset_V=float(offset))

"""Stage 4: network + electrode conditions -> node potentials.

Layers (as in pyamg): :func:`laplacian` assembles the symmetric network matrix,
:func:`linear_solve` solves SPD systems (SciPy direct, pyamg AMG-CG or Jacobi-CG), and
:func:`solve_network` handles the physics around it: floating clusters, connectivity checks,
Dirichlet elimination and current-controlled electrodes.

Current-controlled electrodes are handled by superposition, which keeps the matrix local (no
dense electrode rows) and lets all right-hand sides share one factorization / AMG hierarchy:
the voxel system is solved with every electrode held at a fixed potential, once for the
fixed-potential electrodes and once per current-controlled electrode at 1 V; the small linear
system "electrode current = prescribed" then gives the unknown electrode potentials.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from .case import Electrode, SolverOptions
from .errors import CaseError, NoConductingPathError
from .network import Network


@dataclass(frozen=True)
class SolverStats:
    """How the linear system was solved. ``iterations`` is 0 for the direct solver;
    with several right-hand sides it is the largest count."""

    method: str
    iterations: int
    residual_rel: float
    time_s: float
    setup_time_s: float = 0.0
    n_rhs: int = 1

    def as_dict(self) -> dict:
        return {"method": self.method, "iterations": self.iterations,
                "residual_rel": self.residual_rel, "time_s": self.time_s,
                "setup_time_s": self.setup_time_s, "n_rhs": self.n_rhs}


@dataclass(frozen=True)
class NetworkSolution:
    """Potentials of a solved network (V).

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


# --------------------------------------------------------------------------- assembly


def laplacian(n_nodes: int, link_nodes: np.ndarray, conductance: np.ndarray,
              diagonal_extra: np.ndarray | None = None) -> sp.csr_matrix:
    """Weighted graph Laplacian ``sum_links g (e_a - e_b)(e_a - e_b)^T`` (+ extra diagonal)."""
    a, b = link_nodes[:, 0], link_nodes[:, 1]
    diag = np.bincount(a, conductance, n_nodes) + np.bincount(b, conductance, n_nodes)
    if diagonal_extra is not None:
        diag = diag + diagonal_extra
    index_dtype = np.int32 if n_nodes < 2**31 - 1 else np.int64
    rows = np.concatenate([a, b, np.arange(n_nodes)]).astype(index_dtype)
    cols = np.concatenate([b, a, np.arange(n_nodes)]).astype(index_dtype)
    values = np.concatenate([-conductance, -conductance, diag])
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(n_nodes, n_nodes))
    matrix.sum_duplicates()
    return matrix


# --------------------------------------------------------------------------- linear solvers


# Sparse LU fill-in grows much faster on 3D grids than on 2D ones: "auto" uses the direct
# solver only below these sizes (measured: validation/bench_solve.py, docs/performance.md).
DIRECT_MAX_UNKNOWNS = {2: 200_000, 3: 20_000}


def choose_method(n_unknowns: int, options: SolverOptions, ndim: int = 2) -> str:
    if options.method != "auto":
        return options.method
    limit = options.direct_max_unknowns
    if limit is None:
        limit = DIRECT_MAX_UNKNOWNS[ndim]
    return "direct" if n_unknowns <= limit else "amg"


def linear_solve(matrix: sp.csr_matrix, rhs: np.ndarray, method: str, rtol: float,
                 maxiter: int, origin: str = "case") -> tuple[np.ndarray, SolverStats]:
    """Solve ``matrix @ X = rhs`` for an SPD matrix and rhs of shape (n,) or (n, k)."""
    rhs2 = rhs.reshape(len(rhs), -1)
    start = time.perf_counter()
    iterations = 0
    if method == "direct":
        factor = spla.splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A")
        setup = time.perf_counter() - start
        solution = factor.solve(rhs2)
    elif method == "amg":
        import pyamg
        from threadpoolctl import threadpool_limits

        # pyamg's setup makes many tiny dense BLAS calls; a multithreaded BLAS spends more time
        # waking threads than computing (measured 5-15x slower setup on 2 cores).
        with threadpool_limits(limits=1, user_api="blas"):
            hierarchy = pyamg.smoothed_aggregation_solver(matrix, symmetry="hermitian",
                                                          coarse_solver="splu")
            setup = time.perf_counter() - start
            solution = np.zeros_like(rhs2)
            for k in range(rhs2.shape[1]):
                if not rhs2[:, k].any():
                    continue
                residuals: list[float] = []
                solution[:, k] = hierarchy.solve(rhs2[:, k], tol=rtol, maxiter=maxiter,
                                                 accel="cg", residuals=residuals)
                iterations = max(iterations, len(residuals) - 1)
    elif method == "cg":
        setup = 0.0
        inv_diag = 1.0 / matrix.diagonal()
        preconditioner = spla.LinearOperator(matrix.shape, matvec=lambda x: inv_diag * x)
        solution = np.zeros_like(rhs2)
        for k in range(rhs2.shape[1]):
            count = [0]

            def tick(_x, count=count):
                count[0] += 1

            solution[:, k], _info = spla.cg(matrix, rhs2[:, k], rtol=rtol, maxiter=maxiter,
                                            M=preconditioner, callback=tick)
            iterations = max(iterations, count[0])
    else:  # pragma: no cover - validated in the case reader
        raise ValueError(f"unknown solver method {method!r}")
    elapsed = time.perf_counter() - start
    residual = _relative_residual(matrix, solution, rhs2)
    if method != "direct" and residual > max(10 * rtol, 1e-12):
        raise CaseError(f"{origin}: solver '{method}' did not converge: relative residual {residual:.2e} "
                        f"> rtol {rtol:.1e} after {iterations} iterations (raise solver.maxiter "
                        f"or use solver.method = \"direct\")")
    stats = SolverStats(method, iterations, residual, elapsed, setup, rhs2.shape[1])
    return solution.reshape(rhs.shape), stats


def _relative_residual(matrix: sp.csr_matrix, x: np.ndarray, rhs: np.ndarray) -> float:
    worst = 0.0
    for k in range(rhs.shape[1]):
        norm = np.linalg.norm(rhs[:, k])
        if norm > 0:
            worst = max(worst, float(np.linalg.norm(rhs[:, k] - matrix @ x[:, k]) / norm))
    return worst


# --------------------------------------------------------------------------- network solve


def find_floating(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of voxels + electrodes.

    Returns (component label per node, component label per electrode); a node is floating
    when no electrode shares its component.
    """
    n = network.n_nodes
    n_e = network.n_electrodes
    a = np.concatenate([network.link_nodes[:, 0], network.electrode_link_node])
    b = np.concatenate([network.link_nodes[:, 1], n + network.electrode_link_electrode.astype(np.int64)])
    graph = sp.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n + n_e, n + n_e))
    _, component = connected_components(graph, directed=False)
    return component[:n], component[n:]


def check_connectivity(network: Network, electrodes: tuple[Electrode, ...],
                       origin: str) -> np.ndarray:
    """Raise a clear error for electrodes that cannot carry current; return the floating mask."""
    node_comp, electrode_comp = find_floating(network)
    touching = np.bincount(network.electrode_link_electrode, minlength=len(electrodes))
    for k, electrode in enumerate(electrodes):
        if touching[k] == 0:
            raise NoConductingPathError(
                f"{origin}: electrode '{electrode.name}' (region {electrode.region.describe()}) "
                f"touches no conducting voxel: only ZrO2, void or other electrodes lie there")
    for comp in np.unique(electrode_comp):
        members = [e for e, c in zip(electrodes, electrode_comp) if c == comp]
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
    return ~np.isin(node_comp, electrode_comp)


def solve_network(network: Network, electrodes: tuple[Electrode, ...], options: SolverOptions,
                  origin: str = "case") -> NetworkSolution:
    """Solve for node potentials with the electrode conditions of the case."""
    floating = check_connectivity(network, electrodes, origin)
    active = np.flatnonzero(~floating)
    n_active = len(active)
    new_index = np.full(network.n_nodes, -1, dtype=np.int64)
    new_index[active] = np.arange(n_active)

    keep = ~floating[network.link_nodes[:, 0]]  # a link never joins two components
    links = new_index[network.link_nodes[keep]]
    e_node = new_index[network.electrode_link_node]
    e_id = network.electrode_link_electrode.astype(np.int64)
    e_g = network.electrode_link_conductance
    matrix = laplacian(n_active, links, network.link_conductance[keep],
                       np.bincount(e_node, e_g, n_active))

    n_e = len(electrodes)
    fixed = np.array([e.potential_V is not None for e in electrodes])
    fixed_v = np.array([e.potential_V if e.potential_V is not None else 0.0 for e in electrodes])
    controlled = np.flatnonzero(~fixed)
    # Column 0: fixed electrodes at their potentials, controlled ones at 0 V.
    # Column 1 + j: controlled electrode j at 1 V, every other electrode at 0 V.
    boundary = np.zeros((n_e, 1 + len(controlled)))
    boundary[:, 0] = fixed_v
    boundary[controlled, 1 + np.arange(len(controlled))] = 1.0
    rhs = np.zeros((n_active, boundary.shape[1]))
    for col in range(boundary.shape[1]):  # one column per controlled electrode (a handful)
        rhs[:, col] = np.bincount(e_node, e_g * boundary[e_id, col], n_active)

    method = choose_method(n_active, options, len(network.shape))
    solution, stats = linear_solve(matrix, rhs, method, options.rtol, options.maxiter, origin)

    def currents(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.bincount(e_id, e_g * (v[e_id] - u[e_node]), n_e)

    base = currents(solution[:, 0], boundary[:, 0])
    electrode_v = fixed_v.copy()
    potential = solution[:, 0]
    if len(controlled):
        response = np.stack([currents(solution[:, 1 + j], boundary[:, 1 + j])
                             for j in range(len(controlled))], axis=1)
        target = np.array([electrodes[k].current_A for k in controlled])
        unknown_v = np.linalg.solve(response[controlled], target - base[controlled])
        electrode_v[controlled] = unknown_v
        potential = solution[:, 0] + solution[:, 1:] @ unknown_v

    node_potential = np.full(network.n_nodes, np.nan)
    node_potential[active] = potential
    electrode_current = currents(potential, electrode_v)
    return NetworkSolution(node_potential, floating, electrode_v, electrode_current, stats,
                           n_unknowns=n_active)

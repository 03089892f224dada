"""Benchmark: grid-based multigrid candidates for the finite-element (Q1) operator against the
shipped root-node AMG (not a test).

    python validation/bench_q1_grid.py [--cases lamella512 lamella1024 grains64 porous64]
                                       [--candidates rootnode box ...] [--repeats 3]

Each case's FEM matrix (active unknowns only, as the solve stage hands it to the linear
solver) and its first right-hand side are extracted once per process from the real pipeline
(``netsolve.solve.solve_network`` with the linear solve intercepted), together with the grid
corner of every unknown (a corner's grain-boundary copies share it). Then every candidate
preconditioner is set up and CG (``netsolve.stopping.pcg``, float64) runs to rtol 1e-8;
printed per candidate: setup CPU s, iterations, CG CPU s, total CPU s (medians over
``--repeats``, candidates alternating), and the load average. BLAS on one thread.

Cases: ``lamellaN`` = the ``bench_solve.py`` polycrystal (Voronoi, one grain per ~20^d voxels,
random orientations, 1000:1, GB resistors, 2 % ZrO2) at N^2; ``grainsN`` the same at N^3;
``porousN`` = the ``bench_peers.py`` isotropic porous N^3 (25 % insulating spheres).

Candidates (docs/performance.md, "Grid multigrid (issue 15)"):
- ``rootnode``: the shipped ``amg`` preconditioner (``RugeStubenPreconditioner(hierarchy=
  "rootnode")``).
- ``gmg``: ``netsolve.multigrid.fem.CornerMultigrid`` with box levels all the way (what
  ``method = "gmg"`` runs in 3D); ``gmg-rn``: one box level, root-node AMG below (what it runs
  in 2D); ``gmg-w1.3`` / ``-w1.6``: other correction weights; ``gmg-sgs2``: two sweeps.
- ``box+rn``: the ``gmg-rn`` idea written out in this script (the first version measured);
  ``copies+rn`` / ``pairs+rn``: the same with only the copies joined onto their corner / with
  2x1 corner pairs as the first level.
- ``box``: the first version of ``gmg`` (sparse-matrix Galerkin products, recursive cycle):
  every corner's copies and 2x2(x2) corners -> 1, recursively,
  Galerkin coarse operators (piecewise constant), correction weight ``BOX_WEIGHT``, symmetric
  Gauss-Seidel (forward down, backward up), float32 levels.
- ``box-sgs2``: the same with two symmetric Gauss-Seidel sweeps per side; ``box-w*``: other
  weights; ``box-W``: W-cycle (weight 1.3); ``box-K``: K-cycle (two flexible-CG steps on each
  coarse level, weight 1; the outer CG is then flexible).
- ``rn-geo``: root-node AMG whose first level uses the geometric aggregates (copies + 2x2(x2)
  corner boxes; no evolution strength), energy-minimized prolongation on that pattern,
  algebraic (classical strength) below.
- ``rn-geo-sym`` / ``rn-geo2``: the same with symmetric strength (theta 0) for the pattern /
  with the first two levels geometric.
- ``sa-geo``: smoothed aggregation (Jacobi-smoothed piecewise constant) on the geometric
  aggregates at every level.
Not measured: the two-point operator of the node grid as an auxiliary-space preconditioner (not
spectrally equivalent on oblique 1000:1 grains: docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# NumPy on ordinary pages, as in `netsolve run` (bench_solve.py): with transparent huge pages
# the cost of large allocations varied 10x from run to run here
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

RTOL = 1e-8
MAXITER = 600
BOX_WEIGHT = 1.8
MAX_COARSE = 500


# --------------------------------------------------------------------------- the matrices


def case_for(name: str):
    import netsolve
    from bench_solve import case_dict

    kind = name.rstrip("0123456789")
    n = int(name[len(kind):])
    if kind == "lamella":
        return netsolve.case_from_dict(case_dict((n, n), "amg", RTOL, "fem"))
    if kind == "grains":
        return netsolve.case_from_dict(case_dict((n, n, n), "amg", RTOL, "fem"))
    if kind == "porous":
        from bench_peers import porous_structure

        folder = Path(tempfile.mkdtemp(prefix="bench_q1_grid_"))
        np.save(folder / "porous.npy", porous_structure(n))
        return netsolve.case_from_dict({
            "grid": {"shape": [n, n, n], "voxel_size_nm": 1.0},
            "microstructure": {"source": "labels", "path": "porous.npy",
                               "phases": {"void": 0}},
            "materials": {"sigma_ip_S_per_m": 1.0, "conductivity_model": "isotropic"},
            "electrodes": [{"name": "left", "region": "left", "potential_V": 1.0},
                           {"name": "right", "region": "right", "potential_V": 0.0}],
            "solver": {"method": "amg", "rtol": RTOL, "discretization": "fem"},
        }, base_dir=folder)
    raise SystemExit(f"unknown case {name!r}")


def solver_system(op, case) -> dict:
    """What the solve stage hands the linear solver for ``op``: ``matrix`` (active unknowns),
    ``rhs`` (its first column) and ``floating`` (per unknown), from the real pipeline
    (``netsolve.solve.solve_network`` with the linear solve intercepted)."""
    import importlib

    solve_module = importlib.import_module("netsolve.solve")  # the package's solve() hides it
    captured = {}
    real_solve, real_connectivity = solve_module.linear_solve, solve_module.check_connectivity

    class Captured(Exception):
        pass

    def connectivity(*args, **kwargs):
        captured["floating"] = real_connectivity(*args, **kwargs)
        return captured["floating"]

    def intercept(matrix, rhs, *args, **kwargs):
        captured["matrix"], captured["rhs"] = matrix, rhs[:, 0].copy()
        raise Captured

    solve_module.linear_solve, solve_module.check_connectivity = intercept, connectivity
    try:
        solve_module.solve_network(op, case.electrodes, case.solver)
    except Captured:
        pass
    finally:
        solve_module.linear_solve = real_solve
        solve_module.check_connectivity = real_connectivity
    return captured


def extract(name: str) -> dict:
    """The solve stage's matrix (CSR, float64, active unknowns), first right-hand side, and
    the grid corner (n, d) of every unknown; cached in the temporary directory."""
    cache = Path(tempfile.gettempdir()) / "bench_q1_grid" / f"{name}.npz"
    if cache.exists():
        data = np.load(cache)
        matrix = sp.csr_matrix((data["data"], data["indices"], data["indptr"]),
                               shape=(len(data["indptr"]) - 1,) * 2)
        return {"matrix": matrix, "rhs": data["rhs"], "corner": data["corner"]}
    from netsolve.discretization import build_operator
    from netsolve.discretization.q1 import corner_offsets
    from netsolve.microstructure import build_microstructure
    from netsolve.properties import compute_properties

    case = case_for(name)
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    op = build_operator(case, micro, props)
    captured = solver_system(op, case)
    # corner of every copy, from the elements that use it
    offsets = corner_offsets(op.ndim)
    voxel = np.stack(np.unravel_index(op.element_voxel, op.shape), axis=1)
    copy_corner = np.zeros((len(op.copy_unknown), op.ndim), dtype=np.int32)
    for j, omega in enumerate(offsets):
        copy_corner[op.element_nodes[:, j]] = voxel + omega
    active = np.flatnonzero(~captured["floating"])
    free = op.copy_unknown >= 0
    unknown_corner = np.zeros((op.n_nodes, op.ndim), dtype=np.int32)
    unknown_corner[op.copy_unknown[free]] = copy_corner[free]
    corner = unknown_corner[active]
    matrix = sp.csr_matrix(captured["matrix"], dtype=np.float64)
    cache.parent.mkdir(exist_ok=True)
    np.savez(cache, data=matrix.data, indices=matrix.indices, indptr=matrix.indptr,
             rhs=captured["rhs"], corner=corner)
    return {"matrix": matrix, "rhs": captured["rhs"], "corner": corner}


# --------------------------------------------------------------------------- geometric levels


def box_aggregates(corner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate of every unknown (its corner's 2x2(x2) box: copies join their corner's box),
    numbered densely, and the coarse unknowns' box coordinates."""
    box = corner // 2
    extent = box.max(axis=0) + 1
    key = np.ravel_multi_index(tuple(box.T), tuple(extent))
    unique, aggregate = np.unique(key, return_inverse=True)
    coarse = np.stack(np.unravel_index(unique, tuple(extent)), axis=1).astype(np.int32)
    return aggregate.astype(np.int32), coarse


def aggregate_operator(aggregate: np.ndarray, n_coarse: int) -> sp.csr_matrix:
    n = len(aggregate)
    return sp.csr_matrix((np.ones(n), aggregate, np.arange(n + 1)), shape=(n, n_coarse))


def symmetric_pinv(matrix: sp.spmatrix) -> np.ndarray:
    from netsolve.solvers import _symmetric_pseudo_inverse

    return _symmetric_pseudo_inverse(matrix)


class BoxMultigrid:
    """V-cycle of geometric aggregation (see the module doc, ``box``); float32 levels, the
    matrix scaled by its largest diagonal entry."""

    def __init__(self, matrix, corner, weight=BOX_WEIGHT, sweeps=1, dtype=np.float32,
                 cycle="V"):
        from netsolve.multigrid.fem import galerkin_general

        self.weight, self.sweeps, self.dtype, self.cycle = weight, sweeps, dtype, cycle
        self.scale = 1.0 / float(matrix.diagonal().max())
        a = matrix * self.scale
        self.A, self.agg, self.n = [], [], []
        while a.shape[0] > MAX_COARSE:
            aggregate, corner = box_aggregates(corner)
            n_coarse = len(corner)
            self.A.append(sp.csr_matrix(a, dtype=dtype))
            self.agg.append(aggregate)
            a = galerkin_general(a, aggregate, n_coarse)
        self.coarse_inverse = symmetric_pinv(a)
        self.P = [aggregate_operator(g, int(g.max()) + 1).astype(dtype) for g in self.agg]
        self.R = [p.T.tocsr() for p in self.P]

    def __matmul__(self, residual):
        magnitude = float(np.abs(residual).max())
        e = self._cycle(0, (residual / magnitude).astype(self.dtype))
        return e.astype(np.float64) * (magnitude / self.scale)

    def _coarse(self, level, r):
        """Coarse-grid correction of level ``level`` for its residual ``r`` (level + 1)."""
        if level + 1 == len(self.A):
            return (self.coarse_inverse @ r.astype(np.float64)).astype(self.dtype)
        if self.cycle == "W":
            e = self._cycle(level + 1, r)
            return e + self._cycle(level + 1, r - self.A[level + 1] @ e)
        if self.cycle == "K":  # two steps of flexible CG with the next level's cycle
            a = self.A[level + 1]
            c1 = self._cycle(level + 1, r)
            v1 = a @ c1
            rho1, alpha1 = float(c1 @ v1), float(c1 @ r)
            if rho1 <= 0:
                return c1
            r2 = r - (alpha1 / rho1) * v1
            if np.linalg.norm(r2) <= 0.25 * np.linalg.norm(r):
                return (alpha1 / rho1) * c1
            c2 = self._cycle(level + 1, r2)
            v2 = a @ c2
            gamma, beta, alpha2 = float(c2 @ v1), float(c2 @ v2), float(c2 @ r2)
            rho2 = beta - gamma * gamma / rho1
            if rho2 <= 0:
                return (alpha1 / rho1) * c1
            return ((alpha1 / rho1 - gamma * alpha2 / (rho1 * rho2)) * c1
                    + (alpha2 / rho2) * c2).astype(self.dtype)
        return self._cycle(level + 1, r)

    def _cycle(self, level, r):
        from pyamg.relaxation.relaxation import gauss_seidel

        a = self.A[level]
        x = np.zeros_like(r)
        gauss_seidel(a, x, r, iterations=self.sweeps, sweep="forward")
        e = self._coarse(level, self.R[level] @ (r - a @ x))
        x += self.weight * (self.P[level] @ e)
        gauss_seidel(a, x, r, iterations=self.sweeps, sweep="backward")
        return x


class PyamgCycle:
    """The shipped cycle (RugeStubenPreconditioner.__call__) on any pyamg hierarchy."""

    def __init__(self, hierarchy, scale, dtype=np.float32):
        from netsolve.solvers import RugeStubenPreconditioner, _csr_as

        for level in hierarchy.levels:
            for name in ("A", "P", "R"):
                if hasattr(level, name):
                    setattr(level, name, _csr_as(getattr(level, name), dtype,
                                                 scale if name == "A" else 1.0))
        self.inner = RugeStubenPreconditioner.__new__(RugeStubenPreconditioner)
        self.inner.dtype, self.inner.scale = dtype, 1.0
        self.inner.hierarchy, self.inner.levels = hierarchy, hierarchy.levels
        self.inner._coarse_inverse = symmetric_pinv(hierarchy.levels[-1].A)
        self.scale = scale

    def __matmul__(self, residual):
        return self.inner(residual) * self.scale


def _smoothers():
    return {"presmoother": ("gauss_seidel", {"sweep": "forward"}),
            "postsmoother": ("gauss_seidel", {"sweep": "backward"}),
            "max_coarse": MAX_COARSE, "keep": False}


def geometric_aggregates(corner, levels):
    """Predefined aggregation for the first ``levels`` levels: (AggOp, Cnodes) per level, the
    root of every aggregate its first unknown."""
    out = []
    for _ in range(levels):
        aggregate, corner_next = box_aggregates(corner)
        n_coarse = len(corner_next)
        agg_op = aggregate_operator(aggregate, n_coarse)
        roots = np.full(n_coarse, -1, dtype=np.int64)
        roots[aggregate[::-1]] = np.arange(len(aggregate))[::-1]  # first unknown wins
        out.append((agg_op, roots, corner_next))
        corner = corner_next
    return out


def rootnode_geo(matrix, corner, strength0=("classical", {"theta": 0.25}), geo_levels=1,
                 degree=1, maxiter=2):
    import pyamg

    scale = 1.0 / float(matrix.diagonal().max())
    a = sp.csr_matrix(matrix * scale)
    predefined = geometric_aggregates(corner, geo_levels)
    aggregate = [("predefined", {"AggOp": agg, "Cnodes": roots}) for agg, roots, _ in predefined]
    aggregate.append("standard")
    strength = [strength0] * geo_levels + [("classical", {"theta": 0.25})]
    ml = pyamg.rootnode_solver(
        a, strength=strength, aggregate=aggregate,
        smooth=("energy", {"degree": degree, "maxiter": maxiter, "weighting": "diagonal"}),
        improve_candidates=None, **_smoothers())
    return PyamgCycle(ml, scale)


def smoothed_geo(matrix, corner):
    import pyamg

    scale = 1.0 / float(matrix.diagonal().max())
    a = sp.csr_matrix(matrix * scale)
    aggregate = []
    n, c = a.shape[0], corner
    while n > MAX_COARSE:
        agg, roots, c = geometric_aggregates(c, 1)[0]
        aggregate.append(("predefined", {"AggOp": agg}))
        n = agg.shape[1]
    ml = pyamg.smoothed_aggregation_solver(
        a, strength=None, aggregate=aggregate, max_levels=len(aggregate) + 1,
        smooth=("jacobi", {"omega": 4.0 / 3.0}),
        improve_candidates=None, **_smoothers())
    return PyamgCycle(ml, scale)


def shipped(matrix, corner):
    from netsolve.solvers import RugeStubenPreconditioner

    pre = RugeStubenPreconditioner(matrix, np.float32, "classical", "rootnode")
    return pre.operator(matrix.shape[0])


class BoxThenRootnode:
    """Two levels: Gauss-Seidel + box aggregation (copies and 2x2(x2) corners), then one
    root-node AMG V-cycle (the shipped one) on the aggregated operator."""

    def __init__(self, matrix, corner, weight=1.0, box=(2, 2)):
        from netsolve.multigrid.fem import box_level, galerkin
        from netsolve.solvers import RugeStubenPreconditioner

        self.weight = weight
        # box (bx, by): corners per box along each axis (1 x 1: only the copies are joined)
        scaled = corner // np.array(box) * 2
        self.aggregate, coords = box_level(scaled)
        self.a = sp.csr_matrix(matrix, dtype=np.float32)
        coarse = galerkin(sp.csr_matrix(matrix), self.aggregate, coords)
        self.n_coarse = coarse.shape[0]
        self.coarse = RugeStubenPreconditioner(coarse, np.float32, "classical", "rootnode")

    def __matmul__(self, residual):
        from pyamg.relaxation.relaxation import gauss_seidel

        r = residual.astype(np.float32)
        x = np.zeros_like(r)
        gauss_seidel(self.a, x, r, sweep="forward")
        rc = np.bincount(self.aggregate, (residual - self.a @ x).astype(np.float64),
                         self.n_coarse)
        x += np.float32(self.weight) * self.coarse(rc).astype(np.float32)[self.aggregate]
        gauss_seidel(self.a, x, r, sweep="backward")
        return x.astype(np.float64)


def corner_multigrid(**kwargs):
    def build(matrix, corner):
        from netsolve.multigrid.fem import CornerMultigrid

        return CornerMultigrid(matrix, corner, **kwargs).operator(matrix.shape[0])
    return build


CANDIDATES = {
    "rootnode": shipped,
    "box+rn": BoxThenRootnode,
    "box+rn-w1.4": lambda a, c: BoxThenRootnode(a, c, 1.4),
    "copies+rn": lambda a, c: BoxThenRootnode(a, c, 1.0, (1, 1)),
    "pairs+rn": lambda a, c: BoxThenRootnode(a, c, 1.0, (2, 1)),
    "gmg": corner_multigrid(),
    "gmg-w1.3": corner_multigrid(weight=1.3),
    "gmg-w1.6": corner_multigrid(weight=1.6),
    "gmg-sgs2": corner_multigrid(sweeps=2),
    "gmg-rn": corner_multigrid(algebraic_below=True),
    "box": lambda a, c: BoxMultigrid(a, c),
    "box-sgs2": lambda a, c: BoxMultigrid(a, c, sweeps=2),
    "box-w1.5": lambda a, c: BoxMultigrid(a, c, weight=1.5),
    "box-w2": lambda a, c: BoxMultigrid(a, c, weight=2.0),
    "box-w1.3": lambda a, c: BoxMultigrid(a, c, weight=1.3),
    "box-K1.3": lambda a, c: BoxMultigrid(a, c, weight=1.3, cycle="K"),
    "box-W": lambda a, c: BoxMultigrid(a, c, weight=1.3, cycle="W"),
    "box-K": lambda a, c: BoxMultigrid(a, c, weight=1.0, cycle="K"),
    "rn-geo": rootnode_geo,
    "rn-geo-sym": lambda a, c: rootnode_geo(a, c, ("symmetric", {"theta": 0.0})),
    "rn-geo2": lambda a, c: rootnode_geo(a, c, geo_levels=2),
    "sa-geo": smoothed_geo,
}


# --------------------------------------------------------------------------- measurement


def fcg(a, b, precond, rtol, maxiter):
    """Flexible CG (Polak-Ribiere beta): for the nonlinear K-cycle."""
    x = np.zeros_like(b)
    r = b.copy()
    b_norm = float(np.linalg.norm(b))
    p = z_old = r_old = None
    its = 0
    while its < maxiter and np.linalg.norm(r) > rtol * b_norm:
        z = np.asarray(precond @ r, dtype=np.float64)
        if p is None:
            p = z.copy()
        else:
            beta = float(z @ (r - r_old)) / float(z_old @ r_old)
            p = z + beta * p
        q = a @ p
        alpha = float(p @ r) / float(p @ q)
        z_old, r_old = z, r.copy()
        x += alpha * p
        r -= alpha * q
        its += 1
    return x, its, float(np.linalg.norm(b - a @ x) / b_norm)


def measure(name: str, data: dict) -> dict:
    from netsolve.stopping import pcg

    a, b = data["matrix"], data["rhs"]
    c0 = time.process_time()
    precond = CANDIDATES[name](a, data["corner"])
    c1 = time.process_time()
    solver = fcg if "-K" in name else pcg
    x, its, residual = solver(a, b, precond, RTOL, MAXITER)
    c2 = time.process_time()
    return {"setup": c1 - c0, "iterations": its, "cg": c2 - c1, "total": c2 - c0,
            "residual": residual}


def main() -> int:
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+",
                        default=["lamella512", "lamella1024", "grains64", "porous64"])
    parser.add_argument("--candidates", nargs="+", default=["rootnode", "gmg", "gmg-rn"])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"{'case':>12} {'unknowns':>9} {'candidate':>11} {'setup s':>8} {'iters':>6} "
          f"{'CG s':>7} {'total s':>8} {'residual':>9}  load", flush=True)
    with threadpool_limits(limits=1, user_api="blas"):
        for case in args.cases:
            data = extract(case)
            runs = {c: [] for c in args.candidates}
            for _ in range(args.repeats):
                for cand in args.candidates:  # alternating, so load changes hit every one
                    runs[cand].append(measure(cand, data))
            for cand, results in runs.items():
                r = {k: statistics.median(x[k] for x in results) for k in results[0]}
                print(f"{case:>12} {data['matrix'].shape[0]:>9} {cand:>11} {r['setup']:>8.2f} "
                      f"{r['iterations']:>6.0f} {r['cg']:>7.2f} {r['total']:>8.2f} "
                      f"{r['residual']:>9.1e}  {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: preconditioners for the hybridized mixed (RT0) system (not a test).

    python validation/bench_mixed_solver.py extract DIR [--size 1024] [--no-tree]
    python validation/bench_mixed_solver.py run DIR [--systems lamella tree q1 ...]
                                            [--candidates rootnode schwarz ...] [--repeats 3]

``extract`` writes the linear systems to DIR (``.npz``, the reduced matrix the solve stage
hands to the solver, its right-hand side, the solve's initial guess and the unknowns of every
cell, for cell-block smoothers):
- ``lamella``: the voxel mixed operator of the ``bench_solve.py`` Voronoi polycrystal at
  SIZE^2 (1000:1 grains, GB resistors, 2 % ZrO2);
- ``tree`` / ``tree_q1``: the tree mixed and tree Q1 systems of ``cases/ding2023_full.toml``
  after one refinement step of the certified solve (warm starts as the loop gives them);
- ``q1``: the voxel Q1 system of the same polycrystal.

``run`` solves each system with each candidate to rtol 1e-10 (CG in float64, one V-cycle
per iteration, levels in float32, BLAS on one thread) and prints setup s, iterations, solve s
and process CPU s (medians over the repeats) and the load average.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

RTOL = 1e-10


def _active(op, case):
    from netsolve.solve import check_connectivity, network_matrix

    matrix = network_matrix(op)
    floating = check_connectivity(op, case.electrodes, case.label, matrix)
    index = np.full(op.n_nodes, -1, dtype=np.int64)
    active = np.flatnonzero(~floating)
    index[active] = np.arange(len(active))
    return index


def _cells(unknown_of_dof, dofs_per_cell, index):
    """Unknowns (active numbering) of every cell: CSR-like (subdomain, subdomain_ptr)."""
    dofs = np.asarray(dofs_per_cell).reshape(len(dofs_per_cell), -1)
    unknown = np.where(dofs >= 0, unknown_of_dof[np.maximum(dofs, 0)], -1)
    unknown = np.where(unknown >= 0, index[np.maximum(unknown, 0)], -1)
    unknown.sort(axis=1)
    keep = unknown >= 0
    # duplicates (a tree side with one segment listed twice) kept once
    keep[:, 1:] &= unknown[:, 1:] != unknown[:, :-1]
    counts = keep.sum(axis=1)
    counts_nonzero = counts > 0
    ptr = np.concatenate([[0], np.cumsum(counts[counts_nonzero])])
    return unknown[counts_nonzero][keep[counts_nonzero]].astype(np.int32), ptr.astype(np.int32)


class _Recorder:
    """Records the systems solve_network hands to the linear solver."""

    def __init__(self):
        import importlib

        solve_module = importlib.import_module("netsolve.solve")  # netsolve.solve: a function
        self.module, self.calls = solve_module, []
        self.original = solve_module.linear_solve

    def __enter__(self):
        def record(matrix, rhs, method, rtol, maxiter, ndim=2, origin="case",
                   amg_hierarchy="classical", warm=None, grid=None, balance=None):
            x0 = None if warm is None or warm.x0 is None else np.array(warm.x0)
            self.calls.append((matrix.copy(), rhs.copy(), x0))
            return self.original(matrix, rhs, method, rtol, maxiter, ndim, origin,
                                 amg_hierarchy, warm, grid, balance)
        self.module.linear_solve = record
        return self

    def __exit__(self, *exc):
        self.module.linear_solve = self.original


def _save(path, matrix, rhs, x0=None, sub=None, ptr=None):
    extra = {} if sub is None else {"subdomain": sub, "subdomain_ptr": ptr}
    np.savez(path, data=matrix.data, indices=matrix.indices, indptr=matrix.indptr,
             shape=matrix.shape, rhs=rhs, x0=np.zeros_like(rhs) if x0 is None else x0, **extra)
    print(f"{path.name}: {matrix.shape[0]} unknowns, {matrix.nnz} entries", flush=True)


def extract(out: Path, size: int, with_tree: bool = True) -> None:
    import netsolve
    from netsolve.discretization import build_operator
    from netsolve.microstructure import build_microstructure
    from netsolve.properties import compute_properties
    from netsolve.solve import solve_network

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_solve import case_dict

    out.mkdir(parents=True, exist_ok=True)
    case = netsolve.case_from_dict(case_dict((size, size), "amg", RTOL, "mixed"))
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    for kind in ("mixed", "fem"):
        op = build_operator(case, micro, props, kind)
        index = _active(op, case)
        with _Recorder() as rec:
            solve_network(op, case.electrodes, case.solver, case.label)
        matrix, rhs, _ = rec.calls[0]
        if kind == "mixed":
            sub, ptr = _cells(op.dof_unknown, op.cell_dofs, index)
            _save(out / "lamella.npz", matrix, rhs, None, sub, ptr)
        else:
            _save(out / "q1.npz", matrix, rhs)
        del op
    if not with_tree:
        return

    from netsolve.case import default_refine_budget
    from netsolve.certify import certify
    from netsolve.certify.adaptive import BULK, MAX_DEPTH, next_tree, voxel_corner_potential
    from netsolve.certify.adaptive import solve_tree
    from netsolve.certify.quadtree import root_tree

    case = netsolve.load_case(Path(__file__).parents[1] / "cases" / "ding2023_full.toml")
    micro = build_microstructure(case)
    props = compute_properties(micro, case.materials)
    solved = {}
    for kind in ("fem", "mixed"):
        op = build_operator(case, micro, props, kind)
        sol = solve_network(op, case.electrodes, case.solver, case.label)
        solved[kind] = (op, sol, op.fields(sol, props, micro.electrode_index))
    (q_op, q_sol, q_f), (m_op, m_sol, m_f) = solved["fem"], solved["mixed"]
    cert = certify(case.electrodes, q_op, q_sol, q_f.joule_power_W, m_op, m_sol,
                   m_f.joule_power_W)
    budget = case.solver.refine_max_cells or default_refine_budget(int(micro.conducting.sum()))
    tree = root_tree(micro.conducting)
    eta = cert.indicator_W[micro.conducting]
    finer, _ = next_tree(tree, np.nan_to_num(eta), budget, BULK, MAX_DEPTH)
    import netsolve.certify.tree_mixed as tm

    built = {}
    original_build = tm.build_tree_mixed

    def keep(*args, **kwargs):
        built["op"] = original_build(*args, **kwargs)
        return built["op"]
    adaptive = importlib.import_module("netsolve.certify.adaptive")
    adaptive.build_tree_mixed = keep
    with _Recorder() as rec:
        solve_tree(case, micro, props, finer, with_fields=False,
                   guess=(tree, voxel_corner_potential(q_op, q_sol)))
    adaptive.build_tree_mixed = original_build
    (q_matrix, q_rhs, q_x0), (t_matrix, t_rhs, t_x0) = rec.calls[:2]
    op = built["op"]
    sub, ptr = _cells(op.dof_unknown, op.leaf_dofs, _active(op, case))
    _save(out / "tree_q1.npz", q_matrix, q_rhs, q_x0)
    _save(out / "tree.npz", t_matrix, t_rhs, t_x0, sub, ptr)


def load(path: Path):
    z = np.load(path)
    matrix = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    cells = (z["subdomain"], z["subdomain_ptr"]) if "subdomain" in z else None
    return matrix, z["rhs"], z["x0"], cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["extract", "run"])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--no-tree", action="store_true",
                        help="extract: only the polycrystal's systems (not ding2023_full)")
    parser.add_argument("--systems", nargs="+", default=["lamella", "tree", "tree_q1", "q1"])
    parser.add_argument("--candidates", nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.action == "extract":
        extract(args.dir, args.size, not args.no_tree)
        return 0
    from bench_mixed_candidates import CANDIDATES, run_candidate

    names = args.candidates or list(CANDIDATES)
    print(f"load average at start: {os.getloadavg()}")
    print(f"{'system':8s} {'candidate':22s} {'n':>9s} {'setup s':>8s} {'its':>5s} "
          f"{'solve s':>8s} {'cpu s':>7s} {'residual':>9s}  load")
    for system in args.systems:
        matrix, rhs, x0, cells = load(args.dir / f"{system}.npz")
        for name in names:
            rows = []
            for _ in range(args.repeats):
                try:
                    rows.append(run_candidate(name, matrix, rhs, x0, cells, RTOL))
                except Exception as exc:  # a candidate that cannot run here: say why, go on
                    print(f"{system:8s} {name:22s} failed: {type(exc).__name__}: {exc}")
                    break
            if not rows:
                continue
            med = [statistics.median(r[i] for r in rows) for i in range(4)]
            print(f"{system:8s} {name:22s} {matrix.shape[0]:9d} {med[0]:8.2f} {med[1]:5.0f} "
                  f"{med[2]:8.2f} {med[3]:7.2f} {max(r[4] for r in rows):9.1e}  "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
